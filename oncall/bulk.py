"""Many rotations at once, read as plain rows: "who is on call" across thousands of projects
without a model instance per row. The rows work with `oncall.schedule`'s functions like
rotations from the ORM.

The rules of every rotation are read in a fixed number of queries (`load_rotations`: layers with
their members' ids, people, their time off, overrides) and `oncall_at` resolves each rotation in
Python. "Who is on call now for everyone" (`oncall.current`) keeps those answers with the stretch
each holds for and works out here only the rotations whose answer ran out or whose rules changed;
`oncall_now_by_project` works out every rotation each time, the reference the kept answers are
held equal to.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Q

from registry.models import Person
from steward.memory import cycle_collection_paused

from .models import Rotation, TimeOff
from .schedule import (
    LoadedLayer,
    LoadedOverride,
    LoadedRotation,
    OnCall,
    as_utc,
    oncall_at,
)

# One row a rotation's layer (a rotation without layers: one row of NULLs), in the rotations'
# order (`Rotation.Meta.ordering`, in the database's collation), with its restriction days as a
# text array (no JSON to decode per row) and its members' ids in turn order.
_LAYERS_SQL = """
SELECT r.id, r.name, r.project_id, r.team_id,
       l.id, l."order", l.time_zone, l.start_date, l.handoff_time, l.length, l.length_count,
       l.restrict_start, l.restrict_end,
       ARRAY(SELECT jsonb_array_elements_text(l.restrict_days)),
       ARRAY(SELECT m.person_id FROM registry_rotationmember m
             WHERE m.layer_id = l.id ORDER BY m."order", m.id)
FROM registry_rotation r
LEFT JOIN registry_rotationlayer l ON l.rotation_id = r.id
{where}
ORDER BY r.name, r.id, l."order", l.id
"""
_OVERRIDES_SQL = """
SELECT o.rotation_id, o.id, o.covered_id, o.start_at, o.end_at, o.person_id
FROM registry_override o
WHERE o.end_at > %s {also}
ORDER BY o.rotation_id, o.start_at, o.id
"""


class RotationRules(NamedTuple):
    """A rotation's rules as read, with people as ids: immutable, so they can be kept (see
    `oncall.cache`) and turned into `LoadedRotation`s with fresh people any number of times."""

    pk: int
    name: str
    project_id: int | None
    team_id: int | None
    # (id, order, zone, start date, handoff, length, count, restrict start/end/days, member ids)
    layers: tuple[tuple, ...]
    # (id, covered id, start, end, person id) of the overrides not over when read
    overrides: tuple[tuple, ...]
    read_at: datetime

    @property
    def person_ids(self) -> set[int]:
        ids = {pid for layer in self.layers for pid in layer[-1]}
        return ids | {override[-1] for override in self.overrides}


def read_rules(
    *,
    at: datetime,
    rotation_filter: Q | None = None,
    rotation_ids: Sequence[int] | None = None,
) -> list[RotationRules]:
    """The rules of every rotation matching `rotation_filter` (a filter on `Rotation`), or those
    with the given ids (thousands of them as one array: `pk__in` adapts each id in Python), all
    when neither is given, in their order, and their overrides not over at `at`: two queries."""
    at = as_utc(at)
    where, params = "", []
    if rotation_ids is not None:
        where, params = "WHERE r.id = ANY(%s)", [list(rotation_ids)]
    elif rotation_filter is not None:
        chosen_sql, chosen_params = (
            Rotation.objects.filter(rotation_filter).values("pk").query.sql_with_params()
        )
        where, params = f"WHERE r.id IN ({chosen_sql})", list(chosen_params)
    with connection.cursor() as cursor:
        cursor.execute(_LAYERS_SQL.format(where=where), params)
        layer_rows = cursor.fetchall()
        cursor.execute(
            _OVERRIDES_SQL.format(also=where.replace("WHERE r.id", "AND o.rotation_id")),
            [at, *params],
        )
        override_rows = cursor.fetchall()
    layers: dict[int, list[tuple]] = {}
    heads: dict[int, tuple] = {}
    for row in layer_rows:
        rotation_id = row[0]
        if rotation_id not in heads:
            heads[rotation_id] = row[:4]
            layers[rotation_id] = []
        if row[4] is not None:
            layers[rotation_id].append(row[4:])
    overrides: dict[int, list[tuple]] = {}
    for row in override_rows:
        overrides.setdefault(row[0], []).append(row[1:])
    return [
        RotationRules(*head, tuple(layers[pk]), tuple(overrides.get(pk, ())), at)
        for pk, head in heads.items()
    ]


def rotations_from_rules(rules: Sequence[RotationRules], *, at: datetime) -> list[LoadedRotation]:
    """The rules with their people read now (two queries: the people, and their time off not over
    at `at`), ready for `oncall_at`, `rotation_shifts` and the rest. Someone deleted since the
    rules were read is left out, as a fresh read would."""
    person_ids: set[int] = set()
    for rotation in rules:
        person_ids |= rotation.person_ids
    people = _people_with_time_off(person_ids, after=as_utc(at))
    result = []
    for pk, name, project_id, team_id, layer_rows, override_rows, _read_at in rules:
        rotation = LoadedRotation(pk, name, project_id, team_id)
        for (
            layer_id, order, tz, start_date, handoff, length, count, r_start, r_end, r_days,
            member_ids,
        ) in layer_rows:  # fmt: skip
            layer = LoadedLayer(
                layer_id, order, tz, start_date, handoff, length, count, r_start, r_end, r_days
            )
            layer.people = [people[pid] for pid in member_ids if pid in people]
            rotation.layers.append(layer)
        for override_id, covered_id, start, end, person_id in override_rows:
            if person_id in people:
                rotation.overrides.append(
                    LoadedOverride(override_id, people[person_id], covered_id, start, end)
                )
        result.append(rotation)
    return result


def load_rotations(
    *,
    at: datetime,
    rotation_filter: Q | None = None,
    rotation_ids: Sequence[int] | None = None,
) -> list[LoadedRotation]:
    """Every rotation's rules (those matching `rotation_filter`, a filter on `Rotation`, or with
    the given ids; see `read_rules`), in their order, and the overrides not over at `at`, as
    plain rows, in four queries whatever their number: layers with their members' ids,
    overrides, the people named (each read once) and those people's time off not over at `at`.
    The results work with `oncall_at`, `rotation_shifts` and the rest like rotations from the
    ORM."""
    with cycle_collection_paused():
        rules = read_rules(at=at, rotation_filter=rotation_filter, rotation_ids=rotation_ids)
        return rotations_from_rules(rules, at=at)


def people_by_id(person_ids: Collection[int]) -> dict[int, Person]:
    """person id → the person, for thousands of ids in one query: whole rows (what a supporter's
    line shows, and any field the schedule reads), with `= ANY(array)`: `pk__in` over thousands
    of ids resolves each id in Python."""
    if not person_ids:
        return {}
    return {
        p.pk: p
        for p in Person.objects.raw(
            "SELECT * FROM registry_person WHERE id = ANY(%s)", [sorted(person_ids)]
        )
    }


def _people_with_time_off(person_ids: set[int], *, after: datetime) -> dict[int, Person]:
    """The people, each with their time off not over at `after` set as their prefetched
    `time_off`: two queries."""
    if not person_ids:
        return {}
    ids = sorted(person_ids)
    people = people_by_id(ids)
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
    rotations = load_rotations(at=at, rotation_filter=Q(project__isnull=False))
    with cycle_collection_paused():
        for rotation in rotations:
            current = oncall_at(rotation, at)
            if current is not None:
                result.setdefault(rotation.project_id, []).append(current)
    return result
