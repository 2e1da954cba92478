"""The queue in a table of its own (`notifications.models.Due`), kept by triggers, and the attempt
that went through kept on the notification's row.

Recording a send took the row out of the queue's partial index (its `active` changed), so
PostgreSQL wrote the row anew with an entry in each of the table's indexes, and the send's
DeliveryAttempt row was one more row with indexes and a foreign-key check: most of the
database's time per message of a fan-out. Now no index of the notification table holds a value
a delivery changes, so a send's record is an update in place (HOT) and nothing else; the
queue's own row is added and dropped by the triggers below, in the statement that changes a
notification's state, whatever wrote it (services, the admin, SQL).

Inserts, deletes and truncation are handled a statement at a time (a fan-out writes thousands of rows in one
INSERT); an update only when it moves a row into or out of the queue, or moves when it is due.
"""

import django.db.models.deletion
from django.db import migrations, models

TRIGGERS = """
CREATE FUNCTION notifications_due_added() RETURNS trigger AS $$
BEGIN
    INSERT INTO notifications_due (notification_id, deliver_after)
    SELECT id, deliver_after FROM added WHERE active;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION notifications_due_changed() RETURNS trigger AS $$
BEGIN
    IF NEW.active THEN
        INSERT INTO notifications_due (notification_id, deliver_after)
        VALUES (NEW.id, NEW.deliver_after)
        ON CONFLICT (notification_id) DO UPDATE SET deliver_after = EXCLUDED.deliver_after;
    ELSE
        DELETE FROM notifications_due WHERE notification_id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION notifications_due_removed() RETURNS trigger AS $$
BEGIN
    DELETE FROM notifications_due d USING removed r
    WHERE d.notification_id = r.id AND r.active;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

-- TRUNCATE fires no DELETE trigger (the benchmark's registry, a CASCADE from another table).
-- A DELETE, not a TRUNCATE: a TRUNCATE of both tables at once (Django's flush) still has the
-- queue open when this runs, and PostgreSQL refuses to truncate it again.
CREATE FUNCTION notifications_due_emptied() RETURNS trigger AS $$
BEGIN
    DELETE FROM notifications_due;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER notifications_due_added AFTER INSERT ON notifications_notification
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION notifications_due_added();

CREATE TRIGGER notifications_due_changed AFTER UPDATE OF state, deliver_after
ON notifications_notification
FOR EACH ROW WHEN (
    OLD.active IS DISTINCT FROM NEW.active
    OR NEW.active AND OLD.deliver_after IS DISTINCT FROM NEW.deliver_after
)
EXECUTE FUNCTION notifications_due_changed();

CREATE TRIGGER notifications_due_removed AFTER DELETE ON notifications_notification
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION notifications_due_removed();

CREATE TRIGGER notifications_due_emptied AFTER TRUNCATE ON notifications_notification
FOR EACH STATEMENT EXECUTE FUNCTION notifications_due_emptied();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS notifications_due_added ON notifications_notification;
DROP TRIGGER IF EXISTS notifications_due_changed ON notifications_notification;
DROP TRIGGER IF EXISTS notifications_due_removed ON notifications_notification;
DROP TRIGGER IF EXISTS notifications_due_emptied ON notifications_notification;
DROP FUNCTION IF EXISTS notifications_due_added();
DROP FUNCTION IF EXISTS notifications_due_changed();
DROP FUNCTION IF EXISTS notifications_due_removed();
DROP FUNCTION IF EXISTS notifications_due_emptied();
"""

FILL = """
INSERT INTO notifications_due (notification_id, deliver_after)
SELECT id, deliver_after FROM notifications_notification WHERE active
"""


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0010_queue_index_on_active'),
    ]

    operations = [
        migrations.CreateModel(
            name='Due',
            fields=[
                ('notification', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='due', serialize=False, to='notifications.notification')),
                ('deliver_after', models.DateTimeField()),
            ],
        ),
        migrations.AddIndex(
            model_name='due',
            index=models.Index(fields=['deliver_after'], name='notification_due_at_idx'),
        ),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.RemoveIndex(
            model_name='notification',
            name='notification_due_idx',
        ),
        migrations.AddField(
            model_name='notification',
            name='sent_latency_ms',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notification',
            name='sent_status_code',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
