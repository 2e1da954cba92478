"""The dependency graph's transitive closure (`SystemReach`, `ProjectReach`), kept exact.

Impact reads these tables instead of walking the graph (see `selectors.impacted_projects_for`),
so they must say what a breadth-first search from each system would say, at every commit. Every
writer of `Dependency` rows, and every delete of an IT system, therefore calls, in the same
transaction and under `services.dependency_graph_lock()`:

    change = reach_affected(system_edges=[(source, target)], projects=[...], systems=[...])
    ...write the edges (or delete the systems)...
    reach_refresh(change)

`reach_affected` may run before or after an edge write (an edge source → target changes neither
what target depends on nor what depends on source, the graph being acyclic), but must run
before a system is deleted (its rows go with it). `reach_rebuild()` recomputes everything, for
bulk loads.

What an edge source → target can change: the rows of the systems that target reaches (target
itself and everything it depends on, `upstream`) for the systems that reach source (`downstream`),
and for the projects that depend on one of those. Each upstream system's rows are recomputed by
one breadth-first search in memory over the system edges (a few thousand), with the same
tie-breaks as the recursive query, and only the rows that differ are written; a project's rows
are recomputed in SQL from its own edges and the system rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from .models import Dependency

HARD = Dependency.Criticality.HARD


@dataclass(frozen=True)
class ReachChange:
    """Where a write touches the graph, and what the closure said around it before the write:
    the ends of the changed edges between systems, what their targets reached (`upstream`),
    what reached their sources (`downstream`) and the projects on those, and the projects whose
    own edges changed (`whole_projects`, every row of theirs is recomputed)."""

    targets: frozenset[int]
    sources: frozenset[int]
    upstream: frozenset[int]
    projects: frozenset[int]
    whole_projects: frozenset[int]


def reach_affected(
    *,
    system_edges: Iterable[tuple[int, int]] = (),
    projects: Iterable[int] = (),
    systems: Iterable[int] = (),
) -> ReachChange:
    """The rows that edges between systems (source, target), edges from `projects`, and the
    deletion of `systems` can change, as the closure says before the write. Caller holds the
    graph lock."""
    system_edges = list(system_edges)
    systems = list(systems)
    targets = sorted({target for _source, target in system_edges} | set(systems))
    sources = sorted({source for source, _target in system_edges} | set(systems))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT system_id FROM registry_systemreach WHERE dependent_id = ANY(%s)", [targets]
        )
        upstream = frozenset(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT dependent_id FROM registry_systemreach WHERE system_id = ANY(%s)", [sources]
        )
        downstream = {row[0] for row in cursor.fetchall()} | set(sources)
    return ReachChange(
        frozenset(targets),
        frozenset(sources),
        upstream,
        frozenset(_projects_on(downstream)),
        frozenset(projects),
    )


def reach_affected_by_edges(edges: Iterable[Dependency]) -> ReachChange:
    """`reach_affected` for these edges (as written, or before their removal)."""
    edges = list(edges)
    return reach_affected(
        system_edges=[
            (e.source_system_id, e.target_system_id) for e in edges if e.source_system_id
        ],
        projects=[e.source_project_id for e in edges if e.source_project_id],
    )


def reach_refresh(change: ReachChange) -> None:
    """Bring the rows `change` names up to date with the edges as they now are. Caller holds the
    graph lock, in the transaction that wrote the edges.

    The systems and projects around the changed edges are those the closure named before the
    write and those the edges name now: after several edges change at once, a path may run
    through more than one of them.
    """
    # The same statements whatever changed (some with nothing to do), so that a bulk write such
    # as an import takes a fixed number of queries.
    _write_project_rows(projects=sorted(change.whole_projects))
    dependents = _dependents(needed=bool(change.targets))
    depends_on: dict[int, list[int]] = {}
    for target, sources in dependents.items():
        for source, _hard in sources:
            depends_on.setdefault(source, []).append(target)
    upstream = change.upstream | _walk(change.targets, depends_on)
    downstream = _walk(change.sources, {t: [s for s, _h in ss] for t, ss in dependents.items()})
    _write_system_rows(upstream, {system: _search(system, dependents) for system in upstream})
    projects = sorted((change.projects | _projects_on(downstream)) - change.whole_projects)
    _write_project_rows(projects=projects, systems=sorted(upstream))


def _walk(start: Iterable[int], edges: dict[int, list[int]]) -> frozenset[int]:
    seen = set(start)
    stack = list(seen)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return frozenset(seen)


def _projects_on(systems: Iterable[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT source_project_id FROM registry_dependency"
            " WHERE source_project_id IS NOT NULL AND target_system_id = ANY(%s)",
            [sorted(systems)],
        )
        return {row[0] for row in cursor.fetchall()}


def reach_rebuild() -> None:
    """Recompute both tables from the edges: after a bulk load, and in the data migration."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_projectreach")
        cursor.execute(
            "SELECT DISTINCT target_system_id FROM registry_dependency"
            " WHERE source_system_id IS NOT NULL"
        )
        systems = {row[0] for row in cursor.fetchall()}
        cursor.execute("DELETE FROM registry_systemreach")
    dependents = _dependents()
    _write_system_rows(
        systems, {system: _search(system, dependents) for system in systems}, existing={}
    )
    _write_project_rows()


# A project's ways into a system: through each of its edges, to the edge's target itself
# (depth 0) and to everything the target depends on. The best per (system, project) by the
# ranking impact uses: shortest, then hard, then the lowest entry id; with the project's name and
# slug, which impact shows (a trigger keeps them on rename). Only the rows that differ are
# written: a change low in the graph recomputes thousands of projects' rows, few of which change.
_PROJECT_ROWS = """
WITH fresh AS (
    SELECT DISTINCT ON (way.system_id, d.source_project_id)
           way.system_id, d.source_project_id AS project_id, way.depth,
           way.hard AND d.criticality = %(hard)s AS all_hard, d.target_system_id AS entry_id,
           p.name AS project_name, p.slug AS project_slug
    FROM registry_dependency d
    JOIN registry_project p ON p.id = d.source_project_id
    CROSS JOIN LATERAL (
        SELECT d.target_system_id AS system_id, 0 AS depth, TRUE AS hard
        WHERE {target_in_systems}
        UNION ALL
        SELECT r.system_id, r.depth, r.all_hard
        FROM registry_systemreach r
        WHERE r.dependent_id = d.target_system_id AND {reach_in_systems}
    ) way
    WHERE d.source_project_id IS NOT NULL AND {edge_in_projects}
    ORDER BY way.system_id, d.source_project_id, way.depth,
             NOT (way.hard AND d.criticality = %(hard)s), d.target_system_id
),
gone AS (
    DELETE FROM registry_projectreach old
    WHERE {old_in_projects} AND {old_in_systems}
      AND NOT EXISTS (SELECT 1 FROM fresh
                      WHERE fresh.system_id = old.system_id AND fresh.project_id = old.project_id)
)
INSERT INTO registry_projectreach
    (system_id, project_id, depth, all_hard, entry_id, project_name, project_slug)
SELECT system_id, project_id, depth, all_hard, entry_id, project_name, project_slug FROM fresh
ON CONFLICT (system_id, project_id) DO UPDATE
SET depth = EXCLUDED.depth, all_hard = EXCLUDED.all_hard, entry_id = EXCLUDED.entry_id,
    project_name = EXCLUDED.project_name, project_slug = EXCLUDED.project_slug
WHERE (registry_projectreach.depth, registry_projectreach.all_hard,
       registry_projectreach.entry_id, registry_projectreach.project_name,
       registry_projectreach.project_slug)
      IS DISTINCT FROM (EXCLUDED.depth, EXCLUDED.all_hard, EXCLUDED.entry_id,
                        EXCLUDED.project_name, EXCLUDED.project_slug)
"""


def _write_project_rows(
    *, projects: list[int] | None = None, systems: list[int] | None = None
) -> None:
    """Recompute the rows of these projects (all when None) into these systems (all when
    None)."""
    in_projects = "{} = ANY(%(projects)s)" if projects is not None else "TRUE"
    in_systems = "{} = ANY(%(systems)s)" if systems is not None else "TRUE"
    sql = _PROJECT_ROWS.format(
        target_in_systems=in_systems.format("d.target_system_id"),
        reach_in_systems=in_systems.format("r.system_id"),
        edge_in_projects=in_projects.format("d.source_project_id"),
        old_in_projects=in_projects.format("old.project_id"),
        old_in_systems=in_systems.format("old.system_id"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"projects": projects, "systems": systems, "hard": HARD})


# dependent -> (depth, all_hard, via)
Reached = dict[int, tuple[int, bool, int]]


def _dependents(*, needed: bool = True) -> dict[int, list[tuple[int, bool]]]:
    """The edges between systems, by target: (source, hard); none unless `needed`."""
    dependents: dict[int, list[tuple[int, bool]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT target_system_id, source_system_id, criticality = %s"
            " FROM registry_dependency WHERE source_system_id IS NOT NULL AND %s",
            [HARD, needed],
        )
        for target, source, hard in cursor.fetchall():
            dependents.setdefault(target, []).append((source, hard))
    return dependents


def _search(root: int, dependents: dict[int, list[tuple[int, bool]]]) -> Reached:
    """What depends on `root`: a breadth-first search over the system edges, as
    `selectors._IMPACT_SQL` does from one seed (a system is reached at its first level; its
    `via` is the lowest-id system of the level before that it depends on, hard ways first)."""
    reached: Reached = {}
    hard_of = {root: True}
    frontier = [root]
    depth = 0
    while frontier:
        depth += 1
        best: dict[int, tuple[bool, int]] = {}
        for parent in frontier:
            parent_hard = hard_of[parent]
            for source, edge_hard in dependents.get(parent, ()):
                if source in hard_of:
                    continue
                hard = parent_hard and edge_hard
                current = best.get(source)
                if (
                    current is None
                    or (hard and not current[0])
                    or (hard == current[0] and parent < current[1])
                ):
                    best[source] = (hard, parent)
        for source, (hard, parent) in best.items():
            reached[source] = (depth, hard, parent)
            hard_of[source] = hard
        frontier = list(best)
    return reached


def _write_system_rows(
    systems: Iterable[int],
    searched: dict[int, Reached],
    existing: dict[tuple[int, int], tuple[int, bool, int]] | None = None,
) -> None:
    """Write the rows of `systems` as searched, touching only those that differ."""
    systems = sorted(systems)
    with connection.cursor() as cursor:
        if existing is None:
            cursor.execute(
                "SELECT system_id, dependent_id, depth, all_hard, via_id"
                " FROM registry_systemreach WHERE system_id = ANY(%s)",
                [systems],
            )
            existing = {(s, d): (depth, hard, via) for s, d, depth, hard, via in cursor.fetchall()}
        wanted = {
            (system, dependent): value
            for system in systems
            for dependent, value in searched[system].items()
        }
        gone = [pair for pair in existing if pair not in wanted]
        changed = [(pair, value) for pair, value in wanted.items() if existing.get(pair) != value]
        cursor.execute(
            """
            DELETE FROM registry_systemreach r
            USING unnest(%s::bigint[], %s::bigint[]) AS gone(system_id, dependent_id)
            WHERE r.system_id = gone.system_id AND r.dependent_id = gone.dependent_id
            """,
            [[s for s, _d in gone], [d for _s, d in gone]],
        )
        cursor.execute(
            """
            INSERT INTO registry_systemreach (system_id, dependent_id, depth, all_hard, via_id)
            SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::bool[],
                                 %s::bigint[])
            ON CONFLICT (system_id, dependent_id) DO UPDATE
            SET depth = EXCLUDED.depth, all_hard = EXCLUDED.all_hard, via_id = EXCLUDED.via_id
            """,
            [
                [s for (s, _d), _v in changed],
                [d for (_s, d), _v in changed],
                [v[0] for _p, v in changed],
                [v[1] for _p, v in changed],
                [v[2] for _p, v in changed],
            ],
        )
