"""Registry hygiene's lists over the synthetic registry (10,000 projects at scale 1.0, each with
1–3 people and, from `bench.bench_oncall`, a rotation): what IT's page computes (every list's
count and its first 50 rows) and the whole of each list as its CSV.

A third of the projects are given a review date 400 days back here (once), so the stale list has
rows. The baseline is a bare SQL read of the rows the lists are made of (every project's roles
with their people and accounts, and every rotation member with theirs) into tuples, without any
list computed: the ratio says what the lists cost over just reading their material.

    python -m bench.bench_hygiene
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench import django_setup, median_ms, row

RUNS = 5
WARMUPS = 1

_BARE_SQL = """
SELECT r.project_id, r.role, p.id, p.time_zone, u.is_active
FROM registry_projectrole r
JOIN registry_person p ON p.id = r.person_id
JOIN auth_user u ON u.id = p.user_id
UNION ALL
SELECT rot.project_id, 'rotation', p.id, p.time_zone, u.is_active
FROM registry_rotationmember m
JOIN registry_rotationlayer l ON l.id = m.layer_id
JOIN registry_rotation rot ON rot.id = l.rotation_id
JOIN registry_person p ON p.id = m.person_id
JOIN auth_user u ON u.id = p.user_id
WHERE rot.project_id IS NOT NULL
"""


def _bare_read() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_BARE_SQL)
        return len(cursor.fetchall())


def _stale_thirds(now: datetime) -> None:
    from django.db.models.functions import Mod

    from registry.models import Project

    long_ago = (now - timedelta(days=400)).date()
    Project.objects.annotate(third=Mod("id", 3)).filter(
        third=0, last_reviewed_on__isnull=True
    ).update(last_reviewed_on=long_ago)


def run() -> list[dict]:
    django_setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import synthetic
    from bench.bench_oncall import ensure_rotations
    from hygiene import selectors

    registry = synthetic.ensure()
    now = datetime.now(UTC).replace(microsecond=0)
    ensure_rotations(now)
    _stale_thirds(now)

    def page() -> list:
        return selectors.hygiene_report(at=now)

    def csvs() -> int:
        return sum(
            sum(1 for _ in selectors.hygiene_csv_rows(kind, at=now))
            for kind in selectors.CSV_COLUMNS
        )

    with CaptureQueriesContext(connection) as queries:
        report = page()
    counts = ", ".join(f"{item.kind} {item.count}" for item in report)
    ours = median_ms(page, runs=RUNS, warmups=WARMUPS)
    csv_ms = median_ms(csvs, runs=RUNS, warmups=WARMUPS)
    bare = median_ms(_bare_read, runs=RUNS, warmups=WARMUPS)
    note = f"median of {RUNS}; baseline: one bare SQL read of every role and rotation member"
    projects = len(registry.project_ids)
    return [
        row(
            f"hygiene page's lists, {projects} projects",
            ours,
            "ms",
            baseline=bare,
            ratio=bare / ours,
            note=f"{note}; {len(queries)} queries; {counts}",
        ),
        row(
            "hygiene: every list whole, as CSV rows",
            csv_ms,
            "ms",
            baseline=bare,
            ratio=bare / csv_ms,
            note=note,
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
