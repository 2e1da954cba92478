"""Conflicts of planned work: what a change on some IT systems, in some window, runs into.

Reads only. Two entry points, for the change form, the API, the calendar and the quietest-slot
search alike:

- `conflicts_for(system_ids=…, start_at=…, end_at=…, exclude_change_id=…)`: every scheduled or
  in-progress change whose window overlaps, on the same systems or on systems related through the
  dependency graph (a system ours depend on, "upstream", or one that depends on ours,
  "downstream", transitively), and every blackout (change freeze) with an occurrence in the
  window, company-wide or on any of those related systems. Each `Conflict` says why, in words.
- `blackout_intervals(start_at=…, end_at=…, system_ids=…)`: the UTC intervals of blackout
  occurrences touching a range, for whoever searches free time.

A recurring blackout is an RRULE over a local wall-clock start and end in an IANA zone; each
occurrence keeps its local times across a DST change, so its length in UTC may differ by the
shift. Query counts are fixed: two statements for the graph, one for changes, one for blackouts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, rrule, rrulestr
from django.db import connection
from django.db.models import Q

from registry.models import ITSystem
from steward.times import utc_stamp, zoned

from .models import Blackout, Change

# Changes that hold a window: drafts are not planned yet, finished ones are done.
PLANNED_STATES = (Change.State.SCHEDULED, Change.State.IN_PROGRESS)
# A recurrence repeats at most daily, and has at most this many occurrences when bounded.
MAX_OCCURRENCES = 5000

# Blackouts start and end within these years (the service refuses others), so searching for
# occurrences never overflows a datetime, whatever range a caller asks about.
SEARCHED = (datetime(1971, 1, 1, tzinfo=UTC), datetime(2199, 12, 31, tzinfo=UTC))

SAME = "same_system"
UPSTREAM = "upstream"  # a system ours depend on
DOWNSTREAM = "downstream"  # a system that depends on ours
COMPANY_WIDE = "company_wide"


@dataclass(frozen=True)
class Related:
    """A system related to the ones being changed: how, and the chain of names that relates it
    (from the dependent system to the one it depends on)."""

    system_id: int
    relation: str
    path: tuple[int, ...]


@dataclass(frozen=True)
class Conflict:
    """One thing a planned window runs into, with the reason in words."""

    kind: str  # "change" or "blackout"
    relation: str  # SAME, UPSTREAM, DOWNSTREAM or COMPANY_WIDE
    reason: str
    start_at: datetime  # the other change's window, or the blackout occurrence
    end_at: datetime
    system: str = ""  # the system of ours it concerns (empty: company-wide)
    other_system: str = ""  # the system the other change or blackout is on
    path: tuple[str, ...] = ()
    change_id: int | None = None
    change_title: str = ""
    blackout_id: int | None = None
    blackout_title: str = ""

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "relation": self.relation,
            "reason": self.reason,
            "start_at": self.start_at.isoformat(),
            "end_at": self.end_at.isoformat(),
            "system": self.system,
            "other_system": self.other_system,
            "path": list(self.path),
            "change": self.change_id,
            "change_title": self.change_title,
            "blackout": self.blackout_id,
            "blackout_title": self.blackout_title,
        }


@dataclass(frozen=True)
class BlackoutInterval:
    blackout: Blackout
    start_at: datetime
    end_at: datetime


# --- the dependency graph between IT systems -----------------------------------------------------

# Breadth-first over system → system edges from the seeds, the frontier in one row per level (as
# in `registry.selectors`), so each system is reached once, by a shortest path. `{near}` is the
# column of the edge at the known node, `{far}` the column of the node it reaches.
_WALK_SQL = """
WITH RECURSIVE bfs(depth, nodes, parents, visited) AS (
    SELECT 0, seeds.ids, array_fill(NULL::bigint, ARRAY[cardinality(seeds.ids)]), seeds.ids
    FROM (SELECT %(seeds)s::bigint[] AS ids) seeds
    WHERE cardinality(seeds.ids) > 0
  UNION ALL
    SELECT b.depth + 1, step.nodes, step.parents, b.visited || step.nodes
    FROM bfs b
    CROSS JOIN LATERAL (
        SELECT array_agg(pick.dst ORDER BY pick.dst) AS nodes,
               array_agg(pick.parent ORDER BY pick.dst) AS parents
        FROM (
            SELECT DISTINCT ON (d.{far}) d.{far} AS dst, d.{near} AS parent
            FROM unnest(b.nodes) AS prev(node)
            JOIN registry_dependency d ON d.{near} = prev.node
            WHERE d.{far} IS NOT NULL AND NOT (d.{far} = ANY(b.visited))
            ORDER BY d.{far}, d.{near}
        ) pick
    ) step
    WHERE step.nodes IS NOT NULL
)
SELECT t.node, t.parent FROM bfs b
CROSS JOIN LATERAL unnest(b.nodes, b.parents) AS t(node, parent)
WHERE b.depth > 0
"""


def _walk(seeds: list[int], *, upstream: bool) -> dict[int, tuple[int, ...]]:
    near, far = (
        ("source_system_id", "target_system_id")
        if upstream
        else ("target_system_id", "source_system_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(_WALK_SQL.format(near=near, far=far), {"seeds": seeds})
        parents = dict(cursor.fetchall())
    chains: dict[int, tuple[int, ...]] = {}
    for node in parents:
        chain = [node]
        while chain[-1] in parents:
            chain.append(parents[chain[-1]])
        # Read as a dependency: from the system that depends to the one depended on.
        chains[node] = tuple(reversed(chain)) if upstream else tuple(chain)
    return chains


def related_systems(system_ids: Iterable[int]) -> dict[int, Related]:
    """The systems themselves, every system they depend on and every system that depends on them,
    transitively, each with how it is related (two queries whatever the size of the graph)."""
    seeds = sorted(set(system_ids))
    related = {pk: Related(pk, SAME, (pk,)) for pk in seeds}
    if not seeds:
        return related
    for upstream in (True, False):
        for node, chain in _walk(seeds, upstream=upstream).items():
            related.setdefault(node, Related(node, UPSTREAM if upstream else DOWNSTREAM, chain))
    return related


def _ours(related: Related) -> int:
    """The system of ours that a related system is related to (an end of its chain)."""
    return related.path[0] if related.relation == UPSTREAM else related.path[-1]


# --- blackouts ---------------------------------------------------------------------------------


def parse_rrule(text: str, *, dtstart: datetime) -> rrule:
    """An RRULE (with or without its `RRULE:` prefix, no DTSTART) from a naive local start.
    Raises ValueError with a reason people can read."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text or "\r" in text or "DTSTART" in text.upper():
        raise ValueError("Give one RRULE, e.g. FREQ=WEEKLY;BYDAY=SA, without DTSTART.")
    try:
        rule = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError) as exc:
        raise ValueError(f"Not an RRULE: {exc}") from exc
    if not isinstance(rule, rrule):
        raise ValueError("Give one RRULE.")
    if rule._freq > DAILY:  # noqa: SLF001 (dateutil exposes no accessor)
        raise ValueError("A blackout repeats at most daily (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY).")
    return rule


def _zone_and_length(blackout: Blackout) -> tuple[ZoneInfo, datetime, timedelta]:
    first = datetime.combine(blackout.start_date, blackout.start_time)
    length = datetime.combine(blackout.end_date, blackout.end_time) - first
    return ZoneInfo(blackout.time_zone), first, length


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def blackout_bounds(blackout: Blackout) -> tuple[datetime, datetime | None]:
    """The UTC start of the first occurrence and the end of the last (None: it never ends).
    Raises ValueError for a rule with no occurrence or too many."""
    zone, first, length = _zone_and_length(blackout)
    if not blackout.rrule:
        return _to_utc(first, zone), _to_utc(first + length, zone)
    rule = parse_rrule(blackout.rrule, dtstart=first)
    if rule._count is None and rule._until is None:  # noqa: SLF001
        start = rule.after(first, inc=True)
        if start is None:
            raise ValueError("This rule never happens.")
        return _to_utc(start, zone), None
    occurrences = []
    for local in rule:
        occurrences.append(local)
        if len(occurrences) > MAX_OCCURRENCES:
            raise ValueError(f"At most {MAX_OCCURRENCES} occurrences; leave the end open instead.")
    if not occurrences:
        raise ValueError("This rule never happens.")
    return _to_utc(occurrences[0], zone), _to_utc(occurrences[-1] + length, zone)


def occurrences_of(
    blackout: Blackout, *, start_at: datetime, end_at: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The blackout's occurrences (UTC start, end) overlapping [start_at, end_at), in order."""
    zone, first, length = _zone_and_length(blackout)
    # Occurrences are searched within the years a blackout may have (see `SEARCHED`).
    start_at, end_at = max(start_at, SEARCHED[0]), min(end_at, SEARCHED[1])
    if end_at <= start_at:
        return
    if not blackout.rrule:
        candidates: Iterable[datetime] = [first]
    else:
        # Search in local wall-clock time, a day wider each side for any offset.
        low = start_at.astimezone(zone).replace(tzinfo=None) - length - timedelta(days=1)
        high = end_at.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        candidates = parse_rrule(blackout.rrule, dtstart=first).between(low, high, inc=True)
    for local in candidates:
        begins, ends = _to_utc(local, zone), _to_utc(local + length, zone)
        if begins < end_at and ends > start_at:
            yield begins, ends


def _blackouts_in(*, start_at: datetime, end_at: datetime, system_ids: Iterable[int] | None):
    blackouts = Blackout.objects.filter(first_start_at__lt=end_at).filter(
        Q(last_end_at__isnull=True) | Q(last_end_at__gt=start_at)
    )
    if system_ids is not None:
        blackouts = blackouts.filter(Q(system__isnull=True) | Q(system_id__in=list(system_ids)))
    return blackouts.select_related("system").order_by("first_start_at", "id")


def blackout_intervals(
    *, start_at: datetime, end_at: datetime, system_ids: Iterable[int] | None = None
) -> list[BlackoutInterval]:
    """Every occurrence of a blackout overlapping [start_at, end_at), as UTC intervals ordered by
    start: company-wide ones and those on `system_ids` (every blackout when None). Only the
    systems given count: pass `related_systems(...)`'s keys to include dependencies. One query."""
    intervals = [
        BlackoutInterval(blackout, begins, ends)
        for blackout in _blackouts_in(start_at=start_at, end_at=end_at, system_ids=system_ids)
        for begins, ends in occurrences_of(blackout, start_at=start_at, end_at=end_at)
    ]
    return sorted(intervals, key=lambda i: (i.start_at, i.blackout.pk))


# --- conflicts ---------------------------------------------------------------------------------

_RANK = {SAME: 0, UPSTREAM: 1, DOWNSTREAM: 1, COMPANY_WIDE: 2}


def _relation_words(related: Related, names: dict[int, str]) -> tuple[str, str, tuple[str, ...]]:
    """(our system, sentence, chain of names) for a related system."""
    path = tuple(names.get(pk, f"#{pk}") for pk in related.path)
    ours = names.get(_ours(related), "")
    other = names.get(related.system_id, "")
    if related.relation == SAME:
        return ours, f"also on {ours}", path
    chain = " → ".join(path)
    if related.relation == UPSTREAM:
        return ours, f"on {other}, which {ours} depends on ({chain})", path
    return ours, f"on {other}, which depends on {ours} ({chain})", path


def conflicts_for(
    *,
    system_ids: Iterable[int],
    start_at: datetime,
    end_at: datetime,
    exclude_change_id: int | None = None,
) -> list[Conflict]:
    """What work on `system_ids` from `start_at` to `end_at` conflicts with: overlapping
    scheduled or in-progress changes on the same, upstream or downstream systems (one conflict
    per change, by its closest relation), and blackouts with an occurrence in the window
    (company-wide, or on any of those systems; one conflict per blackout, its first occurrence
    in the window). Ordered by start. Four queries whatever the data size."""
    if end_at <= start_at:
        return []
    related = related_systems(system_ids)
    if not related:
        return []
    names = dict(ITSystem.objects.filter(pk__in=list(related)).values_list("pk", "name"))
    conflicts: list[Conflict] = []

    changes = (
        Change.objects.filter(
            state__in=PLANNED_STATES,
            planned_start_at__lt=end_at,
            planned_end_at__gt=start_at,
            systems__in=list(related),
        )
        .distinct()
        .prefetch_related("systems")
        .order_by("planned_start_at", "id")
    )
    if exclude_change_id is not None:
        changes = changes.exclude(pk=exclude_change_id)
    for change in changes:
        touching = [related[s.pk] for s in change.systems.all() if s.pk in related]
        if not touching:
            continue
        best = min(touching, key=lambda r: (_RANK[r.relation], len(r.path), r.system_id))
        ours, words, path = _relation_words(best, names)
        conflicts.append(
            Conflict(
                kind="change",
                relation=best.relation,
                reason=(
                    f"Change #{change.pk} “{change.title}” ({change.get_state_display().lower()}, "
                    f"{utc_stamp(change.planned_start_at)} – {utc_stamp(change.planned_end_at)}) "
                    f"is {words}."
                ),
                start_at=change.planned_start_at,
                end_at=change.planned_end_at,
                system=ours,
                other_system=names.get(best.system_id, ""),
                path=path,
                change_id=change.pk,
                change_title=change.title,
            )
        )

    for blackout in _blackouts_in(start_at=start_at, end_at=end_at, system_ids=list(related)):
        first = next(occurrences_of(blackout, start_at=start_at, end_at=end_at), None)
        if first is None:
            continue
        begins, ends = first
        when = f"{zoned(begins, blackout.time_zone)} – {zoned(ends, blackout.time_zone)}" + (
            f", repeating ({blackout.rrule})" if blackout.rrule else ""
        )
        if blackout.system_id is None:
            relation, ours, path = COMPANY_WIDE, "", ()
            reason = f"Company-wide blackout “{blackout.title}”: {when}."
        else:
            rel = related[blackout.system_id]
            ours, words, path = _relation_words(rel, names)
            relation = rel.relation
            reason = (
                f"Blackout “{blackout.title}” on {ours}: {when}."
                if relation == SAME
                else f"Blackout “{blackout.title}” {words}: {when}."
            )
        conflicts.append(
            Conflict(
                kind="blackout",
                relation=relation,
                reason=reason,
                start_at=begins,
                end_at=ends,
                system=ours,
                other_system=blackout.system.name if blackout.system_id else "",
                path=path,
                blackout_id=blackout.pk,
                blackout_title=blackout.title,
            )
        )
    return sorted(conflicts, key=lambda c: (c.start_at, c.kind, c.change_id or c.blackout_id))
