"""The audit trail names an object by its model's label: entries written for webhook endpoints
before they moved here say `notifications.webhookendpoint`. Carry them over, so an endpoint's
history stays one (as `oncall` does for the on-call models)."""

from django.db import migrations


def _relabel(apps, schema_editor, *, old: str, new: str) -> None:
    AuditEntry = apps.get_model("registry", "AuditEntry")
    AuditEntry.objects.using(schema_editor.connection.alias).filter(
        object_type=f"{old}.webhookendpoint"
    ).update(object_type=f"{new}.webhookendpoint")


def to_webhooks(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, old="notifications", new="webhooks")


def to_notifications(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, old="webhooks", new="notifications")


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("registry", "0003_move_oncall_to_oncall"),
    ]

    operations = [migrations.RunPython(to_webhooks, to_notifications)]
