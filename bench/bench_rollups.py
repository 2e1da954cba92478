"""Service-level rollups at company scale: every project of the synthetic registry (10,000 at
scale 1.0) for one month, with a year of IT outages and project incidents behind it.

Added on top of `bench.synthetic` (and reused while the registry is the same): 730 outages over
the year before now (two a day), each touching 20 projects (half of them through hard
dependencies only), and 3,000 major or degraded incidents on random projects, with times to
acknowledge and resolve. The measured call is what the company's rollup page does: `rollup`
(the projects, then four queries for every project's events of the month) and the page rendered
from it. The baseline is the same month asked project by project with `service_level_for` (four
queries each), timed on 500 projects and scaled to all of them; both answers are compared on
those 500.

    python -m bench.bench_rollups
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta

from bench import django_setup, median_ms, row

RUNS = 5
WARMUPS = 1
MARKER = "bench rollups"
SAMPLE = 500


def ensure_history(now: datetime, seed: int = 11) -> tuple[int, int]:
    from django.db import transaction

    from changes.models import ImpactedProject
    from incidents.models import Incident, Outage
    from registry.models import Project

    if Outage.objects.filter(title=MARKER).exists():
        return Outage.objects.filter(title=MARKER).count(), Incident.objects.filter(
            title=MARKER
        ).count()
    rng = random.Random(seed)
    ids = list(Project.objects.values_list("id", flat=True))
    with transaction.atomic():
        outages = []
        for i in range(730):
            began = now - timedelta(days=365) + timedelta(hours=12 * i + rng.randint(0, 600) / 60)
            outages.append(
                Outage(
                    title=MARKER,
                    status="resolved",
                    started_at=began,
                    resolved_at=began + timedelta(minutes=rng.randint(5, 600)),
                )
            )
        Outage.objects.bulk_create(outages, batch_size=1000)
        ImpactedProject.objects.bulk_create(
            (
                ImpactedProject(outage=o, project_id=p, path=["DC"], all_hard=j % 2 == 0)
                for o in outages
                for j, p in enumerate(rng.sample(ids, 20))
            ),
            batch_size=5000,
        )
        incidents = []
        for _ in range(3000):
            began = now - timedelta(minutes=rng.randint(60, 365 * 24 * 60))
            incidents.append(
                Incident(
                    project_id=rng.choice(ids),
                    title=MARKER,
                    impact=rng.choice(["major", "degraded"]),
                    status="resolved",
                    started_at=began,
                    acknowledged_at=began + timedelta(minutes=rng.randint(1, 120)),
                    resolved_at=began + timedelta(minutes=rng.randint(121, 2000)),
                )
            )
        Incident.objects.bulk_create(incidents, batch_size=1000)
    return len(outages), len(incidents)


def run() -> list[dict]:
    django_setup()
    from django.db import connection, reset_queries
    from django.template.loader import render_to_string
    from django.test.utils import CaptureQueriesContext

    from bench import synthetic
    from incidents.rollups import rollup
    from incidents.service_levels import month_of, service_level_for
    from incidents.views.rollups import ROWS_SHOWN, _bars
    from registry.models import Project

    registry = synthetic.ensure()
    now = datetime.now(UTC).replace(microsecond=0)
    outages, incidents = ensure_history(now)
    # The last full month: a month with a month of events.
    year, month = month_of(now.replace(day=1) - timedelta(days=1))

    def ours() -> None:
        result = rollup(year=year, month=month, now=now)
        render_to_string(
            "portal/rollup.html",
            {
                "rollup": result,
                "month_text": f"{year}-{month:02d}",
                "band_bars": _bars(result.bands),
                "missed_bars": _bars(result.missed_by_measure),
                "shown": result.rows[:ROWS_SHOWN],
            },
        )

    sample = list(Project.objects.order_by("id")[:SAMPLE])

    def baseline_sample() -> None:
        for project in sample:
            service_level_for(project, year=year, month=month, now=now)

    # Same answers on the sample.
    by_project = {r.project.pk: r for r in rollup(year=year, month=month, now=now).rows}
    for project in sample[:100]:
        one = service_level_for(project, year=year, month=month, now=now)
        many = by_project[project.pk]
        if (one.down, one.ack_p90, one.resolve_p90) != (many.down, many.ack_p90, many.resolve_p90):
            raise AssertionError(f"rollup and service_level_for disagree on {project.slug}")
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        ours()
    ms = median_ms(ours, runs=RUNS, warmups=WARMUPS)
    # The process's own CPU time of one call: what the call costs on a machine shared with others
    # (wall time there includes waiting for a core).
    cpu_started = time.process_time()
    ours()
    cpu_ms = (time.process_time() - cpu_started) * 1000
    load = os.getloadavg()[0]
    sample_ms = median_ms(baseline_sample, runs=1, warmups=0)
    projects = len(registry.project_ids)
    baseline = sample_ms * projects / SAMPLE
    return [
        row(
            f"rollup: every project, one month ({projects} projects)",
            ms,
            "ms",
            baseline=baseline,
            ratio=baseline / ms,
            note=(
                f"median of {RUNS}, page rendered; {cpu_ms:,.0f} ms of this process's CPU; load "
                f"average {load:.1f}; {len(queries)} queries; {outages} outages and "
                f"{incidents} incidents over the year; baseline: service_level_for project by "
                f"project, {SAMPLE} timed and scaled; target 1 s"
            ),
        )
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
