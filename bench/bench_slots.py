"""The quietest slot: `changes.slots.quietest_slots` for a two-hour change on a root IT system of
the synthetic registry at scale 0.5 (5,000 projects, their owners in ten zones, projects' busy
hours in four patterns), over the default 14 days (336 candidate starts), beside the impact
computation alone (`impacted_projects_for`, which the search starts with) in the same run.

The target: under a second. The ratio reads "how many times the impact alone the search costs"
inverted (baseline / search, as every ratio here reads "better than the baseline"): the scoring
over every hour of the range should cost a small multiple of computing the impact once.

    python -m bench.bench_slots
"""

from __future__ import annotations

from bench import django_setup, median_ms, row

RUNS = 7
WARMUPS = 1
TARGET_MS = 1000.0


def run() -> list[dict]:
    django_setup()
    from bench import synthetic
    from changes.slots import quietest_slots
    from registry.models import ITSystem
    from registry.selectors import impacted_projects_for

    registry = synthetic.ensure(scale=0.5)
    root = ITSystem.objects.get(pk=registry.root_system_ids[0])
    touched = len(impacted_projects_for([root]))
    search = quietest_slots(systems=[root], duration_minutes=120)
    impact = median_ms(lambda: impacted_projects_for([root]), runs=RUNS, warmups=WARMUPS)
    slots = median_ms(
        lambda: quietest_slots(systems=[root], duration_minutes=120), runs=RUNS, warmups=WARMUPS
    )
    verdict = "meets" if slots < TARGET_MS else "MISSES"
    best = search.slots[0]
    return [
        row(
            "quietest slot, 14 days, root system",
            slots,
            "ms",
            baseline=impact,
            ratio=impact / slots,
            note=f"median of {RUNS}; baseline: the impact alone; {verdict} the "
            f"{TARGET_MS:.0f} ms target",
        ),
        row(
            "quietest slot, projects touched",
            touched,
            "projects",
            note=f"{search.people_count} people; best score {best.score} at "
            f"{best.start_at:%a %H:%M} UTC",
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
