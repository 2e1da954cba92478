"""WebhookEndpoint moves here from notifications; its table (notifications_webhookendpoint) and
its rows stay where they are. State only, and the content type follows the model so that its
permissions keep pointing at it."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import webhooks.models

MOVED = ["webhookendpoint"]


def content_types_follow(apps, schema_editor, old="notifications", new="webhooks"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if ContentType.objects.filter(app_label=new, model=model).exists():
            continue
        ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def content_types_go_back(apps, schema_editor):
    content_types_follow(apps, schema_editor, old="webhooks", new="notifications")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("notifications", "0004_webhook_endpoints"),
        ("registry", "0002_oncall"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookEndpoint",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "url",
                            models.URLField(
                                max_length=500,
                                validators=[
                                    django.core.validators.URLValidator(schemes=["http", "https"])
                                ],
                            ),
                        ),
                        ("description", models.CharField(blank=True, max_length=200)),
                        (
                            "events",
                            models.JSONField(
                                blank=True, default=list, help_text="Event types; empty: all."
                            ),
                        ),
                        (
                            "secret",
                            models.CharField(
                                default=webhooks.models.new_webhook_secret, max_length=100
                            ),
                        ),
                        ("is_active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="webhooks",
                                to="registry.project",
                            ),
                        ),
                        (
                            "system",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="webhooks",
                                to="registry.itsystem",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "notifications_webhookendpoint",
                        "ordering": ["id"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("project__isnull", False), ("system__isnull", True)),
                                    models.Q(("project__isnull", True), ("system__isnull", False)),
                                    _connector="OR",
                                ),
                                name="webhook_endpoint_exactly_one_owner",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_follow, content_types_go_back),
    ]
