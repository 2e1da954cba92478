import secrets

from django.db import migrations, models

import registry.models


def give_each_project_a_key(apps, schema_editor):
    """One key per existing project: a column default would give them all the same one."""
    Project = apps.get_model("registry", "Project")
    for project in Project.objects.filter(integration_key__isnull=True).only("pk"):
        project.integration_key = secrets.token_hex(16)
        project.save(update_fields=["integration_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_merge_contact_kinds_and_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="integration_key",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.RunPython(give_each_project_a_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="project",
            name="integration_key",
            field=models.CharField(
                default=registry.models.new_integration_key, max_length=64, unique=True
            ),
        ),
    ]
