"""Half of each page of the notification table left free (fillfactor 50, was 60).

A fan-out writes its rows with COPY, filled to the fillfactor, and each is then updated twice
in place (claim, then record as sent) if its page has room for the new version: the batch's
claim updates the rows of a page together, before any old version can be pruned. At 60 % a page
of ~1.2 kB rows had room for some of them: the rest moved to another page with an entry in each
of the table's 14 indexes. Measured on the benchmark's 2,920 fresh page rows (a claim and a
record per batch of 32, each committed, as a worker does), PostgreSQL's time a row went from
59 µs (claim 28, record 31) to 51 (23 and 28); at 40 % no faster. The table takes about a fifth
more pages for the same rows.
"""

from django.db import migrations

FILLFACTOR = 50


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0011_queue_of_its_own"),
    ]

    operations = [
        # Pages written from now on; the rows already stored keep theirs until rewritten.
        migrations.RunSQL(
            f"ALTER TABLE notifications_notification SET (fillfactor = {FILLFACTOR})",
            "ALTER TABLE notifications_notification SET (fillfactor = 60)",
        ),
    ]
