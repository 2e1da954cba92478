"""Impact reads a project's name and slug from its closure rows instead of joining ten thousand
rows to the projects (half of a root system's impact query): the columns, filled from the
projects, and a trigger that keeps them when a project is renamed, by whatever path (services,
admin, imports, SQL)."""

from django.db import migrations, models

TRIGGER = """
CREATE FUNCTION registry_project_reach_names() RETURNS trigger AS $$
BEGIN
    UPDATE registry_projectreach
    SET project_name = NEW.name, project_slug = NEW.slug
    WHERE project_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER registry_project_reach_names
AFTER UPDATE OF name, slug ON registry_project
FOR EACH ROW
WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.slug IS DISTINCT FROM NEW.slug)
EXECUTE FUNCTION registry_project_reach_names();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS registry_project_reach_names ON registry_project;
DROP FUNCTION IF EXISTS registry_project_reach_names();
"""

FILL = """
UPDATE registry_projectreach r SET project_name = p.name, project_slug = p.slug
FROM registry_project p WHERE p.id = r.project_id
"""


class Migration(migrations.Migration):
    dependencies = [("registry", "0013_merge_leavers_and_team_leads")]

    operations = [
        migrations.AddField(
            model_name="projectreach",
            name="project_name",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="projectreach",
            name="project_slug",
            field=models.CharField(default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGER, DROP_TRIGGER),
    ]
