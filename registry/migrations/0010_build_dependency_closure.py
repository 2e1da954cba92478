"""Fills the closure tables from the edges already there.

A frozen copy of `registry.reach.reach_rebuild` (migrations do not import app code, which moves
on): one breadth-first search per depended-on system over the system edges, then each project's
best way into each system in SQL.
"""

from django.db import migrations

PROJECT_ROWS = """
INSERT INTO registry_projectreach (system_id, project_id, depth, all_hard, entry_id)
SELECT DISTINCT ON (way.system_id, d.source_project_id)
       way.system_id, d.source_project_id, way.depth,
       way.hard AND d.criticality = 'hard', d.target_system_id
FROM registry_dependency d
CROSS JOIN LATERAL (
    SELECT d.target_system_id AS system_id, 0 AS depth, TRUE AS hard
    UNION ALL
    SELECT r.system_id, r.depth, r.all_hard
    FROM registry_systemreach r
    WHERE r.dependent_id = d.target_system_id
) way
WHERE d.source_project_id IS NOT NULL
ORDER BY way.system_id, d.source_project_id, way.depth,
         NOT (way.hard AND d.criticality = 'hard'), d.target_system_id
"""


def search(root, dependents):
    reached = {}
    hard_of = {root: True}
    frontier = [root]
    depth = 0
    while frontier:
        depth += 1
        best = {}
        for parent in frontier:
            for source, edge_hard in dependents.get(parent, ()):
                if source in hard_of:
                    continue
                hard = hard_of[parent] and edge_hard
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


def build(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT target_system_id, source_system_id, criticality = 'hard'"
            " FROM registry_dependency WHERE source_system_id IS NOT NULL"
        )
        dependents = {}
        for target, source, hard in cursor.fetchall():
            dependents.setdefault(target, []).append((source, hard))
        rows = [
            (system, dependent, depth, hard, via)
            for system in sorted(dependents)
            for dependent, (depth, hard, via) in search(system, dependents).items()
        ]
        if rows:
            cursor.execute(
                "INSERT INTO registry_systemreach (system_id, dependent_id, depth, all_hard, via_id)"
                " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::bool[],"
                " %s::bigint[])",
                [list(column) for column in zip(*rows, strict=True)],
            )
        cursor.execute(PROJECT_ROWS)
        cursor.execute("ANALYZE registry_systemreach")
        cursor.execute("ANALYZE registry_projectreach")


class Migration(migrations.Migration):
    dependencies = [("registry", "0009_dependency_closure")]

    operations = [migrations.RunPython(build, migrations.RunPython.noop)]
