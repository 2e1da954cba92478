"""Many rotations at once, read as plain rows: "who is on call" across thousands of projects
without a model instance per row. The rows work with `oncall.schedule`'s functions like
rotations from the ORM.

"Who is on call now for everyone" is computed, not stored: the rules of every rotation are read
in a fixed number of queries (`load_rotations`: layers with their members' ids, people, their
time off, overrides) and `oncall_at` resolves each rotation in Python. The alternative, shift
rows materialised for a rolling horizon, would make the read one indexed query but every write
that moves a shift (a layer, a member, an override, time off, a person's zone or status) a
refresh to remember, plus a beat to roll the horizon; the rules would be stored twice and could
disagree. Computed, the answer is the per-rotation answer by construction (the same function
runs on the same rules).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Q

from registry.models import Person

from .models import Rotation, TimeOff
from .schedule import (
    LoadedLayer,
    LoadedOverride,
    LoadedRotation,
    OnCall,
    as_utc,
    oncall_at,
)

# One row a layer, with its rotation's owner, its restriction days as a text array (no JSON to
# decode per row) and its members' ids in turn order.
_LAYERS_SQL = """
SELECT l.id, l.rotation_id, r.name, r.project_id, r.team_id, l."order", l.time_zone,
       l.start_date, l.handoff_time, l.length, l.length_count, l.restrict_start, l.restrict_end,
       ARRAY(SELECT jsonb_array_elements_text(l.restrict_days)),
       ARRAY(SELECT m.person_id FROM registry_rotationmember m
             WHERE m.layer_id = l.id ORDER BY m."order", m.id)
FROM registry_rotationlayer l
JOIN registry_rotation r ON r.id = l.rotation_id
{where}
ORDER BY l.rotation_id, l."order", l.id
"""
_OVERRIDES_SQL = """
SELECT o.id, o.rotation_id, r.name, r.project_id, r.team_id, o.covered_id, o.start_at, o.end_at,
       o.person_id
FROM registry_override o
JOIN registry_rotation r ON r.id = o.rotation_id
WHERE o.end_at > %s {also}
ORDER BY o.rotation_id, o.start_at, o.id
"""


def load_rotations(*, at: datetime, rotation_filter: Q | None = None) -> list[LoadedRotation]:
    """Every rotation's rules (those matching `rotation_filter`, a filter on `Rotation`) and the
    overrides not over at `at`, as plain rows, in four queries whatever their number: layers
    with their members' ids, overrides, the people named (each read once) and those people's
    time off not over at `at` (set as their prefetched `time_off`). The results work with
    `oncall_at`, `rotation_shifts` and the rest like rotations from the ORM."""
    at = as_utc(at)
    where, params = "", []
    if rotation_filter is not None:
        chosen_sql, chosen_params = (
            Rotation.objects.filter(rotation_filter).values("pk").query.sql_with_params()
        )
        where, params = f"WHERE l.rotation_id IN ({chosen_sql})", list(chosen_params)
    rotations: dict[int, LoadedRotation] = {}
    member_ids: list[tuple[LoadedLayer, list[int]]] = []
    with connection.cursor() as cursor:
        cursor.execute(_LAYERS_SQL.format(where=where), params)
        layer_rows = cursor.fetchall()
        cursor.execute(
            _OVERRIDES_SQL.format(also=where.replace("WHERE l.", "AND o.")), [at, *params]
        )
        override_rows = cursor.fetchall()
    for (
        layer_id, rotation_id, name, project_id, team_id, order, tz, start_date, handoff,
        length, count, r_start, r_end, r_days, people_ids,
    ) in layer_rows:  # fmt: skip
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        layer = LoadedLayer(
            layer_id, order, tz, start_date, handoff, length, count, r_start, r_end, r_days
        )
        rotation.layers.append(layer)
        member_ids.append((layer, people_ids))
    person_ids = {pid for _, ids in member_ids for pid in ids}
    person_ids.update(row[-1] for row in override_rows)
    people = _people_with_time_off(person_ids, after=at)
    # A row written or deleted between these reads waits for the next call.
    for layer, ids in member_ids:
        layer.people = [people[pid] for pid in ids if pid in people]
    for (
        pk,
        rotation_id,
        name,
        project_id,
        team_id,
        covered_id,
        start,
        end,
        person_id,
    ) in override_rows:
        if person_id not in people:
            continue
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        rotation.overrides.append(LoadedOverride(pk, people[person_id], covered_id, start, end))
    return list(rotations.values())


def _people_with_time_off(person_ids: set[int], *, after: datetime) -> dict[int, Person]:
    """The people (the fields the schedule and the supporters' lines read), each with their time
    off not over at `after` set as their prefetched `time_off`: two queries."""
    if not person_ids:
        return {}
    # Raw reads with `= ANY(array)`: `pk__in` over thousands of ids resolves each id in Python.
    ids = sorted(person_ids)
    people = {
        p.pk: p
        for p in Person.objects.raw(
            "SELECT id, display_name, time_zone, working_hours FROM registry_person "
            "WHERE id = ANY(%s)",
            [ids],
        )
    }
    away: dict[int, list[TimeOff]] = {pk: [] for pk in people}
    for off in TimeOff.objects.raw(
        "SELECT * FROM oncall_timeoff WHERE person_id = ANY(%s) AND end_at > %s "
        "ORDER BY start_at, id",
        [ids, after],
    ):
        if off.person_id in away:
            away[off.person_id].append(off)
    for pk, person in people.items():
        # Where `prefetch_related("time_off")` leaves its rows (read by `schedule._time_off`),
        # without a queryset and a manager a person.
        person._prefetched_objects_cache = {"time_off": away[pk]}
    return people


def oncall_now_by_project(*, at: datetime) -> dict[int, list[OnCall]]:
    """project id → who is on call at `at` on each of its own rotations, for every project."""
    result: dict[int, list[OnCall]] = {}
    for rotation in load_rotations(at=at, rotation_filter=Q(project__isnull=False)):
        current = oncall_at(rotation, at)
        if current is not None:
            result.setdefault(rotation.project_id, []).append(current)
    return result
