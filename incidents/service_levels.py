"""Service levels per support tier: targets for time to acknowledge, time to resolve and monthly
availability, each measured for a project over a calendar month, with the error budget left.

Definitions (the page says them too):

- Targets: the tier's defaults (`STEWARD_SERVICE_LEVELS`), each overridden by the project's own
  (`ServiceLevel`) when set.
- The month is a calendar month in `STEWARD_SERVICE_LEVEL_ZONE` (UTC by default): from its first
  midnight to the next month's, so a month with a DST change is an hour shorter or longer (March
  2025 in Europe/Berlin: 743 hours).
- Down: while a *major* incident of the project is open, or an IT outage touches it through hard
  dependencies only (its impact snapshot's `all_hard`). Overlaps count once; an event spanning the
  month's boundary counts for the part inside; nothing counts past now.
- Availability = 1 − down time ÷ the month's length. Error budget = (1 − target) × the month's
  length; remaining = budget − down time (negative when spent). Burning fast: the share of the
  budget used is at least `STEWARD_BUDGET_FAST_BURN` times the share of the month gone by.
- Time to acknowledge: the 90th percentile (nearest rank) of the month's incidents'
  `acknowledged_at − started_at` and of the project's pages' `acknowledged_at − opened_at`, for
  those that began in the month; time to resolve: of its incidents' and touching outages'
  `resolved_at − started_at`.

`service_level_for` runs one query whatever the data; `service_levels_many`, four for any
number of projects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from changes.models import ImpactedProject
from notifications.models import Page
from registry.models import Project

from .insights import percentile
from .models import Incident, Outage, ServiceLevel


@dataclass(frozen=True)
class Targets:
    ack_minutes: int | None
    resolve_minutes: int | None
    availability: float | None  # percent


def _tier_targets() -> dict[str, Targets]:
    """The tiers' default targets, read from the settings once per call site."""
    return {
        tier: Targets(
            ack_minutes=values.get("ack_minutes"),
            resolve_minutes=values.get("resolve_minutes"),
            availability=None
            if values.get("availability") is None
            else float(values["availability"]),
        )
        for tier, values in settings.STEWARD_SERVICE_LEVELS.items()
    }


NO_TARGETS = Targets(None, None, None)


def targets_for(
    project: Project,
    override: ServiceLevel | None = None,
    tiers: dict[str, Targets] | None = None,
) -> Targets:
    tier = (tiers or _tier_targets()).get(project.support_tier, NO_TARGETS)
    if override is None:
        return tier
    availability = (
        tier.availability if override.availability is None else float(override.availability)
    )
    return Targets(
        ack_minutes=tier.ack_minutes if override.ack_minutes is None else override.ack_minutes,
        resolve_minutes=(
            tier.resolve_minutes if override.resolve_minutes is None else override.resolve_minutes
        ),
        availability=availability,
    )


def month_bounds(year: int, month: int, zone: str | None = None) -> tuple[datetime, datetime]:
    """[first midnight of the month, first midnight of the next) in the zone, as UTC instants."""
    tz = ZoneInfo(zone or settings.STEWARD_SERVICE_LEVEL_ZONE)
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def month_of(at: datetime, zone: str | None = None) -> tuple[int, int]:
    local = at.astimezone(ZoneInfo(zone or settings.STEWARD_SERVICE_LEVEL_ZONE))
    return local.year, local.month


def merged_length(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    total, current_start, current_end = timedelta(0), None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


@dataclass
class ServiceLevelReport:
    project: Project
    targets: Targets
    start: datetime
    end: datetime
    now: datetime
    down: timedelta
    ack_p90: float | None  # minutes
    resolve_p90: float | None
    ack_count: int
    resolve_count: int
    overridden: bool = False

    def __post_init__(self) -> None:
        """Every figure computed once (a rollup reads each of 10,000 reports several times)."""
        self.length = self.end - self.start
        self.elapsed = max(timedelta(0), min(self.now, self.end) - self.start)
        # Percent of the whole month.
        self.availability = 100 * (1 - self.down / self.length)
        goal = self.targets.availability
        self.budget = None if goal is None else self.length * (1 - goal / 100)
        self.budget_remaining = None if self.budget is None else self.budget - self.down
        # Share of the budget used (1.0: all of it).
        if self.budget is None:
            self.budget_used = None
        elif not self.budget:
            self.budget_used = 0.0 if not self.down else float("inf")
        else:
            self.budget_used = self.down / self.budget
        used = self.budget_used
        self.burning_fast = bool(
            used is not None
            and self.down
            and (
                used >= 1
                or used >= settings.STEWARD_BUDGET_FAST_BURN * (self.elapsed / self.length)
            )
        )
        remaining = self.budget_remaining
        self.availability_met = None if remaining is None else remaining >= timedelta(0)
        ack, resolve = self.targets.ack_minutes, self.targets.resolve_minutes
        self.ack_met = None if ack is None or self.ack_p90 is None else self.ack_p90 <= ack
        self.resolve_met = (
            None if resolve is None or self.resolve_p90 is None else self.resolve_p90 <= resolve
        )
        self.missed = False in (self.availability_met, self.ack_met, self.resolve_met)

    @property
    def budget_used_percent(self) -> float | None:
        used = self.budget_used
        return None if used is None else round(100 * used, 1)

    @property
    def elapsed_percent(self) -> float:
        return round(100 * (self.elapsed / self.length), 1)

    @property
    def budget_remaining_minutes(self) -> float | None:
        remaining = self.budget_remaining
        return None if remaining is None else round(remaining.total_seconds() / 60, 1)


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def _measure(
    project: Project,
    targets: Targets,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    incidents: list[tuple],
    outages: list[tuple],
    pages: list[tuple],
    overridden: bool,
) -> ServiceLevelReport:
    """The report of one project from its rows: incidents (started, resolved, acknowledged,
    impact), touching outages (started, resolved, all_hard) and acknowledged pages (opened,
    acknowledged) that overlap the month."""
    cap = min(now, end)
    down = []
    for began, resolved, _ack, impact in incidents:
        if impact == Incident.Impact.MAJOR:
            down.append((max(began, start), min(resolved or cap, cap)))
    for began, resolved, all_hard in outages:
        if all_hard:
            down.append((max(began, start), min(resolved or cap, cap)))
    down = [(a, b) for a, b in down if b > a]
    acks = [_minutes(ack - began) for began, _r, ack, _i in incidents if ack and began >= start]
    acks += [_minutes(ack - opened) for opened, ack in pages]
    resolves = [_minutes(r - b) for b, r, _a, _i in incidents if r and start <= b < end]
    resolves += [_minutes(r - b) for b, r, _h in outages if r and start <= b < end]
    return ServiceLevelReport(
        project=project,
        targets=targets,
        start=start,
        end=end,
        now=now,
        down=merged_length(down),
        ack_p90=percentile(acks, 90),
        resolve_p90=percentile(resolves, 90),
        ack_count=len(acks),
        resolve_count=len(resolves),
        overridden=overridden,
    )


def _overlapping_incidents(start: datetime, end: datetime):
    return Incident.objects.filter(started_at__lt=end).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gt=start) | Q(started_at__gte=start)
    )


def _overlapping_impacts(start: datetime, end: datetime):
    return ImpactedProject.objects.filter(outage__isnull=False, outage__started_at__lt=end).filter(
        Q(outage__resolved_at__isnull=True)
        | Q(outage__resolved_at__gt=start)
        | Q(outage__started_at__gte=start)
    )


# One project's month in one statement (the project page's service levels): its own targets, if
# any, then the incidents, touching outages and acknowledged pages overlapping the month, as tagged
# rows; the conditions are `_overlapping_incidents` and `_overlapping_impacts`'s, which the
# rollups use. Compiling the four ORM queries it replaces cost more than running them.
_MONTH_SQL = f"""
SELECT 'override', NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL, NULL::boolean,
       s.ack_minutes, s.resolve_minutes, s.availability
FROM {ServiceLevel._meta.db_table} s WHERE s.project_id = %(project)s
UNION ALL
SELECT 'incident', i.started_at, i.resolved_at, i.acknowledged_at, i.impact, NULL, NULL, NULL, NULL
FROM {Incident._meta.db_table} i
WHERE i.project_id = %(project)s AND i.started_at < %(end)s
  AND (i.resolved_at IS NULL OR i.resolved_at > %(start)s OR i.started_at >= %(start)s)
UNION ALL
SELECT 'outage', o.started_at, o.resolved_at, NULL, NULL, ip.all_hard, NULL, NULL, NULL
FROM {ImpactedProject._meta.db_table} ip JOIN {Outage._meta.db_table} o ON o.id = ip.outage_id
WHERE ip.project_id = %(project)s AND o.started_at < %(end)s
  AND (o.resolved_at IS NULL OR o.resolved_at > %(start)s OR o.started_at >= %(start)s)
UNION ALL
SELECT 'page', p.opened_at, NULL, p.acknowledged_at, NULL, NULL, NULL, NULL, NULL
FROM {Page._meta.db_table} p
WHERE p.project_id = %(project)s AND p.opened_at >= %(start)s AND p.opened_at < %(end)s
  AND p.acknowledged_at IS NOT NULL
"""  # noqa: S608  # nosec B608: table names from the models; values are parameters


def service_level_for(
    project: Project, *, year: int | None = None, month: int | None = None, now=None
) -> ServiceLevelReport:
    now = now or timezone.now()
    if year is None or month is None:
        year, month = month_of(now)
    start, end = month_bounds(year, month)
    override = None
    incidents, outages, pages = [], [], []
    with connection.cursor() as cursor:
        cursor.execute(_MONTH_SQL, {"project": project.pk, "start": start, "end": end})
        for kind, began, resolved, acknowledged, impact, all_hard, *targets in cursor.fetchall():
            if kind == "override":
                ack, resolve, availability = targets
                override = ServiceLevel(
                    project=project,
                    ack_minutes=ack,
                    resolve_minutes=resolve,
                    availability=availability,
                )
            elif kind == "incident":
                incidents.append((began, resolved, acknowledged, impact))
            elif kind == "outage":
                outages.append((began, resolved, all_hard))
            else:
                pages.append((began, acknowledged))
    return _measure(
        project,
        targets_for(project, override),
        start=start,
        end=end,
        now=now,
        incidents=incidents,
        outages=outages,
        pages=pages,
        overridden=override is not None,
    )


def service_levels_many(
    projects: list[Project],
    *,
    year: int,
    month: int,
    now: datetime | None = None,
    every_project: bool = False,
) -> list[ServiceLevelReport]:
    """`service_level_for` of many projects in four queries whatever their number (the rollups):
    the rows of every project are read at once and grouped in Python."""
    now = now or timezone.now()
    start, end = month_bounds(year, month)
    tiers = _tier_targets()
    ids = [p.pk for p in projects]
    # Every project (the company's rollup): no list of ids to send and match.
    mine = Q() if every_project else Q(project_id__in=ids)
    overrides = {o.project_id: o for o in ServiceLevel.objects.filter(mine)}
    incidents: dict[int, list[tuple]] = defaultdict(list)
    for project_id, *values in (
        _overlapping_incidents(start, end)
        .filter(mine)
        .values_list("project_id", "started_at", "resolved_at", "acknowledged_at", "impact")
    ):
        incidents[project_id].append(tuple(values))
    outages: dict[int, list[tuple]] = defaultdict(list)
    for project_id, *values in (
        _overlapping_impacts(start, end)
        .filter(mine)
        .values_list("project_id", "outage__started_at", "outage__resolved_at", "all_hard")
    ):
        outages[project_id].append(tuple(values))
    pages: dict[int, list[tuple]] = defaultdict(list)
    for project_id, *values in Page.objects.filter(
        mine,
        opened_at__gte=start,
        opened_at__lt=end,
        acknowledged_at__isnull=False,
    ).values_list("project_id", "opened_at", "acknowledged_at"):
        pages[project_id].append(tuple(values))
    # Most projects had no event in the month: their report is their tier's quiet one, copied
    # (measuring 10,000 empty months one by one was most of a company rollup's time).
    quiet: dict[Targets, ServiceLevelReport] = {}
    reports = []
    for p in projects:
        override = overrides.get(p.pk)
        targets = targets_for(p, override, tiers)
        pk = p.pk
        if override is None and pk not in incidents and pk not in outages and pk not in pages:
            model = quiet.get(targets)
            if model is None:
                model = quiet[targets] = _measure(
                    p,
                    targets,
                    start=start,
                    end=end,
                    now=now,
                    incidents=[],
                    outages=[],
                    pages=[],
                    overridden=False,
                )
            report = object.__new__(ServiceLevelReport)
            report.__dict__.update(model.__dict__)
            report.project = p
        else:
            report = _measure(
                p,
                targets,
                start=start,
                end=end,
                now=now,
                incidents=incidents.get(pk, []),
                outages=outages.get(pk, []),
                pages=pages.get(pk, []),
                overridden=override is not None,
            )
        reports.append(report)
    return reports
