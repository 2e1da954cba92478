"""Impact of an outage: `impacted_projects_for` (read from the closure tables) against a
per-level ORM loop, with the recursive search over the edges it replaced as a reference.

On the synthetic registry (10,000 projects, 2,000 IT systems, 60,000 edges), for a root system (a
datacenter, which touches nearly every project) and a leaf (an application service): the median
of 15 timed runs after 2 warm-ups of

- the closure (`impacted_projects_for`: two index-range queries, paths followed in memory),
- the recursive query over the edges (`_impacted_projects_sql`, what impact ran before),
- the same traversal written the way one would without either (per level: the systems that
  depend on the frontier, then the projects that depend on it): the baseline of the ratios.

The closure and the recursive query must return the same list, path for path; the loop the same
project ids. Targets (issue 16): root ≤ 15 ms and ≥ 5× the loop; leaf ≤ 2 ms.

The loop returns project ids only; the other two also give each project's shortest path and
whether it is hard all the way, so the comparison flatters the baseline.

What the closure costs is paid on writes: the last rows time adding and removing one edge
between systems through `dependency_add` / `dependency_remove` (closure kept in the same
transaction, rolled back after), low in the graph (many dependents) and high (few).

    python -m bench.bench_impact
"""

from __future__ import annotations

from bench import django_setup, median_ms, row

RUNS = 15
WARMUPS = 2
WRITE_RUNS = 5
ROOT_TARGET_MS = 15.0
LEAF_TARGET_MS = 2.0
ROOT_RATIO_TARGET = 5.0


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


def _measure(label: str, system_id: int, target_ms: float, target_ratio: float) -> list[dict]:
    from registry.selectors import _impacted_projects_sql, impacted_projects_for

    closure = impacted_projects_for([system_id])
    searched = _impacted_projects_sql([system_id])
    if closure != searched:
        raise AssertionError(f"{label}: the closure and the recursive search disagree")
    naive_ids = naive_impacted_project_ids([system_id])
    closure_ids = {impacted.project_id for impacted in closure}
    if closure_ids != naive_ids:
        raise AssertionError(
            f"{label}: the closure and the naive loop disagree "
            f"({len(closure_ids - naive_ids)} only in the closure, "
            f"{len(naive_ids - closure_ids)} only naive)"
        )
    fast = median_ms(lambda: impacted_projects_for([system_id]), runs=RUNS, warmups=WARMUPS)
    cte = median_ms(lambda: _impacted_projects_sql([system_id]), runs=RUNS, warmups=WARMUPS)
    naive = median_ms(lambda: naive_impacted_project_ids([system_id]), runs=RUNS, warmups=WARMUPS)
    ratio = naive / fast
    verdict = "meets" if fast <= target_ms and ratio >= target_ratio else "MISSES"
    target = f"≤ {target_ms:g} ms" + (f" and ≥ {target_ratio:g}× the loop" if target_ratio else "")
    return [
        row(
            f"impact {label} (system {system_id}), closure",
            fast,
            "ms",
            baseline=naive,
            ratio=ratio,
            note=(
                f"median of {RUNS}; baseline: per-level ORM loop; {verdict} the target ({target})"
            ),
        ),
        row(
            f"impact {label}, recursive query (before)",
            cte,
            "ms",
            baseline=naive,
            ratio=naive / cte,
            note=f"the closure is {cte / fast:.1f}× faster",
        ),
        row(f"impact {label}, projects touched", len(closure), "projects"),
    ]


def _edge_write_ms(source_id: int, target_id: int) -> float:
    """Add then remove the edge source → target through the services, rolled back."""
    from django.db import transaction

    from registry import services
    from registry.models import ITSystem

    source, target = ITSystem.objects.get(pk=source_id), ITSystem.objects.get(pk=target_id)

    class Rollback(Exception):
        pass

    def write() -> None:
        try:
            with transaction.atomic():
                edge = services.dependency_add(
                    actor=None, source_system=source, target_system=target
                )
                services.dependency_remove(actor=None, dependency=edge)
                raise Rollback
        except Rollback:
            pass

    return median_ms(write, runs=WRITE_RUNS, warmups=1)


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
                    f", built in {registry.build_seconds:.1f} s (closure included)"
                    if registry.build_seconds
                    else ", reused"
                )
            ),
        )
    ]
    rows += _measure("root", registry.root_system_ids[0], ROOT_TARGET_MS, ROOT_RATIO_TARGET)
    rows += _measure("leaf", registry.leaf_system_id, LEAF_TARGET_MS, 0)
    from registry.models import Dependency

    layers = registry.layer_system_ids

    def new_edge(source: int, targets: list[int]) -> tuple[int, int]:
        used = set(
            Dependency.objects.filter(source_system_id=source).values_list(
                "target_system_id", flat=True
            )
        )
        return source, next(t for t in targets if t not in used)

    # Low: a network system onto a datacenter it does not use yet (most systems above it are
    # touched). High: an application service onto a platform system.
    low = new_edge(layers[1][0], layers[0])
    high = new_edge(layers[-1][-1], layers[2])
    for label, (source, target) in (("low", low), ("high", high)):
        rows.append(
            row(
                f"edge add + remove, {label} in the graph",
                _edge_write_ms(source, target),
                "ms",
                note=f"system {source} → {target}, closure kept; median of {WRITE_RUNS}",
            )
        )
    return rows


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
