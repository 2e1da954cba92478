"""The queue's index on a generated `active` column instead of `state`, and room on each page.

A claim (pending → sending) changed `state`, which the queue's index held, so PostgreSQL wrote
the row anew with an entry in every index of the table: a batch's claim cost as much as its
record. Now it changes no indexed value; with free room on the row's page (fillfactor) the row
is updated in place (a HOT update). Only leaving the queue (sent, failed, cancelled) still
touches the indexes, once.
"""

from django.db import migrations, models

FILLFACTOR = 60


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0009_merge_outbox_indexes_and_page_acks"),
    ]

    operations = [
        # Before the column: adding a stored generated column rewrites the table, which then
        # leaves the room on each page.
        migrations.RunSQL(
            f"ALTER TABLE notifications_notification SET (fillfactor = {FILLFACTOR})",
            "ALTER TABLE notifications_notification RESET (fillfactor)",
        ),
        migrations.RemoveIndex(
            model_name="notification",
            name="notification_active_idx",
        ),
        migrations.AddField(
            model_name="notification",
            name="active",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Q(("state__in", ["pending", "held", "sending"])),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("active", True)),
                fields=["deliver_after"],
                name="notification_due_idx",
            ),
        ),
    ]
