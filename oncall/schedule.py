"""Who is on call: computed from a rotation's rules at the moment asked, never stored shift by shift.

Every instant here is an aware datetime in UTC; local wall times only appear while turning a
layer's rules (handoff time, restriction window) into instants, one calendar day at a time in the
layer's own zone, so each zone's daylight-saving changes fall where they do in that zone. A local
time that does not exist (02:30 on a spring-forward night) is read with the offset from before the
change (``fold=0``), and one that happens twice means its first occurrence.

The functions take model instances and read their related rows through ``.all()``, so a caller
that prefetched them (`rotations_queryset`, `project_rotation_prefetches`) pays a fixed number of
queries however many projects it asks about.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import Person, Project
from registry.validators import WEEKDAYS

from .models import Override, Rotation, RotationLayer, RotationMember, TimeOff

# How far ahead "on call next" looks, and the longest range a shift listing may cover.
NEXT_HORIZON = timedelta(days=29)
NEXT_FIRST_STRETCH = timedelta(days=2)
MAX_RANGE = timedelta(days=400)
# The longest an answer of `oncall_at` is taken to hold without an edge in sight (`steady_until`),
# so a kept answer is worked out again at least daily whatever happens.
STEADY_LONGEST = timedelta(days=1)


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def local_instant(tz: zoneinfo.ZoneInfo, day: date, at: time) -> datetime:
    """A local wall time on a local day, as an instant in UTC."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def as_utc(at: datetime) -> datetime:
    if timezone.is_naive(at):
        raise ValueError("on-call times must be aware datetimes")
    return at.astimezone(UTC)


# --- reading the rules ----------------------------------------------------------------------------


def time_off_prefetch(*, after: datetime | None = None, lookup: str = "time_off") -> Prefetch:
    """Loads people's time off (what ends after `after`; all of it when None) with them, which
    `layer_shifts` and `oncall_at` read."""
    time_off = TimeOff.objects.order_by("start_at", "id")
    if after is not None:
        time_off = time_off.filter(end_at__gt=after)
    return Prefetch(lookup, queryset=time_off)


def rotations_queryset(*, overrides_after: datetime | None = None) -> QuerySet[Rotation]:
    """Rotations with their layers, members (with their time off) and overrides (those ending
    after `overrides_after`, all of them when None): five queries for any number of rotations."""
    overrides = Override.objects.select_related("person", "covered").order_by("start_at", "id")
    if overrides_after is not None:
        overrides = overrides.filter(end_at__gt=overrides_after)
    members = (
        RotationMember.objects.select_related("person")
        .prefetch_related(time_off_prefetch(after=overrides_after, lookup="person__time_off"))
        .order_by("order", "id")
    )
    return Rotation.objects.select_related("project").prefetch_related(
        Prefetch(
            "layers",
            queryset=RotationLayer.objects.order_by("order", "id").prefetch_related(
                Prefetch("memberships", queryset=members)
            ),
        ),
        Prefetch("overrides", queryset=overrides),
    )


def project_rotation_prefetches(*, overrides_after: datetime | None = None) -> list[Prefetch]:
    """Prefetches that load a project's own rotations and its team's, for `project_rotations`."""
    queryset = rotations_queryset(overrides_after=overrides_after)
    return [
        Prefetch("rotations", queryset=queryset),
        Prefetch("team__rotations", queryset=queryset.all()),
    ]


def project_rotations(project: Project) -> list[Rotation]:
    """The project's rotations, then its team's (prefetched rows when there are some)."""
    rotations = list(project.rotations.all())
    if project.team_id:
        rotations += list(project.team.rotations.all())
    return rotations


def layer_members(layer: RotationLayer) -> list[Person]:
    if isinstance(layer, LoadedLayer):
        return layer.people
    return [m.person for m in layer.memberships.all()]


def _layers(rotation: Rotation) -> list[RotationLayer]:
    if isinstance(rotation, LoadedRotation):
        return rotation.layers
    return sorted(rotation.layers.all(), key=lambda layer: (layer.order, layer.pk or 0))


def rotation_overrides(rotation: Rotation) -> list[Override]:
    if isinstance(rotation, LoadedRotation):
        return rotation.overrides
    return sorted(rotation.overrides.all(), key=lambda o: (o.start_at, o.pk or 0))


# --- many rotations at once, read as plain rows (see `oncall.bulk`) ---------------------------


@dataclass
class LoadedLayer:
    """A layer's rules read as a plain row (the same attribute names as `RotationLayer`)."""

    pk: int
    order: int
    time_zone: str
    start_date: date
    handoff_time: time
    length: str
    length_count: int
    restrict_start: time | None
    restrict_end: time | None
    restrict_days: list
    people: list[Person] = field(default_factory=list)


@dataclass
class LoadedOverride:
    pk: int
    person: Person
    covered_id: int | None
    start_at: datetime
    end_at: datetime


@dataclass
class LoadedRotation:
    pk: int
    name: str
    project_id: int | None
    team_id: int | None
    layers: list[LoadedLayer] = field(default_factory=list)
    overrides: list[LoadedOverride] = field(default_factory=list)


# --- one layer ------------------------------------------------------------------------------------


def _shift_days(layer: RotationLayer) -> int | None:
    """Local calendar days per shift, or None for shifts of N elapsed hours."""
    count = max(layer.length_count or 1, 1)
    return {
        RotationLayer.Length.DAILY: 1,
        RotationLayer.Length.WEEKLY: 7 * count,
        RotationLayer.Length.DAYS: count,
    }.get(layer.length)


def _handoff(layer: RotationLayer, day_offset: int) -> datetime:
    return local_instant(
        zone(layer.time_zone), layer.start_date + timedelta(days=day_offset), layer.handoff_time
    )


def shift_bounds(layer: RotationLayer, index: int) -> tuple[datetime, datetime]:
    """Start and end of the layer's shift number `index` (0 starts at the first handoff)."""
    days = _shift_days(layer)
    if days is None:
        length = timedelta(hours=max(layer.length_count or 1, 1))
        anchor = _handoff(layer, 0)
        return anchor + index * length, anchor + (index + 1) * length
    return _handoff(layer, index * days), _handoff(layer, (index + 1) * days)


def shift_index_at(layer: RotationLayer, at: datetime) -> int | None:
    """The number of the layer's shift running at `at` (aware; the callers here pass the UTC
    instant they already hold, read once per question rather than once per layer), or None
    before the layer starts."""
    return _shift_index(_turns(layer), at)


class _Turns(NamedTuple):
    """The fields of a layer that place its shifts (so many layers share an answer: asking who
    is on call now on thousands of rotations computes each distinct rule once)."""

    time_zone: str
    start_date: date
    handoff_time: time
    length: str
    length_count: int


def _turns(layer: RotationLayer) -> _Turns:
    return _Turns(
        layer.time_zone, layer.start_date, layer.handoff_time, layer.length, layer.length_count
    )


@lru_cache(maxsize=4096)
def _shift_index(layer: _Turns, at: datetime) -> int | None:
    days = _shift_days(layer)
    if days is None:
        anchor = _handoff(layer, 0)
        if at < anchor:
            return None
        return (at - anchor) // timedelta(hours=max(layer.length_count or 1, 1))
    local_day = at.astimezone(zone(layer.time_zone)).date()
    offset = (local_day - layer.start_date).days
    # The handoff of the local day may still be ahead (or, around a DST change, just behind).
    while at < _handoff(layer, offset):
        offset -= 1
    while at >= _handoff(layer, offset + 1):
        offset += 1
    if offset < 0:
        return None
    return offset // days


def _day_windows(layer: RotationLayer, day: date) -> list[tuple[datetime, datetime]]:
    """The layer's restriction window that opens on the local `day` (none if the day is off)."""
    if layer.restrict_days and WEEKDAYS[day.weekday()] not in layer.restrict_days:
        return []
    tz = zone(layer.time_zone)
    if layer.restrict_start is None or layer.restrict_end is None:
        start, end = (
            local_instant(tz, day, time(0)),
            local_instant(tz, day + timedelta(days=1), time(0)),
        )
    else:
        start = local_instant(tz, day, layer.restrict_start)
        end_day = day if layer.restrict_end > layer.restrict_start else day + timedelta(days=1)
        end = local_instant(tz, end_day, layer.restrict_end)
    return [(start, end)] if end > start else []


def is_restricted(layer: RotationLayer) -> bool:
    return layer.restrict_start is not None or bool(layer.restrict_days)


def layer_active_at(layer: RotationLayer, at: datetime) -> bool:
    """Whether `at` (aware, like `shift_index_at`'s) falls inside the layer's restriction (always,
    when it has none)."""
    if not is_restricted(layer):
        return True
    return _active(_window(layer), at)


class _Window(NamedTuple):
    """The fields of a layer that restrict it (shared by many layers, like `_Turns`)."""

    time_zone: str
    restrict_start: time | None
    restrict_end: time | None
    restrict_days: tuple[str, ...]


def _window(layer: RotationLayer) -> _Window:
    return _Window(
        layer.time_zone, layer.restrict_start, layer.restrict_end, tuple(layer.restrict_days or ())
    )


@lru_cache(maxsize=4096)
def _active(layer: _Window, at: datetime) -> bool:
    local_day = at.astimezone(zone(layer.time_zone)).date()
    # A window that wraps past midnight opened the local day before.
    for day in (local_day - timedelta(days=1), local_day):
        for start, end in _day_windows(layer, day):
            if start <= at < end:
                return True
    return False


def restriction_windows(
    layer: RotationLayer, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) inside the layer's restriction, in order, merged."""
    if not is_restricted(layer):
        return [(start, end)]
    tz = zone(layer.time_zone)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    windows: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        for w_start, w_end in _day_windows(layer, day):
            w_start, w_end = max(w_start, start), min(w_end, end)
            if w_end <= w_start:
                continue
            if windows and w_start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], max(windows[-1][1], w_end))
            else:
                windows.append((w_start, w_end))
        day += timedelta(days=1)
    return windows


def _away(person: Person, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) the person is away, in order, merged. Reads the time off loaded
    with the person (see `time_off_prefetch`); a person loaded without it costs a query."""
    spans: list[tuple[datetime, datetime]] = []
    for off_start, off_end in _absences(person):
        a, b = max(off_start, start), min(off_end, end)
        if b <= a:
            continue
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def _time_off(person: Person) -> Sequence[TimeOff]:
    """The person's prefetched time off, read without building the related manager (which costs
    more than the rest of `oncall_at` when thousands of rotations are asked at once)."""
    prefetched = getattr(person, "_prefetched_objects_cache", {}).get("time_off")
    return person.time_off.all() if prefetched is None else prefetched


def _absences(person: Person) -> list[tuple[datetime, datetime]]:
    """The person's time off, and, once they have left (`Person.deactivated_at`, see
    directory.services.person_deactivate), everything from then on: a leaver is away for good,
    so the next member who is not away covers, as for time off."""
    spans = [(off.start_at, off.end_at) for off in _time_off(person)]
    if person.deactivated_at is not None:
        spans.append((person.deactivated_at, datetime.max.replace(tzinfo=UTC)))
    return sorted(spans)


def _on_duty(
    members: Sequence[Person], index: int, start: datetime, end: datetime, skip: int = 0
) -> list[tuple[Person, datetime, datetime]]:
    """Who takes [start, end) of shift `index`: its member, and for the time they are away the
    next member in turn who is not (nobody, when every member is away)."""
    if skip >= len(members):
        return []
    person = members[(index + skip) % len(members)]
    pieces: list[tuple[Person, datetime, datetime]] = []
    cursor = start
    for away_start, away_end in _away(person, start, end):
        if away_start > cursor:
            pieces.append((person, cursor, away_start))
        pieces += _on_duty(members, index, away_start, away_end, skip + 1)
        cursor = away_end
    if cursor < end:
        pieces.append((person, cursor, end))
    return pieces


@dataclass(frozen=True)
class LayerShift:
    person: Person
    start: datetime
    end: datetime
    layer: RotationLayer


def layer_shifts(layer: RotationLayer, start: datetime, end: datetime) -> list[LayerShift]:
    """The layer's shifts within [start, end), cut to its restriction windows."""
    start, end = as_utc(start), as_utc(end)
    members = layer_members(layer)
    if not members or end <= start:
        return []
    index = shift_index_at(layer, start)
    if index is None:
        index = 0
    windows = restriction_windows(layer, start, end)
    shifts: list[LayerShift] = []
    w = 0
    while True:
        s_start, s_end = shift_bounds(layer, index)
        if s_start >= end:
            break
        lo, hi = max(s_start, start), min(s_end, end)
        while w < len(windows) and windows[w][1] <= lo:
            w += 1
        k = w
        while k < len(windows) and windows[k][0] < hi:
            a, b = max(lo, windows[k][0]), min(hi, windows[k][1])
            if b > a:
                shifts += [
                    LayerShift(person=person, start=p_start, end=p_end, layer=layer)
                    for person, p_start, p_end in _on_duty(members, index, a, b)
                ]
            k += 1
        index += 1
    return shifts


# --- a rotation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnCall:
    """Who is on call on a rotation at a moment, and by which rule."""

    rotation: Rotation
    person: Person
    layer: RotationLayer | None
    override: Override | None


@dataclass(frozen=True)
class Shift:
    rotation: Rotation
    person: Person
    start: datetime
    end: datetime
    layer: RotationLayer | None
    override: Override | None

    @property
    def uid(self) -> str:
        """Stable across feed refreshes, so calendar programs update rather than duplicate."""
        source = f"o{self.override.pk}" if self.override else f"l{self.layer.pk}"
        return (
            f"shift-{self.rotation.pk}-{source}-{self.person.pk}-{int(self.start.timestamp())}"
            "@steward"
        )


def _override_for(
    overrides: Sequence[Override], at: datetime, person: Person | None
) -> Override | None:
    for override in overrides:
        gone = override.person.deactivated_at  # a leaver's override covers nothing from then
        if (
            override.start_at <= at < override.end_at
            and (gone is None or at < gone)
            and (
                override.covered_id is None
                or (person is not None and override.covered_id == person.pk)
            )
        ):
            return override
    return None


def oncall_at(rotation: Rotation, at: datetime) -> OnCall | None:
    """Who is on call at `at`: an override if one applies, else the first layer with someone."""
    at = as_utc(at)
    person: Person | None = None
    chosen: RotationLayer | None = None
    for layer in _layers(rotation):
        members = layer_members(layer)
        if not members or not layer_active_at(layer, at):
            continue
        index = shift_index_at(layer, at)
        if index is None:
            continue
        on_duty = _on_duty(members, index, at, at + timedelta(microseconds=1))
        if not on_duty:
            continue
        person, chosen = on_duty[0][0], layer
        break
    override = _override_for(rotation_overrides(rotation), at, person)
    if override is not None:
        return OnCall(rotation=rotation, person=override.person, layer=chosen, override=override)
    if person is None:
        return None
    return OnCall(rotation=rotation, person=person, layer=chosen, override=None)


def steady_until(rotation, at: datetime, *, longest: timedelta = STEADY_LONGEST) -> datetime:
    """The first moment after `at` at which `oncall_at(rotation, ·)` may answer differently
    (`at + longest` at the latest): the next handoff or restriction edge of a layer with members,
    the next start or end of a member's time off or their leaving, and the next start or end of
    an override or its person's leaving. Never later than the answer's first change; it may come
    earlier, when an edge changes nothing."""
    at = as_utc(at)
    until = at + longest
    moments: list[datetime | None] = []
    for layer in _layers(rotation):
        members = layer_members(layer)
        if not members:
            continue
        moments.append(_next_handoff(_turns(layer), at))
        if is_restricted(layer):
            moments.append(_next_window_edge(_window(layer), at, longest))
        for person in members:
            if person.deactivated_at is not None or _time_off(person):
                moments += [moment for span in _absences(person) for moment in span]
    for override in rotation_overrides(rotation):
        moments += [override.start_at, override.end_at, override.person.deactivated_at]
    for moment in moments:
        if moment is not None and at < moment < until:
            until = moment
    return until


@lru_cache(maxsize=4096)
def _next_handoff(layer: _Turns, at: datetime) -> datetime:
    """The end of the shift running at `at`, or the first handoff when none is yet."""
    index = _shift_index(layer, at)
    return shift_bounds(layer, 0)[0] if index is None else shift_bounds(layer, index)[1]


@lru_cache(maxsize=4096)
def _next_window_edge(layer: _Window, at: datetime, longest: timedelta) -> datetime | None:
    """The first opening or closing of the restriction window after `at`, within `longest`."""
    for start, end in restriction_windows(layer, at, at + longest):
        for moment in (start, end):
            if moment > at:
                return moment
    return None


def _joined(earlier: Shift, later: Shift) -> Shift | None:
    """`earlier` run on to the end of `later` when `later`, starting where `earlier` ends, is the
    same shift going on (the same person, by the same override or else the same layer); else
    None."""
    if (
        later.start == earlier.end
        and later.person.pk == earlier.person.pk
        and later.override == earlier.override
        and (later.override is not None or later.layer == earlier.layer)
    ):
        return Shift(earlier.rotation, earlier.person, earlier.start, later.end, earlier.layer,
                     earlier.override)  # fmt: skip
    return None


def rotation_shifts(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """Every shift of the rotation within [start, end), as the rotation resolves them: the first
    layer with someone wins, overrides beat the layers; adjacent pieces of one shift are joined."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    if end - start > MAX_RANGE:
        raise ValueError(f"a shift listing covers at most {MAX_RANGE.days} days")
    per_layer = [layer_shifts(layer, start, end) for layer in _layers(rotation)]
    overrides = [o for o in rotation_overrides(rotation) if o.end_at > start and o.start_at < end]
    cuts = {start, end}
    for shifts in per_layer:
        for s in shifts:
            cuts.update((s.start, s.end))
    for o in overrides:
        cuts.update((max(o.start_at, start), min(o.end_at, end)))
    bounds = sorted(c for c in cuts if start <= c <= end)
    pointers = [0] * len(per_layer)
    result: list[Shift] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        winner: LayerShift | None = None
        for i, shifts in enumerate(per_layer):
            while pointers[i] < len(shifts) and shifts[pointers[i]].end <= a:
                pointers[i] += 1
            if pointers[i] < len(shifts) and shifts[pointers[i]].start <= a:
                winner = shifts[pointers[i]]
                break
        person = winner.person if winner else None
        override = _override_for(overrides, a, person)
        if override is not None:
            person = override.person
        if person is None:
            continue
        shift = Shift(rotation, person, a, b, winner.layer if winner else None, override)
        joined = _joined(result[-1], shift) if result else None
        if joined is not None:
            result[-1] = joined
        else:
            result.append(shift)
    return result


def next_oncall(rotation: Rotation, at: datetime) -> Shift | None:
    """The first shift after the one running at `at` that someone else takes (or, when nobody is
    on call at `at`, the next shift at all), within `NEXT_HORIZON`.

    The same answer as scanning `rotation_shifts` over the whole horizon, found a stretch at a
    time (two days, then twice as long each time): most rotations hand over within days, and the
    project page and the support API ask on every request. A shift found at a stretch's end is
    followed into the next stretches until it really ends, so it is never cut short."""
    at = as_utc(at)
    current = oncall_at(rotation, at)
    horizon = at + NEXT_HORIZON
    found: Shift | None = None
    start, step = at, NEXT_FIRST_STRETCH
    while start < horizon:
        end = min(start + step, horizon)
        for shift in rotation_shifts(rotation, start, end):
            if found is None:
                if shift.start > at and (current is None or shift.person.pk != current.person.pk):
                    found = shift
                continue
            # The listing joins what it can: a shift after the one found ends it, unless the
            # found one was cut at the last stretch's end and this one goes on with it.
            joined = _joined(found, shift)
            if joined is None:
                return found
            found = joined
        if found is not None and found.end < end:  # it ended within this stretch
            return found
        start, step = end, step * 2
    return found


def person_shifts(person: Person, start: datetime, end: datetime) -> list[Shift]:
    """A person's shifts across every rotation they take part in (as a member or covering)."""
    rotations = rotations_queryset().filter(
        Q(layers__memberships__person=person) | Q(overrides__person=person)
    )
    shifts = []
    for rotation in rotations.distinct():
        shifts += [s for s in rotation_shifts(rotation, start, end) if s.person.pk == person.pk]
    return sorted(shifts, key=lambda s: (s.start, s.rotation.pk))


# --- a project ------------------------------------------------------------------------------------


@dataclass
class ProjectOnCall:
    now: list[OnCall] = field(default_factory=list)
    next: list[Shift] = field(default_factory=list)


def project_oncall(project: Project, at: datetime, *, with_next: bool = True) -> ProjectOnCall:
    """On call now on each of the project's rotations (and who takes over next)."""
    return rotations_oncall(project_rotations(project), at, with_next=with_next)


def rotations_oncall(
    rotations: Sequence[Rotation], at: datetime, *, with_next: bool = True
) -> ProjectOnCall:
    """On call now on each of these rotations (and who takes over next): a project's, or an IT
    system's."""
    result = ProjectOnCall()
    for rotation in rotations:
        current = oncall_at(rotation, at)
        if current is not None:
            result.now.append(current)
        if with_next:
            upcoming = next_oncall(rotation, at)
            if upcoming is not None:
                result.next.append(upcoming)
    return result
