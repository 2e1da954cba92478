"""Who is on call now on every rotation, from answers kept between reads (`CurrentOnCall`).

Working out every rotation's rules takes about half a second at 10,000 projects, and the answer
for a rotation holds until something it depends on changes: the next handoff, the next edge of a
restriction window, an override starting or ending, the time off or leaving of someone on it, or
a write to its rules. So each answer is kept with the stretch it holds for (`steady_until`), and
the triggers of migration 0005 mark it stale on every write it depends on. A read takes the rows
still good at the moment asked, works out the others from the rules (`oncall.bulk`) and keeps
them for the next read.

Answers only move forward in time, and never past the present: one worked out for an earlier
moment than a good kept answer covers (`?at=` in the past), or for a moment still to come, is
given but not kept, so asking about another moment never makes the present's reads work
everything out again.

Keeping an answer never races a write: the answer is stored only if the row's `version` is still
the one read before the rules were, so rules that changed while it was worked out (the triggers
raise the version in the writing transaction) leave the row stale rather than wrong. The store
skips rows another transaction holds, so it never waits and never deadlocks a writer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from registry.models import Person
from steward.memory import cycle_collection_paused

from .bulk import load_rotations, people_by_id
from .schedule import as_utc, oncall_at, steady_until

# Answers worked out for a moment up to this far ahead of this process's clock are kept (the
# clocks of web processes and workers differ by that much at most).
KEEP_AHEAD = timedelta(minutes=1)

# A kept answer is good at the moment asked (%s, twice): worked out at its row's version, for a
# stretch that holds the moment. NULL where the rotation has no row or no answer yet.
_GOOD = "c.computed_version = c.version AND c.valid_from <= %s AND %s < c.valid_until"

# Every rotation of a project, in the rotations' order, with its kept answer if it is good.
_ROWS_SQL = f"""
SELECT r.id, r.project_id, c.version, {_GOOD},
       c.person_id, c.layer_id, c.override_id, c.valid_until
FROM registry_rotation r
LEFT JOIN oncall_currentoncall c ON c.rotation_id = r.id
WHERE r.project_id IS NOT NULL
ORDER BY r.name, r.id
"""  # noqa: S608  # nosec B608: constant SQL

# The project rotations whose kept answer is missing, stale or not good at the moment asked.
_DUE_SQL = f"""
SELECT r.id, c.version
FROM registry_rotation r
LEFT JOIN oncall_currentoncall c ON c.rotation_id = r.id
WHERE r.project_id IS NOT NULL AND NOT COALESCE({_GOOD}, FALSE)
"""  # noqa: S608  # nosec B608: constant SQL

_LOCK_SQL = """
SELECT rotation_id FROM oncall_currentoncall
WHERE rotation_id = ANY(%s)
ORDER BY rotation_id
FOR UPDATE SKIP LOCKED
"""

_STORE_SQL = """
UPDATE oncall_currentoncall c
SET computed_version = v.version, person_id = v.person_id, layer_id = v.layer_id,
    override_id = v.override_id, valid_from = %s, valid_until = to_timestamp(v.valid_until)
FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::int[], %s::int[], %s::float8[])
     AS v(rotation_id, version, person_id, layer_id, override_id, valid_until)
WHERE c.rotation_id = v.rotation_id AND c.version = v.version
  AND (c.computed_version IS DISTINCT FROM c.version OR c.valid_until <= %s)
"""

_ADD_MISSING_SQL = """
INSERT INTO oncall_currentoncall (rotation_id, version)
SELECT id, 0 FROM registry_rotation WHERE id = ANY(%s)
ON CONFLICT (rotation_id) DO NOTHING
"""


class NowOnCall(NamedTuple):
    """Who is on call on one rotation at the moment asked, by which rule (the layer's or the
    override's id), and until when at least that answer holds."""

    rotation_id: int
    person: Person
    layer_id: int | None
    override_id: int | None
    until: datetime


def oncall_now(*, at: datetime) -> dict[int, list[NowOnCall]]:
    """project id → who is on call at `at` on each of its own rotations (those with someone), in
    the rotations' order, for every project: the kept answers still good at `at` and the rest
    worked out and kept. Two queries when every answer is kept (the rows, the people); the
    rules of the others are read in four more, and their answers stored in two."""
    at = as_utc(at)
    with cycle_collection_paused():
        with connection.cursor() as cursor:
            cursor.execute(_ROWS_SQL, [at, at])
            rows = cursor.fetchall()
        kept: dict[int, tuple] = {}
        missing: dict[int, int | None] = {}  # rotation id → the version read (None: no row)
        for rotation_id, _project_id, version, good, *answer in rows:
            if good:
                kept[rotation_id] = answer  # person, layer, override, until
            else:
                missing[rotation_id] = version
        worked_out = _work_out(missing, at=at) if missing else {}
        person_ids = {answer[0] for answer in kept.values() if answer[0] is not None}
        people = people_by_id(person_ids)
        result: dict[int, list[NowOnCall]] = {}
        for rotation_id, project_id, *_ in rows:
            if rotation_id in kept:
                person_id, layer_id, override_id, until = kept[rotation_id]
                if person_id is None or person_id not in people:
                    continue
                answer = NowOnCall(rotation_id, people[person_id], layer_id, override_id, until)
            else:
                answer = worked_out.get(rotation_id)
                if answer is None:
                    continue
            result.setdefault(project_id, []).append(answer)
    return result


def refresh(*, at: datetime) -> int:
    """Work out and keep the answers that are missing, stale or run out at `at`, so that reads
    find them kept (beat runs it every minute: `oncall.current_refresh`). Returns how many."""
    at = as_utc(at)
    with connection.cursor() as cursor:
        cursor.execute(_DUE_SQL, [at, at])
        due = dict(cursor.fetchall())
    if due:
        with cycle_collection_paused():
            _work_out(due, at=at)
    return len(due)


def _work_out(versions: dict[int, int | None], *, at: datetime) -> dict[int, NowOnCall]:
    """Work out who is on call on these rotations from their rules, and keep each answer whose
    row still has the version read (`versions`) before the rules were."""
    rotations = load_rotations(at=at, rotation_ids=sorted(versions))
    # A future moment's answers would keep the present's from being stored: given, not kept.
    keep = at <= timezone.now() + KEEP_AHEAD
    answers: dict[int, NowOnCall] = {}
    stored: list[tuple] = []
    for rotation in rotations:
        current = oncall_at(rotation, at)
        until = steady_until(rotation, at)
        layer_id = current.layer.pk if current and current.layer else None
        override_id = current.override.pk if current and current.override else None
        if current is not None:
            answers[rotation.pk] = NowOnCall(
                rotation.pk, current.person, layer_id, override_id, until
            )
        version = versions.get(rotation.pk)
        if keep and version is not None:
            person_id = current.person.pk if current else None
            # Seconds since the epoch: thousands of datetimes cost more to adapt than to store.
            stored.append(
                (rotation.pk, version, person_id, layer_id, override_id, until.timestamp())
            )
    _store(stored, at=at, without_row=[pk for pk, version in versions.items() if version is None])
    return answers


def _store(answers: Sequence[tuple], *, at: datetime, without_row: Sequence[int]) -> None:
    """Keep the answers worked out at `at` (rotation id, version read, person, layer, override,
    until as seconds since the epoch) whose rows are free, still at the version read, and hold
    no good answer for a later moment; give rows to rotations that had none (kept from the next
    read on)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if without_row:
            cursor.execute(_ADD_MISSING_SQL, [list(without_row)])
        if not answers:
            return
        cursor.execute(_LOCK_SQL, [[answer[0] for answer in answers]])
        free = {row[0] for row in cursor.fetchall()}
        columns = list(zip(*(answer for answer in answers if answer[0] in free), strict=True))
        if columns:
            cursor.execute(_STORE_SQL, [at, *(list(column) for column in columns), at])


def project_slugs(project_ids: Collection[int]) -> dict[int, str]:
    """project id → slug, for thousands of ids at once (as one array, not one parameter each)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, slug FROM registry_project WHERE id = ANY(%s)", [list(project_ids)]
        )
        return dict(cursor.fetchall())
