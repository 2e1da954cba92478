"""Coverage of a set of rotations: the day-by-hour grid in a viewer's zone, and the exact gaps."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from registry.models import Person
from registry.selectors import is_within_working_hours

from .models import Rotation
from .schedule import Shift, as_utc, local_instant, rotation_shifts, zone

# Coverage is sampled every quarter hour: fine enough for every zone offset in use (+05:45).
COVERAGE_TICK = timedelta(minutes=15)


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
    first_day = as_utc(start).astimezone(tz).date()
    grid_start = local_instant(tz, first_day, time(0))
    grid_end = local_instant(tz, first_day + timedelta(days=days), time(0))
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
            c_start = local_instant(tz, day, time(hour))
            c_end = (
                local_instant(tz, day, time(hour + 1))
                if hour < 23
                else local_instant(tz, day + timedelta(days=1), time(0))
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
    start, end = as_utc(start), as_utc(end)
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
