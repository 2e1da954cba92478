"""Projects' on-call rules, kept in each web process between requests: what the project page, the
support API and the directory read on every request and that changes only when someone writes a
rotation, a layer, an override or time off.

What is kept is the rules (`bulk.RotationRules`: layers with member ids, overrides), never an
answer: who is on call now and next is computed from them at each request, so the passing of time
needs no invalidation. The people are read fresh each time (two queries), so a renamed,
re-zoned or deleted person shows at once without any invalidation either.

Invalidation is explicit: every on-call write (`oncall.services`, the admin) calls
`oncall_rules_changed()`, which gives the *generation* in Redis a new random value, at once and
again once the transaction commits; a process's entries are keyed by the generation they were read under, so every
process drops them at its next read. The generation is read before the rules, so an entry read
while a write commits is either already the new rules or filed under the old generation. A
random token rather than a counter, so a Redis that lost its data cannot bring an old generation
back; and entries expire after `TTL` seconds whatever happens, the bound on staleness should a
write's bump not reach Redis. Without Redis the rules are read from the database every time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

import redis
from django.db import transaction
from django.db.models import Q

from registry.models import Project
from steward.health import redis_connection

from .bulk import RotationRules, read_rules, rotations_from_rules
from .schedule import LoadedRotation, as_utc

GENERATION_KEY = "steward:oncall:generation"
TTL = 60.0
MAX_ENTRIES = 5000

_entries: OrderedDict[tuple, tuple[float, list[RotationRules]]] = OrderedDict()
_lock = threading.Lock()


def oncall_rules_changed() -> None:
    """Call from every write that changes a rotation, its layers or members, an override or
    time off: every process's kept rules are stale. The generation changes now (so that reads
    later in the writing transaction see the write) and again once the transaction commits (so
    that rules read by another request while it committed are dropped too)."""
    _new_generation()
    transaction.on_commit(_new_generation)


def _new_generation() -> None:
    try:
        redis_connection().set(GENERATION_KEY, secrets.token_hex(8))
    except (OSError, redis.RedisError):
        return  # the entries' TTL bounds how long they are kept


def _generation() -> str | None:
    try:
        client = redis_connection()
        value = client.get(GENERATION_KEY)
        if value is None:
            client.set(GENERATION_KEY, secrets.token_hex(8), nx=True)
            value = client.get(GENERATION_KEY)
    except (OSError, redis.RedisError):
        return None
    return value.decode() if value is not None else None


def _key(project: Project, generation: str) -> tuple:
    # The team is part of the key: moving a project to another team changes its rotations.
    return (project.pk, project.team_id, generation)


def project_rotations_now(
    projects: Sequence[Project], *, at: datetime
) -> dict[int, list[LoadedRotation]]:
    """project id → its rotations, then its team's, in the order `project_rotations` gives, ready
    for `oncall_at` / `next_oncall`: from the kept rules where they are current (two queries, for
    the people), else read (two more for all the projects missing)."""
    at = as_utc(at)
    generation = _generation()
    now = time.monotonic()
    rules_of: dict[int, list[RotationRules]] = {}
    missing: list[Project] = []
    for project in projects:
        entry = None
        if generation is not None:
            with _lock:
                entry = _entries.get(_key(project, generation))
        # Kept rules hold the overrides not over when they were read: enough for any later moment.
        if entry is not None and entry[0] > now and all(r.read_at <= at for r in entry[1]):
            rules_of[project.pk] = entry[1]
        else:
            missing.append(project)
    if missing:
        team_ids = {p.team_id for p in missing if p.team_id}
        owned = Q(project_id__in=[p.pk for p in missing])
        if team_ids:
            owned |= Q(team_id__in=sorted(team_ids))
        read = read_rules(at=at, rotation_filter=owned)
        for project in missing:
            mine = [r for r in read if r.project_id == project.pk]
            if project.team_id:
                mine += [r for r in read if r.team_id == project.team_id]
            rules_of[project.pk] = mine
            if generation is not None:
                with _lock:
                    _entries[_key(project, generation)] = (now + TTL, mine)
                    while len(_entries) > MAX_ENTRIES:
                        _entries.popitem(last=False)
    everyone = [rules for project in projects for rules in rules_of[project.pk]]
    built = iter(rotations_from_rules(everyone, at=at))
    return {project.pk: [next(built) for _ in rules_of[project.pk]] for project in projects}


def forget_all() -> None:
    """Drop this process's kept rules (for tests that write rows without the services)."""
    with _lock:
        _entries.clear()
