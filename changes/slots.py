"""The quietest slot for an IT change: given the systems it touches, how long it takes and a range
of dates, the few best start times, each with the reasons for its score.

A slot starts on a whole UTC hour. For every hour of the range (the *buckets*) the search knows,
as arrays, three things about the touched projects, and scores every start at once:

- **someone can respond**: the projects with an owner or maintainer, or the person on call on
  one of the project's rotations, inside their working hours in every hour of the window;
- **users are not leaning on it**: the projects whose declared busy hours (`Project.busy_hours`,
  in the project's zone) overlap the window;
- **little traffic**: the problem reports Steward received on the touched projects in the same
  hours of the week over the last weeks (when there are any).

Score, 0–100: ``100 × (0.5 × responders + 0.35 × (1 − busy) + 0.15 × (1 − traffic))``, where
`responders` and `busy` are shares of the touched projects and `traffic` is the window's reports
over those of the busiest window (without reports its weight is shared out to the other two).
Starts whose window overlaps a blocked interval (`_blocked_intervals`) are left out; the best
start wins, an earlier one on a tie, and each further suggestion does not overlap those before.

The work is set-based: a fixed number of queries whatever the number of projects; people and
projects are grouped by their weekly pattern (zone and hours), each pattern is turned into one
boolean array over the buckets, and windows are summed with cumulative sums (numpy).
"""

from __future__ import annotations

import json
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from oncall.bulk import load_rotations
from oncall.models import Rotation
from oncall.schedule import rotation_shifts
from registry.models import ITSystem
from registry.permissions import EDITING_ROLES
from registry.selectors import impacted_projects_for
from registry.validators import WEEKDAYS

from .conflicts import PLANNED_STATES, blackout_intervals, related_systems
from .models import Change

HOUR = timedelta(hours=1)
DEFAULT_RANGE = timedelta(days=14)
MAX_RANGE = timedelta(days=90)
# A search starts within the year ahead (a plan further out is a guess about who works then).
FARTHEST_START = timedelta(days=366)
MIN_DURATION_MINUTES = 15
MAX_DURATION_MINUTES = 7 * 24 * 60
DEFAULT_COUNT = 5
MAX_COUNT = 20
# How far back the report traffic is read, in whole weeks (so every hour of the week counts alike).
TRAFFIC_WEEKS = 8
WEIGHT_RESPONDERS = 0.5
WEIGHT_QUIET = 0.35
WEIGHT_TRAFFIC = 0.15
# States of the changes a slot may not overlap (on the same systems).
BLOCKING_STATES = PLANNED_STATES
MINUTES_PER_WEEK = 7 * 24 * 60


@dataclass(frozen=True)
class Slot:
    start_at: datetime
    end_at: datetime
    score: float
    project_count: int
    # Touched projects with someone (owner, maintainer or on call) in working hours all along.
    projects_with_responder: int
    # People (owners, maintainers, on call) of the touched projects in working hours at the start.
    responders_at_start: int
    # Touched projects whose declared busy hours overlap the window.
    busy_projects: int
    # Problem reports on the touched projects in these hours of the week, over TRAFFIC_WEEKS.
    reports_in_window: int
    traffic_level: float | None  # 0–1 against the busiest window; None without reports

    @property
    def projects_without_responder(self) -> int:
        return self.project_count - self.projects_with_responder


@dataclass(frozen=True)
class SlotSearch:
    systems: list[ITSystem]
    duration: timedelta
    range_start: datetime
    range_end: datetime
    project_count: int
    people_count: int
    has_traffic: bool
    blocked: list[tuple[datetime, datetime]]
    slots: list[Slot]


# --- input ---------------------------------------------------------------------------------------


def ceil_hour(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    floor = at.replace(minute=0, second=0, microsecond=0)
    return floor if floor == at else floor + HOUR


def clean_search(
    *,
    duration_minutes: int,
    range_start: datetime | None,
    range_end: datetime | None,
    count: int,
    now: datetime,
) -> tuple[timedelta, datetime, datetime]:
    """The window and range, or a ValidationError naming the field."""
    if not MIN_DURATION_MINUTES <= duration_minutes <= MAX_DURATION_MINUTES:
        raise ValidationError(
            {
                "duration_minutes": f"Give between {MIN_DURATION_MINUTES} minutes and "
                f"{MAX_DURATION_MINUTES // 1440} days."
            }
        )
    if not 1 <= count <= MAX_COUNT:
        raise ValidationError({"count": f"Ask for between 1 and {MAX_COUNT} slots."})
    if range_start is not None and range_start > now + FARTHEST_START:
        raise ValidationError(
            {"range_start": f"Start the search within the next {FARTHEST_START.days} days."}
        )
    if range_end is not None and range_end > now + FARTHEST_START + MAX_RANGE:
        raise ValidationError(
            {"range_end": f"Search at most {MAX_RANGE.days} days at once; narrow the range."}
        )
    start = max(range_start or now, now)
    end = range_end or start + DEFAULT_RANGE
    if end <= start:
        raise ValidationError({"range_end": "The range must end after it starts (and after now)."})
    if end - start > MAX_RANGE:
        raise ValidationError(
            {"range_end": f"Search at most {MAX_RANGE.days} days at once; narrow the range."}
        )
    duration = timedelta(minutes=duration_minutes)
    if ceil_hour(start) + duration > end:
        raise ValidationError(
            {"duration_minutes": "The change does not fit in the range: widen it or shorten this."}
        )
    return duration, start, end


# --- conflicts -----------------------------------------------------------------------------------


def _blocked_intervals(
    system_ids: Iterable[int], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Intervals within [start, end) in which a change on these systems may not run: what
    `changes.conflicts` calls a conflict. The windows of other scheduled or in-progress changes
    on these systems or on systems related to them over the dependency graph (upstream or
    downstream, transitively), and the occurrences of blackouts, company-wide or on any of
    those systems. A fixed number of queries."""
    related = list(related_systems(system_ids))
    windows = (
        Change.objects.filter(
            systems__in=related,
            state__in=BLOCKING_STATES,
            planned_start_at__lt=end,
            planned_end_at__gt=start,
        )
        .distinct()
        .values_list("planned_start_at", "planned_end_at")
    )
    freezes = [
        (interval.start_at, interval.end_at)
        for interval in blackout_intervals(start_at=start, end_at=end, system_ids=related)
    ]
    return sorted([*windows, *freezes])


def overlaps_blocked(
    system_ids: Iterable[int], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    return [(s, e) for s, e in _blocked_intervals(system_ids, start, end) if s < end and e > start]


# --- weekly patterns over the buckets ------------------------------------------------------------


class _Buckets:
    """The hours of the range, and for each zone the local minute of the week of each hour."""

    def __init__(self, start: datetime, hours: int) -> None:
        self.start = start
        self.hours = hours
        self._minute_of_week: dict[str, np.ndarray] = {}
        self._patterns: dict[tuple[str, str], np.ndarray] = {}

    def minute_of_week(self, zone: str) -> np.ndarray:
        found = self._minute_of_week.get(zone)
        if found is None:
            tz = zoneinfo.ZoneInfo(zone)
            values = np.empty(self.hours, dtype=np.int32)
            for i in range(self.hours):
                local = (self.start + i * HOUR).astimezone(tz)
                values[i] = local.weekday() * 1440 + local.hour * 60 + local.minute
            found = self._minute_of_week[zone] = values
        return found

    def pattern(self, zone: str, hours: dict) -> np.ndarray:
        """Whether each bucket's start is inside these weekly hours, read in `zone`."""
        key = (zone, json.dumps(hours, sort_keys=True))
        found = self._patterns.get(key)
        if found is None:
            week = np.zeros(MINUTES_PER_WEEK, dtype=bool)
            for day_index, day in enumerate(WEEKDAYS):
                for start, end in (hours or {}).get(day, []):
                    a, b = _minutes(start), _minutes(end)
                    week[day_index * 1440 + a : day_index * 1440 + b] = True
            found = self._patterns[key] = week[self.minute_of_week(zone)]
        return found

    def mask(self, start: datetime, end: datetime) -> np.ndarray:
        """Buckets whose start falls in [start, end)."""
        result = np.zeros(self.hours, dtype=bool)
        a = max(0, math.ceil((start - self.start) / HOUR))
        b = min(self.hours, math.ceil((end - self.start) / HOUR))
        if a < b:
            result[a:b] = True
        return result


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _window_sums(rows: np.ndarray, width: int) -> np.ndarray:
    """For each row and each start i, the sum of rows[:, i:i+width] (starts that fit only)."""
    sums = np.zeros((rows.shape[0], rows.shape[1] + 1), dtype=np.int32)
    np.cumsum(rows, axis=1, out=sums[:, 1:])
    return sums[:, width:] - sums[:, :-width]


# --- the search ----------------------------------------------------------------------------------


# People of the touched projects grouped by weekly pattern in PostgreSQL, so that each distinct
# (zone, hours) is read and decoded once, with the projects someone of that pattern is on.
_PEOPLE_PATTERNS_SQL = """
SELECT p.time_zone, p.working_hours::text, array_agg(DISTINCT r.project_id),
       count(DISTINCT r.person_id)
FROM unnest(%(ids)s::bigint[]) AS t(id)
JOIN registry_projectrole r ON r.project_id = t.id
JOIN registry_person p ON p.id = r.person_id
WHERE r.role = ANY(%(roles)s)
GROUP BY 1, 2
"""
_BUSY_PATTERNS_SQL = """
SELECT time_zone, busy_hours::text, count(*)
FROM unnest(%(ids)s::bigint[]) AS t(id) JOIN registry_project USING (id)
WHERE busy_hours <> '{}'::jsonb
GROUP BY 1, 2
"""
_ROTATIONS_SQL = (
    "SELECT r.id FROM unnest(%(ids)s::bigint[]) AS t(id) JOIN {table} r ON r.project_id = t.id"
)
_TRAFFIC_SQL = """
SELECT extract(isodow FROM r.created_at AT TIME ZONE 'UTC')::int,
       extract(hour FROM r.created_at AT TIME ZONE 'UTC')::int, count(*)
FROM unnest(%(ids)s::bigint[]) AS t(id) JOIN {table} r ON r.project_id = t.id
WHERE r.created_at >= %(since)s AND r.created_at < %(until)s
GROUP BY 1, 2
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _responder_groups(
    project_ids: list[int], buckets: _Buckets, *, start: datetime, end: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Projects grouped by who can respond for them: (availability per group over the buckets,
    projects per group, people in working hours per bucket, people). Two queries, and the
    five of `load_rotations` when the projects have rotations."""
    sources: dict[int, list[np.ndarray]] = defaultdict(list)
    people = np.zeros(buckets.hours, dtype=np.int64)
    people_count = 0
    for zone, hours, projects, number in _rows(
        _PEOPLE_PATTERNS_SQL, {"ids": project_ids, "roles": list(EDITING_ROLES)}
    ):
        pattern = buckets.pattern(zone, json.loads(hours))
        people += pattern * number
        people_count += number
        for project_id in projects:
            sources[project_id].append(pattern)
    # On call: whoever holds each shift of the project's rotations, while in working hours.
    rotations_sql = _ROTATIONS_SQL.format(table=connection.ops.quote_name(Rotation._meta.db_table))
    rotation_ids = [pk for (pk,) in _rows(rotations_sql, {"ids": project_ids})]
    if rotation_ids:
        for rotation in load_rotations(at=start, rotation_ids=rotation_ids):
            on_duty = np.zeros(buckets.hours, dtype=bool)
            for shift in rotation_shifts(rotation, start, end):
                person = shift.person
                pattern = buckets.pattern(person.time_zone, person.working_hours)
                on_duty |= pattern & buckets.mask(shift.start, shift.end)
            people += on_duty
            sources[rotation.project_id].append(on_duty)
    # Projects whose responders share the same patterns share a row.
    groups: dict[tuple[int, ...], list] = {}
    without = len(project_ids) - len(sources)
    for arrays in sources.values():
        key = tuple(sorted(id(a) for a in arrays))
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [np.logical_or.reduce(arrays), 1]
    if without:
        groups[()] = [np.zeros(buckets.hours, dtype=bool), without]
    matrix = np.array([a for a, _n in groups.values()], dtype=bool).reshape(
        len(groups), buckets.hours
    )
    weights = np.array([n for _a, n in groups.values()], dtype=np.int64)
    return matrix, weights, people, people_count


def _busy_groups(project_ids: list[int], buckets: _Buckets) -> tuple[np.ndarray, np.ndarray]:
    """Projects grouped by their declared busy hours: (busy per group, projects per group)."""
    rows = _rows(_BUSY_PATTERNS_SQL, {"ids": project_ids})
    matrix = np.array(
        [buckets.pattern(zone, json.loads(hours)) for zone, hours, _n in rows], dtype=bool
    ).reshape(len(rows), buckets.hours)
    return matrix, np.array([n for _z, _h, n in rows], dtype=np.int64)


def _report_traffic(project_ids: list[int], buckets: _Buckets, *, now: datetime) -> np.ndarray:
    """Problem reports on these projects per bucket, by UTC hour of the week over the last
    TRAFFIC_WEEKS weeks: one aggregated query. The portal's table is named through its model's
    label: the portal builds on this app, not the other way round."""
    table = apps.get_model("portal", "ProblemReport")._meta.db_table
    per_hour_of_week = np.zeros(168, dtype=np.int64)
    for dow, hour, n in _rows(
        _TRAFFIC_SQL.format(table=connection.ops.quote_name(table)),
        {"ids": project_ids, "since": now - timedelta(weeks=TRAFFIC_WEEKS), "until": now},
    ):
        per_hour_of_week[(dow - 1) * 24 + hour] = n
    utc_hour_of_week = buckets.minute_of_week("UTC") // 60
    return per_hour_of_week[utc_hour_of_week]


def quietest_slots(
    *,
    systems: Sequence[ITSystem],
    duration_minutes: int,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    count: int = DEFAULT_COUNT,
    now: datetime | None = None,
) -> SlotSearch:
    """The `count` best starts for a change of this length on these systems within the range
    (default: the next 14 days), best first. Six queries whatever the size of the impact (eleven
    when the touched projects have rotations). ValidationError naming the field for bad input."""
    now = now or timezone.now()
    systems = list(systems)
    if not systems:
        raise ValidationError({"systems": "Pick at least one IT system."})
    duration, start, end = clean_search(
        duration_minutes=duration_minutes,
        range_start=range_start,
        range_end=range_end,
        count=count,
        now=now,
    )
    first = ceil_hour(start)
    width = math.ceil(duration / HOUR)
    # Every whole hour from `first` at which the change still ends within the range.
    starts = max(1, math.floor((end - duration - first) / HOUR) + 1)
    buckets = _Buckets(first, starts + width - 1)
    bucket_end = first + buckets.hours * HOUR

    project_ids = sorted({impact.project_id for impact in impacted_projects_for(systems)})
    total = len(project_ids)
    responders, weights, people, people_count = _responder_groups(
        project_ids, buckets, start=first, end=bucket_end
    )
    busy, busy_weights = _busy_groups(project_ids, buckets)
    traffic = _report_traffic(project_ids, buckets, now=now)
    blocked = _blocked_intervals([s.pk for s in systems], first, bucket_end)

    # Per start: projects with a responder in every hour of the window, projects busy in any.
    covered = weights @ (_window_sums(responders, width) == width)
    busy_count = busy_weights @ (_window_sums(busy, width) > 0)
    reports = _window_sums(traffic[np.newaxis, :], width)[0]
    has_traffic = bool(reports.any())
    traffic_level = reports / (reports.max() if has_traffic else 1)
    responders_share = covered / total if total else np.ones(starts)
    quiet_share = 1 - busy_count / total if total else np.ones(starts)
    if has_traffic:
        scores = 100 * (
            WEIGHT_RESPONDERS * responders_share
            + WEIGHT_QUIET * quiet_share
            + WEIGHT_TRAFFIC * (1 - traffic_level)
        )
    else:
        scores = (
            100
            * (WEIGHT_RESPONDERS * responders_share + WEIGHT_QUIET * quiet_share)
            / (WEIGHT_RESPONDERS + WEIGHT_QUIET)
        )
    allowed = np.ones(starts, dtype=bool)
    for b_start, b_end in blocked:
        # A start i is out when [i, i + duration) meets [b_start, b_end).
        lo = math.floor((b_start - duration - first) / HOUR) + 1
        hi = math.ceil((b_end - first) / HOUR)
        allowed[max(0, lo) : max(0, min(starts, hi))] = False

    chosen: list[int] = []
    order = np.lexsort((np.arange(starts), -np.round(scores, 6)))
    for i in order:
        if len(chosen) >= count:
            break
        if not allowed[i]:
            continue
        if any(abs(int(i) - j) < width for j in chosen):
            continue
        chosen.append(int(i))
    slots = [
        Slot(
            start_at=first + i * HOUR,
            end_at=first + i * HOUR + duration,
            score=round(float(scores[i]), 1),
            project_count=total,
            projects_with_responder=int(covered[i]),
            responders_at_start=int(people[i]),
            busy_projects=int(busy_count[i]),
            reports_in_window=int(reports[i]),
            traffic_level=round(float(traffic_level[i]), 3) if has_traffic else None,
        )
        for i in chosen
    ]
    return SlotSearch(
        systems=systems,
        duration=duration,
        range_start=first,
        range_end=end,
        project_count=total,
        people_count=people_count,
        has_traffic=has_traffic,
        blocked=blocked,
        slots=slots,
    )
