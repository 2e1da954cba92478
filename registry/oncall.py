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
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from .models import (
    EscalationLevel,
    EscalationPolicy,
    Override,
    Person,
    Project,
    ProjectRole,
    Rotation,
    RotationLayer,
    RotationMember,
)
from .selectors import is_within_working_hours
from .validators import WEEKDAYS

# How far ahead "on call next" looks, and the longest range a shift listing may cover.
NEXT_HORIZON = timedelta(days=29)
MAX_RANGE = timedelta(days=400)
# Coverage is sampled every quarter hour: fine enough for every zone offset in use (+05:45).
COVERAGE_TICK = timedelta(minutes=15)


@lru_cache(maxsize=512)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _instant(tz: zoneinfo.ZoneInfo, day: date, at: time) -> datetime:
    """A local wall time on a local day, as an instant in UTC."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _utc(at: datetime) -> datetime:
    if timezone.is_naive(at):
        raise ValueError("on-call times must be aware datetimes")
    return at.astimezone(UTC)


# --- reading the rules ----------------------------------------------------------------------------


def rotations_queryset(*, overrides_after: datetime | None = None) -> QuerySet[Rotation]:
    """Rotations with their layers, members and overrides (those ending after `overrides_after`,
    all of them when None): four queries for any number of rotations."""
    overrides = Override.objects.select_related("person", "covered").order_by("start_at", "id")
    if overrides_after is not None:
        overrides = overrides.filter(end_at__gt=overrides_after)
    return Rotation.objects.select_related("project").prefetch_related(
        Prefetch(
            "layers",
            queryset=RotationLayer.objects.order_by("order", "id").prefetch_related(
                Prefetch(
                    "memberships",
                    queryset=RotationMember.objects.select_related("person").order_by(
                        "order", "id"
                    ),
                )
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


def _overrides(rotation: Rotation) -> list[Override]:
    if isinstance(rotation, LoadedRotation):
        return rotation.overrides
    return sorted(rotation.overrides.all(), key=lambda o: (o.start_at, o.pk or 0))


# --- many rotations at once, read as plain rows -----------------------------------------------


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


def load_rotations(*, at: datetime, rotation_filter: Q | None = None) -> list[LoadedRotation]:
    """Every rotation's rules and the overrides not over at `at`, as plain rows (four queries,
    each person read and decoded once): for answering "who is on call" across thousands of
    projects. The results work with `oncall_at`, `rotation_shifts` and the rest like rotations
    from the ORM."""
    at = _utc(at)
    layer_rows = RotationLayer.objects.order_by("rotation_id", "order", "id")
    member_rows = RotationMember.objects.order_by("layer_id", "order", "id")
    override_rows = Override.objects.filter(end_at__gt=at).order_by("rotation_id", "start_at", "id")
    if rotation_filter is not None:
        chosen = Rotation.objects.filter(rotation_filter)
        layer_rows = layer_rows.filter(rotation__in=chosen)
        member_rows = member_rows.filter(layer__rotation__in=chosen)
        override_rows = override_rows.filter(rotation__in=chosen)
    rotations: dict[int, LoadedRotation] = {}
    layers: dict[int, LoadedLayer] = {}
    for (
        layer_id, rotation_id, name, project_id, team_id, order, tz, start_date, handoff,
        length, count, r_start, r_end, r_days,
    ) in layer_rows.values_list(
        "id", "rotation_id", "rotation__name", "rotation__project_id", "rotation__team_id",
        "order", "time_zone", "start_date", "handoff_time", "length", "length_count",
        "restrict_start", "restrict_end", "restrict_days",
    ):  # fmt: skip
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        layer = layers[layer_id] = LoadedLayer(
            layer_id, order, tz, start_date, handoff, length, count, r_start, r_end, r_days
        )
        rotation.layers.append(layer)
    memberships = list(member_rows.values_list("layer_id", "person_id"))
    overrides = list(
        override_rows.values_list(
            "id", "rotation_id", "rotation__name", "rotation__project_id", "rotation__team_id",
            "covered_id", "start_at", "end_at", "person_id",
        )
    )  # fmt: skip
    person_ids = {person_id for _, person_id in memberships} | {row[-1] for row in overrides}
    people = {
        p.pk: p
        for p in Person.objects.filter(pk__in=person_ids).only(
            "id", "display_name", "time_zone", "working_hours"
        )
    }
    # A row written or deleted between these reads waits for the next call.
    for layer_id, person_id in memberships:
        layer, person = layers.get(layer_id), people.get(person_id)
        if layer is not None and person is not None:
            layer.people.append(person)
    for pk, rotation_id, name, project_id, team_id, covered_id, start, end, person_id in overrides:
        if person_id not in people:
            continue
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        rotation.overrides.append(LoadedOverride(pk, people[person_id], covered_id, start, end))
    return list(rotations.values())


def oncall_now_by_project(*, at: datetime) -> dict[int, list[OnCall]]:
    """project id → who is on call at `at` on each of its own rotations, for every project."""
    result: dict[int, list[OnCall]] = {}
    for rotation in load_rotations(at=at, rotation_filter=Q(project__isnull=False)):
        current = oncall_at(rotation, at)
        if current is not None:
            result.setdefault(rotation.project_id, []).append(current)
    return result


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
    return _instant(
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
    """The number of the layer's shift running at `at`, or None before the layer starts."""
    at = _utc(at)
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
        start, end = _instant(tz, day, time(0)), _instant(tz, day + timedelta(days=1), time(0))
    else:
        start = _instant(tz, day, layer.restrict_start)
        end_day = day if layer.restrict_end > layer.restrict_start else day + timedelta(days=1)
        end = _instant(tz, end_day, layer.restrict_end)
    return [(start, end)] if end > start else []


def is_restricted(layer: RotationLayer) -> bool:
    return layer.restrict_start is not None or bool(layer.restrict_days)


def layer_active_at(layer: RotationLayer, at: datetime) -> bool:
    """Whether `at` falls inside the layer's restriction (always, when it has none)."""
    if not is_restricted(layer):
        return True
    at = _utc(at)
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


@dataclass(frozen=True)
class LayerShift:
    person: Person
    start: datetime
    end: datetime
    layer: RotationLayer


def layer_shifts(layer: RotationLayer, start: datetime, end: datetime) -> list[LayerShift]:
    """The layer's shifts within [start, end), cut to its restriction windows."""
    start, end = _utc(start), _utc(end)
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
        person = members[index % len(members)]
        lo, hi = max(s_start, start), min(s_end, end)
        while w < len(windows) and windows[w][1] <= lo:
            w += 1
        k = w
        while k < len(windows) and windows[k][0] < hi:
            a, b = max(lo, windows[k][0]), min(hi, windows[k][1])
            if b > a:
                shifts.append(LayerShift(person=person, start=a, end=b, layer=layer))
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
        if override.start_at <= at < override.end_at and (
            override.covered_id is None or (person is not None and override.covered_id == person.pk)
        ):
            return override
    return None


def oncall_at(rotation: Rotation, at: datetime) -> OnCall | None:
    """Who is on call at `at`: an override if one applies, else the first layer with someone."""
    at = _utc(at)
    person: Person | None = None
    chosen: RotationLayer | None = None
    for layer in _layers(rotation):
        members = layer_members(layer)
        if not members or not layer_active_at(layer, at):
            continue
        index = shift_index_at(layer, at)
        if index is None:
            continue
        person, chosen = members[index % len(members)], layer
        break
    override = _override_for(_overrides(rotation), at, person)
    if override is not None:
        return OnCall(rotation=rotation, person=override.person, layer=chosen, override=override)
    if person is None:
        return None
    return OnCall(rotation=rotation, person=person, layer=chosen, override=None)


def rotation_shifts(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """Every shift of the rotation within [start, end), as the rotation resolves them: the first
    layer with someone wins, overrides beat the layers; adjacent pieces of one shift are joined."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    if end - start > MAX_RANGE:
        raise ValueError(f"a shift listing covers at most {MAX_RANGE.days} days")
    per_layer = [layer_shifts(layer, start, end) for layer in _layers(rotation)]
    overrides = [o for o in _overrides(rotation) if o.end_at > start and o.start_at < end]
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
        layer = winner.layer if winner else None
        previous = result[-1] if result else None
        if (
            previous is not None
            and previous.end == a
            and previous.person.pk == person.pk
            and previous.override == override
            and (override is not None or previous.layer == layer)
        ):
            result[-1] = Shift(rotation, person, previous.start, b, previous.layer, override)
        else:
            result.append(Shift(rotation, person, a, b, layer, override))
    return result


def next_oncall(rotation: Rotation, at: datetime) -> Shift | None:
    """The first shift after the one running at `at` that someone else takes (or, when nobody is
    on call at `at`, the next shift at all)."""
    at = _utc(at)
    current = oncall_at(rotation, at)
    for shift in rotation_shifts(rotation, at, at + NEXT_HORIZON):
        if shift.start <= at:
            continue
        if current is None or shift.person.pk != current.person.pk:
            return shift
    return None


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
    result = ProjectOnCall()
    for rotation in project_rotations(project):
        current = oncall_at(rotation, at)
        if current is not None:
            result.now.append(current)
        if with_next:
            upcoming = next_oncall(rotation, at)
            if upcoming is not None:
                result.next.append(upcoming)
    return result


def fill_on_call(support: Any) -> None:
    """Fill `Support.on_call_now` / `on_call_next` (see `registry.selectors.support_for`): each
    rotation's person on call now, with their local time now, and who takes over next, with their
    local time when they do. Loads the project's rotations when the caller did not prefetch them
    (a fixed number of queries either way)."""
    from .selectors import supporter_for

    project, at = support.project, support.at
    prefetch_related_objects([project], *project_rotation_prefetches(overrides_after=at))
    current = project_oncall(project, at)
    takeover = {shift.rotation.pk: shift for shift in current.next}
    support.on_call_now = [
        replace(
            supporter_for(c.person, role="on_call", order=i, at=at),
            rotation=c.rotation.name,
            shift_end=takeover[c.rotation.pk].start if c.rotation.pk in takeover else None,
        )
        for i, c in enumerate(current.now)
    ]
    support.on_call_next = [
        replace(
            supporter_for(s.person, role="on_call_next", order=i, at=s.start),
            rotation=s.rotation.name,
            shift_start=s.start,
            shift_end=s.end,
        )
        for i, s in enumerate(current.next)
    ]


# --- coverage -------------------------------------------------------------------------------------


class Coverage:
    COVERED = "covered"
    ASLEEP = "asleep"  # someone is on call, but outside their own working hours
    UNCOVERED = "uncovered"


@dataclass(frozen=True)
class CoverageCell:
    start: datetime  # UTC
    end: datetime
    hour: int  # the viewer's local hour
    state: str | None  # None: an hour that does not exist locally (spring forward)
    people: tuple[Person, ...]


@dataclass(frozen=True)
class CoverageDay:
    day: date
    cells: list[CoverageCell]

    @property
    def counts(self) -> dict[str, int]:
        counts = {Coverage.COVERED: 0, Coverage.ASLEEP: 0, Coverage.UNCOVERED: 0}
        for cell in self.cells:
            if cell.state:
                counts[cell.state] += 1
        return counts


class _Timeline:
    """A rotation's shifts, for answering "who at t" by bisection."""

    def __init__(self, shifts: list[Shift]) -> None:
        self.shifts = shifts
        self.starts = [s.start for s in shifts]

    def at(self, moment: datetime) -> Person | None:
        i = bisect_right(self.starts, moment) - 1
        if i >= 0 and self.shifts[i].end > moment:
            return self.shifts[i].person
        return None


def coverage_grid(
    rotations: Iterable[Rotation], *, time_zone: str, start: datetime, days: int = 14
) -> list[CoverageDay]:
    """Day by hour, in the viewer's zone, from the local midnight of `start` for `days` days:
    uncovered when at any quarter hour nobody is on call on any rotation; asleep when at some
    quarter hour everyone on call is outside their working hours; covered otherwise."""
    tz = zone(time_zone)
    first_day = _utc(start).astimezone(tz).date()
    grid_start = _instant(tz, first_day, time(0))
    grid_end = _instant(tz, first_day + timedelta(days=days), time(0))
    timelines = [_Timeline(rotation_shifts(r, grid_start, grid_end)) for r in rotations]
    awake_cache: dict[tuple[int, datetime], bool] = {}

    def awake(person: Person, moment: datetime) -> bool:
        key = (person.pk, moment)
        if key not in awake_cache:
            awake_cache[key] = is_within_working_hours(person, moment)
        return awake_cache[key]

    grid = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        cells = []
        for hour in range(24):
            c_start = _instant(tz, day, time(hour))
            c_end = (
                _instant(tz, day, time(hour + 1))
                if hour < 23
                else _instant(tz, day + timedelta(days=1), time(0))
            )
            # A local hour skipped by a spring-forward change maps onto the next one.
            if c_start.astimezone(tz).replace(tzinfo=None) != datetime.combine(day, time(hour)):
                cells.append(CoverageCell(c_start, c_start, hour, None, ()))
                continue
            state = Coverage.COVERED
            people: dict[int, Person] = {}
            tick = c_start
            while tick < c_end:
                on_call = [p for p in (t.at(tick) for t in timelines) if p is not None]
                if not on_call:
                    state = Coverage.UNCOVERED
                elif state == Coverage.COVERED and not any(awake(p, tick) for p in on_call):
                    state = Coverage.ASLEEP
                for p in on_call:
                    people.setdefault(p.pk, p)
                tick += COVERAGE_TICK
            cells.append(CoverageCell(c_start, c_end, hour, state, tuple(people.values())))
        grid.append(CoverageDay(day, cells))
    return grid


def uncovered_ranges(
    rotations: Iterable[Rotation], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The exact stretches of [start, end) when nobody is on call on any of the rotations."""
    start, end = _utc(start), _utc(end)
    covered: list[tuple[datetime, datetime]] = []
    for rotation in rotations:
        covered += [(s.start, s.end) for s in rotation_shifts(rotation, start, end)]
    covered.sort()
    gaps, cursor = [], start
    for a, b in covered:
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps


# --- escalation -----------------------------------------------------------------------------------


def _default_delay() -> timedelta:
    return timedelta(seconds=settings.STEWARD_ESCALATION_DELAY_SECONDS)


def _roles(project: Project) -> list[ProjectRole]:
    return sorted(
        ProjectRole.objects.filter(project=project).select_related("person"),
        key=lambda r: (r.order, r.pk),
    )


def escalation_levels(
    project: Project,
    event_systems: Iterable | None,
    at: datetime | None = None,
    *,
    it_contacts: list[Person] | None = None,
) -> list[tuple[list[Person], timedelta]]:
    """Who to page, level by level, with the wait before the next level: the project's escalation
    policy when it has one, else on-call → owners and maintainers → backups → IT contacts of the
    event's systems. Rotations resolve to whoever is on call at `at` (now by default); a level
    may come out empty (nobody on call), which the caller skips.

    Cheap enough to call once per project of a large outage: two queries for a project with no
    rotation and no policy, and none for the IT contacts when the caller passes `it_contacts`
    (the same for every project of one event).
    """
    at = _utc(at or timezone.now())
    owned = Q(project_id=project.pk)
    if project.team_id:
        owned |= Q(team_id=project.team_id)
    flags = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            has_policy=Exists(EscalationPolicy.objects.filter(project_id=OuterRef("pk"))),
            has_rotations=Exists(Rotation.objects.filter(owned)),
        )
        .values("has_policy", "has_rotations")
        .first()
    ) or {"has_policy": False, "has_rotations": False}
    roles = _roles(project)
    owners = [r.person for r in roles if r.role != ProjectRole.Role.BACKUP]
    backups = [r.person for r in roles if r.role == ProjectRole.Role.BACKUP]

    def contacts() -> list[Person]:
        if it_contacts is not None:
            return list(it_contacts)
        systems = list(event_systems or [])
        if not systems:
            return []
        return list(Person.objects.filter(it_systems__in=systems).distinct().order_by("id"))

    def rotations(**filters: Any) -> list[Rotation]:
        if not flags["has_rotations"]:
            return []
        return list(rotations_queryset(overrides_after=at).filter(owned, **filters))

    if not flags["has_policy"]:
        on_call = [c.person for c in (oncall_at(r, at) for r in rotations()) if c is not None]
        delay = _default_delay()
        return [(on_call, delay), (owners, delay), (backups, delay), (contacts(), delay)]

    levels = list(
        EscalationLevel.objects.filter(policy__project=project)
        .select_related("person", "team")
        .order_by("order", "id")
    )
    rotation_ids = [level.rotation_id for level in levels if level.rotation_id]
    by_id = {r.pk: r for r in rotations(pk__in=rotation_ids)} if rotation_ids else {}
    result = []
    for level in levels:
        kind = level.target
        if kind == EscalationLevel.Target.ROTATION:
            rotation = by_id.get(level.rotation_id)
            current = oncall_at(rotation, at) if rotation is not None else None
            people = [current.person] if current else []
        elif kind == EscalationLevel.Target.PERSON:
            people = [level.person]
        elif kind == EscalationLevel.Target.TEAM:
            people = list(level.team.members.order_by("id"))
        elif kind == EscalationLevel.Target.IT_CONTACTS:
            people = contacts()
        elif kind == EscalationLevel.Target.OWNERS:
            people = list(owners)
        else:
            people = list(backups)
        result.append((people, timedelta(minutes=level.delay_minutes)))
    return result


def escalation_repeats(project: Project) -> int:
    """How many more passes through the levels after the first (the policy's, else the default)."""
    repeat = (
        EscalationPolicy.objects.filter(project=project)
        .values_list("repeat_count", flat=True)
        .first()
    )
    return settings.STEWARD_ESCALATION_REPEATS if repeat is None else repeat


@dataclass
class ProjectEscalation:
    """One project's escalation, as `escalation_levels` and `escalation_repeats` answer it."""

    levels: list[tuple[list[Person], timedelta]]
    repeats: int


def escalation_many(
    projects: Sequence[Project],
    at: datetime | None = None,
    *,
    it_contacts: list[Person],
) -> dict[int, ProjectEscalation]:
    """`escalation_levels` and `escalation_repeats` for many projects of one event at once, in a
    fixed number of queries whatever their number (roles, policies with their levels and teams,
    the rotations of the projects and their teams as plain rows): the path of an outage that
    touches thousands of projects. Gives the same answer as the single-project functions
    (tests/registry/test_oncall_escalation.py checks both agree). Keyed by project id."""
    at = _utc(at or timezone.now())
    ids = [p.pk for p in projects]
    team_of = {p.pk: p.team_id for p in projects}
    team_ids = {t for t in team_of.values() if t}
    if not ids:
        return {}
    # Each person read once however many projects they hold a role on (pages keep person ids;
    # the people are read again with their contact methods).
    role_rows = list(
        ProjectRole.objects.filter(project_id__in=ids)
        .order_by("project_id", "order", "id")
        .values_list("project_id", "person_id", "role")
    )
    role_people = Person.objects.only("id", "display_name").in_bulk(
        list({person_id for _, person_id, _ in role_rows})
    )
    roles: dict[int, list[tuple[Person, str]]] = {}
    for project_id, person_id, role in role_rows:
        roles.setdefault(project_id, []).append((role_people[person_id], role))
    policies = {
        p.project_id: p
        for p in EscalationPolicy.objects.filter(project_id__in=ids).only(
            "id", "project_id", "repeat_count"
        )
    }
    levels_of: dict[int, list[EscalationLevel]] = {}
    if policies:
        for level in (
            EscalationLevel.objects.filter(policy__project_id__in=list(policies))
            .select_related("person", "team", "policy")
            .prefetch_related(Prefetch("team__members", queryset=Person.objects.order_by("id")))
            .order_by("policy_id", "order", "id")
        ):
            levels_of.setdefault(level.policy.project_id, []).append(level)
    owned = Q(project_id__in=ids)
    if team_ids:
        owned |= Q(team_id__in=team_ids)
    # The rotations' order as the single-project path reads them (Rotation's Meta ordering, in
    # the database's collation), then their rules as plain rows.
    order = {
        pk: i for i, pk in enumerate(Rotation.objects.filter(owned).values_list("pk", flat=True))
    }
    loaded = load_rotations(at=at, rotation_filter=owned) if order else []
    by_owner: dict[tuple[str, int], list[LoadedRotation]] = {}
    rotation_by_id: dict[int, LoadedRotation] = {}
    for rotation in sorted(loaded, key=lambda r: order.get(r.pk, len(order))):
        rotation_by_id[rotation.pk] = rotation
        owner = ("p", rotation.project_id) if rotation.project_id else ("t", rotation.team_id)
        by_owner.setdefault(owner, []).append(rotation)

    delay = _default_delay()
    result: dict[int, ProjectEscalation] = {}
    for pid in ids:
        project_roles = roles.get(pid, [])
        owners = [person for person, role in project_roles if role != ProjectRole.Role.BACKUP]
        backups = [person for person, role in project_roles if role == ProjectRole.Role.BACKUP]
        mine = by_owner.get(("p", pid), []) + (
            by_owner.get(("t", team_of[pid]), []) if team_of[pid] else []
        )
        # Own rotations and the team's, in the single path's order.
        mine.sort(key=lambda r: order.get(r.pk, len(order)))
        policy = policies.get(pid)
        if policy is None:
            on_call = [c.person for c in (oncall_at(r, at) for r in mine) if c is not None]
            result[pid] = ProjectEscalation(
                levels=[
                    (on_call, delay),
                    (owners, delay),
                    (backups, delay),
                    (list(it_contacts), delay),
                ],
                repeats=settings.STEWARD_ESCALATION_REPEATS,
            )
            continue
        mine_ids = {r.pk for r in mine}
        levels = []
        for level in levels_of.get(pid, []):
            kind = level.target
            if kind == EscalationLevel.Target.ROTATION:
                rotation = rotation_by_id.get(level.rotation_id)
                current = (
                    oncall_at(rotation, at)
                    if rotation is not None and rotation.pk in mine_ids
                    else None
                )
                people = [current.person] if current else []
            elif kind == EscalationLevel.Target.PERSON:
                people = [level.person]
            elif kind == EscalationLevel.Target.TEAM:
                people = list(level.team.members.all())
            elif kind == EscalationLevel.Target.IT_CONTACTS:
                people = list(it_contacts)
            elif kind == EscalationLevel.Target.OWNERS:
                people = list(owners)
            else:
                people = list(backups)
            levels.append((people, timedelta(minutes=level.delay_minutes)))
        result[pid] = ProjectEscalation(levels=levels, repeats=policy.repeat_count)
    return result
