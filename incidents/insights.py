"""Reads for the reports owners and IT look at ("insights", so as not to be confused with users'
problem reports): over a period, per project or per IT system, how many incidents, how long until
someone acknowledged and until it was resolved, and how many pages went out and were answered.

Definitions (shown on the page too):

- The period is [start, end): an incident or outage counts when it *began* in it.
- Per project: its incidents. Time to acknowledge = `acknowledged_at − started_at` (the first
  update after opening); time to resolve = `resolved_at − started_at`. Pages = the pages opened in
  the period for the project (IT outages touching it, problem reports past the threshold);
  acknowledged when someone acknowledged them; their time to acknowledge is
  `acknowledged_at − opened_at`.
- Per IT system: the IT outages on it. Time to acknowledge = from the outage's start to the first
  acknowledgement of any of its pages; time to resolve = `resolved_at − started_at`. Pages = the
  pages of those outages.
- Median: the middle value (the mean of the two middle ones for an even count). 90th percentile:
  the nearest-rank value, the smallest value with at least 90 % of the values at or below it.
  Events still open, or never acknowledged, have no time and are left out of these numbers.

Each function runs a fixed number of queries (at most three) whatever the period.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Min, Q

from notifications.models import Page
from registry.models import ITSystem, Project

from .models import Incident, Outage

MAX_PERIOD_DAYS = 366


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 2)


@dataclass
class Timing:
    values: list[float]

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float | None:
        return median(self.values)

    @property
    def p90(self) -> float | None:
        return percentile(self.values, 90)


@dataclass
class EventRow:
    """One incident or outage of the period, with its timings in minutes."""

    kind: str
    pk: int
    title: str
    grade: str  # impact of an incident, severity of an outage
    started_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    pages_sent: int
    pages_acknowledged: int

    @property
    def minutes_to_acknowledge(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return _minutes(self.acknowledged_at - self.started_at)

    @property
    def minutes_to_resolve(self) -> float | None:
        if self.resolved_at is None:
            return None
        return _minutes(self.resolved_at - self.started_at)


@dataclass
class Insights:
    subject: Project | ITSystem
    start: datetime
    end: datetime
    rows: list[EventRow]
    pages_sent: int
    pages_acknowledged: int
    page_ack_minutes: Timing
    # Events per week (Monday-based) of the period, for the chart: [(monday, count), ...].
    per_week: list[tuple[date, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def acknowledge(self) -> Timing:
        return Timing([r.minutes_to_acknowledge for r in self.rows if r.acknowledged_at])

    @property
    def resolve(self) -> Timing:
        return Timing([r.minutes_to_resolve for r in self.rows if r.resolved_at])

    @property
    def open_count(self) -> int:
        return sum(1 for r in self.rows if r.resolved_at is None)


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC): both days included."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _per_week(rows: list[EventRow], start: datetime, end: datetime) -> list[tuple[date, int]]:
    first = start.date() - timedelta(days=start.date().weekday())
    weeks: dict[date, int] = {}
    monday = first
    while datetime.combine(monday, time.min, tzinfo=UTC) < end:
        weeks[monday] = 0
        monday += timedelta(days=7)
    for row in rows:
        day = row.started_at.astimezone(UTC).date()
        key = day - timedelta(days=day.weekday())
        if key in weeks:
            weeks[key] += 1
    return sorted(weeks.items())


def project_insights(project: Project, *, start: datetime, end: datetime) -> Insights:
    incidents = list(
        Incident.objects.filter(
            project=project, started_at__gte=start, started_at__lt=end
        ).order_by("started_at", "id")
    )
    pages = list(
        Page.objects.filter(project=project, opened_at__gte=start, opened_at__lt=end).values_list(
            "opened_at", "acknowledged_at"
        )
    )
    rows = [
        EventRow(
            kind="incident",
            pk=i.pk,
            title=i.title,
            grade=i.impact,
            started_at=i.started_at,
            acknowledged_at=i.acknowledged_at,
            resolved_at=i.resolved_at,
            pages_sent=0,
            pages_acknowledged=0,
        )
        for i in incidents
    ]
    acked = [ack - opened for opened, ack in pages if ack is not None]
    return Insights(
        subject=project,
        start=start,
        end=end,
        rows=rows,
        pages_sent=len(pages),
        pages_acknowledged=len(acked),
        page_ack_minutes=Timing([_minutes(d) for d in acked]),
        per_week=_per_week(rows, start, end),
    )


def system_insights(system: ITSystem, *, start: datetime, end: datetime) -> Insights:
    outages = list(
        Outage.objects.filter(systems=system, started_at__gte=start, started_at__lt=end)
        .distinct()
        .order_by("started_at", "id")
    )
    outage_type = ContentType.objects.get_for_model(Outage)  # cached after the first call
    per_outage = {
        row["event_id"]: row
        for row in Page.objects.filter(event_type=outage_type, event_id__in=[o.pk for o in outages])
        .values("event_id")
        .annotate(
            sent=Count("id"),
            acknowledged=Count("id", filter=Q(acknowledged_at__isnull=False)),
            first_ack=Min("acknowledged_at"),
        )
    }
    page_rows = list(
        Page.objects.filter(
            event_type=outage_type,
            event_id__in=[o.pk for o in outages],
            acknowledged_at__isnull=False,
        ).values_list("opened_at", "acknowledged_at")
    )
    rows = []
    for outage in outages:
        stats = per_outage.get(outage.pk, {})
        rows.append(
            EventRow(
                kind="outage",
                pk=outage.pk,
                title=outage.title,
                grade=outage.severity,
                started_at=outage.started_at,
                acknowledged_at=stats.get("first_ack"),
                resolved_at=outage.resolved_at,
                pages_sent=stats.get("sent", 0),
                pages_acknowledged=stats.get("acknowledged", 0),
            )
        )
    return Insights(
        subject=system,
        start=start,
        end=end,
        rows=rows,
        pages_sent=sum(r.pages_sent for r in rows),
        pages_acknowledged=sum(r.pages_acknowledged for r in rows),
        page_ack_minutes=Timing([_minutes(ack - opened) for opened, ack in page_rows]),
        per_week=_per_week(rows, start, end),
    )


CSV_HEADER = (
    "kind",
    "id",
    "title",
    "impact_or_severity",
    "started_at",
    "acknowledged_at",
    "resolved_at",
    "minutes_to_acknowledge",
    "minutes_to_resolve",
    "pages_sent",
    "pages_acknowledged",
)


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: neutralise user text."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def insights_csv(insights: Insights) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in insights.rows:
        writer.writerow(
            (
                r.kind,
                r.pk,
                _csv_safe(r.title),
                r.grade,
                r.started_at.astimezone(UTC).isoformat(),
                r.acknowledged_at.astimezone(UTC).isoformat() if r.acknowledged_at else "",
                r.resolved_at.astimezone(UTC).isoformat() if r.resolved_at else "",
                "" if r.minutes_to_acknowledge is None else r.minutes_to_acknowledge,
                "" if r.minutes_to_resolve is None else r.minutes_to_resolve,
                r.pages_sent,
                r.pages_acknowledged,
            )
        )
    return out.getvalue()
