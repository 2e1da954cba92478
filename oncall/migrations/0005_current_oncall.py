"""Who is on call on each rotation, kept with the stretch of time the answer holds for
(`oncall.models.CurrentOnCall`), and the triggers that make a row stale whenever something its
answer depends on is written, by whatever path (services, the admin, imports, SQL): a row per
rotation is added with the rotation, and its `version` goes up when the rotation's layers, their
members or its overrides change, or the time off or leaving of anyone on it."""

import django.db.models.deletion
from django.db import migrations, models

# OLD and NEW are NULL where the operation has none (an INSERT's OLD, a DELETE's NEW), so each
# function serves inserts, updates and deletes alike.
TRIGGERS = """
CREATE FUNCTION oncall_current_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO oncall_currentoncall (rotation_id, version) VALUES (NEW.id, 0)
    ON CONFLICT (rotation_id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION oncall_current_stale_rotation() RETURNS trigger AS $$
BEGIN
    UPDATE oncall_currentoncall SET version = version + 1
    WHERE rotation_id IN (OLD.rotation_id, NEW.rotation_id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION oncall_current_stale_layer() RETURNS trigger AS $$
BEGIN
    UPDATE oncall_currentoncall SET version = version + 1
    WHERE rotation_id IN (
        SELECT rotation_id FROM registry_rotationlayer WHERE id IN (OLD.layer_id, NEW.layer_id)
    );
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- Every rotation the person is on: a member of one of its layers, or someone's override.
CREATE FUNCTION oncall_current_stale_person(person bigint) RETURNS void AS $$
    UPDATE oncall_currentoncall SET version = version + 1
    WHERE rotation_id IN (
        SELECT l.rotation_id FROM registry_rotationmember m
        JOIN registry_rotationlayer l ON l.id = m.layer_id
        WHERE m.person_id = person
        UNION
        SELECT o.rotation_id FROM registry_override o WHERE o.person_id = person
    );
$$ LANGUAGE sql;

CREATE FUNCTION oncall_current_stale_time_off() RETURNS trigger AS $$
BEGIN
    PERFORM oncall_current_stale_person(OLD.person_id);
    IF NEW.person_id IS DISTINCT FROM OLD.person_id THEN
        PERFORM oncall_current_stale_person(NEW.person_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION oncall_current_stale_leaver() RETURNS trigger AS $$
BEGIN
    PERFORM oncall_current_stale_person(NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER oncall_current_add AFTER INSERT ON registry_rotation
FOR EACH ROW EXECUTE FUNCTION oncall_current_add();

CREATE TRIGGER oncall_current_stale AFTER INSERT OR UPDATE OR DELETE ON registry_rotationlayer
FOR EACH ROW EXECUTE FUNCTION oncall_current_stale_rotation();

CREATE TRIGGER oncall_current_stale AFTER INSERT OR UPDATE OR DELETE ON registry_override
FOR EACH ROW EXECUTE FUNCTION oncall_current_stale_rotation();

CREATE TRIGGER oncall_current_stale AFTER INSERT OR UPDATE OR DELETE ON registry_rotationmember
FOR EACH ROW EXECUTE FUNCTION oncall_current_stale_layer();

CREATE TRIGGER oncall_current_stale AFTER INSERT OR UPDATE OR DELETE ON oncall_timeoff
FOR EACH ROW EXECUTE FUNCTION oncall_current_stale_time_off();

CREATE TRIGGER oncall_current_stale AFTER UPDATE OF deactivated_at ON registry_person
FOR EACH ROW WHEN (OLD.deactivated_at IS DISTINCT FROM NEW.deactivated_at)
EXECUTE FUNCTION oncall_current_stale_leaver();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS oncall_current_add ON registry_rotation;
DROP TRIGGER IF EXISTS oncall_current_stale ON registry_rotationlayer;
DROP TRIGGER IF EXISTS oncall_current_stale ON registry_override;
DROP TRIGGER IF EXISTS oncall_current_stale ON registry_rotationmember;
DROP TRIGGER IF EXISTS oncall_current_stale ON oncall_timeoff;
DROP TRIGGER IF EXISTS oncall_current_stale ON registry_person;
DROP FUNCTION IF EXISTS oncall_current_add();
DROP FUNCTION IF EXISTS oncall_current_stale_rotation();
DROP FUNCTION IF EXISTS oncall_current_stale_layer();
DROP FUNCTION IF EXISTS oncall_current_stale_time_off();
DROP FUNCTION IF EXISTS oncall_current_stale_leaver();
DROP FUNCTION IF EXISTS oncall_current_stale_person(bigint);
"""

FILL = "INSERT INTO oncall_currentoncall (rotation_id, version) SELECT id, 0 FROM registry_rotation"


class Migration(migrations.Migration):

    dependencies = [
        ('oncall', '0004_merge_swaps_time_off_and_system_rotations'),
        ('registry', '0015_search_upper_columns'),
    ]

    operations = [
        migrations.CreateModel(
            name='CurrentOnCall',
            fields=[
                ('rotation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='current', serialize=False, to='oncall.rotation')),
                ('version', models.BigIntegerField(default=0)),
                ('computed_version', models.BigIntegerField(null=True)),
                ('person_id', models.IntegerField(null=True)),
                ('layer_id', models.IntegerField(null=True)),
                ('override_id', models.IntegerField(null=True)),
                ('valid_from', models.DateTimeField(null=True)),
                ('valid_until', models.DateTimeField(null=True)),
            ],
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
    ]
