# A page's notification lists every page it covers (one message per person per event).

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("notifications", "0005_move_webhookendpoint_to_webhooks"),
        ("registry", "0003_move_oncall_to_oncall"),
        ("webhooks", "0002_audit_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="page",
            name="headline",
            field=models.CharField(
                blank=True,
                help_text="The event, in a message that lists several projects (else the subject).",
                max_length=200,
            ),
        ),
        migrations.AddField(
            model_name="notification",
            name="page_ids",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.BigIntegerField(),
                blank=True,
                default=list,
                help_text="Every page this message lists (a page's notification: at least `page`).",
                size=None,
            ),
        ),
        # A page's notification written before listed exactly its own page.
        migrations.RunSQL(
            "UPDATE notifications_notification SET page_ids = ARRAY[page_id] "
            "WHERE page_id IS NOT NULL",
            migrations.RunSQL.noop,
        ),
        migrations.AddIndex(
            model_name="notification",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=models.Q(("kind", "page")),
                fields=["page_ids"],
                name="notification_page_ids_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="notification",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "page"), _negated=True),
                    ("page_ids__len__gt", 0),
                    _connector="OR",
                ),
                name="notification_page_lists_pages",
            ),
        ),
    ]
