"""Impact of an outage: `impacted_projects_for` (one recursive CTE) against a per-level ORM loop.

On the synthetic registry (10,000 projects, 2,000 IT systems, 60,000 edges), for a root system (a
datacenter, which touches nearly every project) and a leaf (an application service): the median
of 15 timed runs after 2 warm-ups, beside the same traversal written the way one would without
the CTE (per level: the systems that depend on the frontier, then the projects that depend on
it). Both must return the same projects. The target from the design: well under 100 ms for a
root on PostgreSQL.

The naive loop returns project ids only; the CTE also builds each project's shortest path and
whether it is hard all the way, so the comparison flatters the baseline.

    python -m bench.bench_impact
"""

from __future__ import annotations

from bench import django_setup, median_ms, row

RUNS = 15
WARMUPS = 2
TARGET_MS = 100.0


def naive_impacted_project_ids(system_ids: list[int]) -> set[int]:
    """Breadth-first, one level at a time, two ORM queries per level."""
    from registry.models import Dependency, Project

    seen = set(system_ids)
    frontier = set(system_ids)
    projects: set[int] = set()
    while frontier:
        projects.update(
            Project.objects.filter(dependencies__target_system_id__in=frontier)
            .distinct()
            .values_list("pk", flat=True)
        )
        dependents = set(
            Dependency.objects.filter(
                target_system_id__in=frontier, source_system__isnull=False
            ).values_list("source_system_id", flat=True)
        )
        frontier = dependents - seen
        seen |= frontier
    return projects


def _measure(label: str, system_id: int) -> list[dict]:
    from registry.selectors import impacted_projects_for

    cte_ids = {impacted.project_id for impacted in impacted_projects_for([system_id])}
    naive_ids = naive_impacted_project_ids([system_id])
    if cte_ids != naive_ids:
        raise AssertionError(
            f"{label}: the CTE and the naive loop disagree "
            f"({len(cte_ids - naive_ids)} only in the CTE, {len(naive_ids - cte_ids)} only naive)"
        )
    cte = median_ms(lambda: impacted_projects_for([system_id]), runs=RUNS, warmups=WARMUPS)
    naive = median_ms(lambda: naive_impacted_project_ids([system_id]), runs=RUNS, warmups=WARMUPS)
    note = f"median of {RUNS}; baseline: per-level ORM loop"
    if label == "root":
        verdict = "meets" if cte < TARGET_MS else "MISSES"
        note += f"; {verdict} the {TARGET_MS:.0f} ms target"
    return [
        row(
            f"impact {label} (system {system_id}), CTE",
            cte,
            "ms",
            baseline=naive,
            ratio=naive / cte,
            note=note,
        ),
        row(f"impact {label}, projects touched", len(cte_ids), "projects"),
    ]


def run() -> list[dict]:
    django_setup()
    from bench import synthetic

    registry = synthetic.ensure()
    rows = [
        row(
            "synthetic registry",
            registry.edge_count,
            "edges",
            note=(
                f"{len(registry.project_ids)} projects, {registry.system_count} systems"
                + (
                    f", built in {registry.build_seconds:.1f} s"
                    if registry.build_seconds
                    else ", reused"
                )
            ),
        )
    ]
    rows += _measure("root", registry.root_system_ids[0])
    rows += _measure("leaf", registry.leaf_system_id)
    return rows


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
