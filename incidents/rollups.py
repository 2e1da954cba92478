"""Rollups: the service levels of a team's projects, or of every project, for one calendar month
(`incidents/service_levels.py` definitions), the projects that missed a target first; a chart of
how available they were and how many missed each target, and CSV.

`rollup` runs a fixed number of queries whatever the number of projects and events: the
projects, then `service_levels_many` (four)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from registry.models import Project, Team

from .insights import _csv_safe
from .service_levels import ServiceLevelReport, month_bounds, service_levels_many

# Availability bands of the chart, lowest first: (label, lower bound in percent).
BANDS = (("< 95 %", 0.0), ("95–99 %", 95.0), ("99–99.9 %", 99.0), ("≥ 99.9 %", 99.9))


@dataclass(frozen=True)
class ProjectRow:
    """What a rollup shows of a project, read as plain values (10,000 model instances cost more
    than every computation of the rollup together)."""

    pk: int
    name: str
    slug: str
    support_tier: str

    def get_support_tier_display(self) -> str:
        return TIER_LABELS.get(self.support_tier, self.support_tier)


TIER_LABELS = dict(Project.Tier.choices)


@dataclass
class Rollup:
    team: Team | None
    year: int
    month: int
    start: datetime
    end: datetime
    rows: list[ServiceLevelReport]

    @property
    def title(self) -> str:
        return self.team.name if self.team else "Every project"

    @property
    def missed(self) -> list[ServiceLevelReport]:
        return [r for r in self.rows if r.missed]

    @property
    def bands(self) -> list[tuple[str, int]]:
        counts = [0] * len(BANDS)
        for report in self.rows:
            band = max(i for i, (_l, low) in enumerate(BANDS) if report.availability >= low)
            counts[band] += 1
        return [(label, count) for (label, _low), count in zip(BANDS, counts, strict=True)]

    @property
    def missed_by_measure(self) -> list[tuple[str, int]]:
        return [
            ("availability", sum(1 for r in self.rows if r.availability_met is False)),
            ("time to acknowledge", sum(1 for r in self.rows if r.ack_met is False)),
            ("time to resolve", sum(1 for r in self.rows if r.resolve_met is False)),
        ]

    @property
    def down_minutes(self) -> float:
        return round(sum(r.down.total_seconds() for r in self.rows) / 60, 1)


def rollup(
    *, year: int, month: int, team: Team | None = None, now: datetime | None = None
) -> Rollup:
    now = now or timezone.now()
    projects = Project.objects.order_by("name", "id")
    if team is not None:
        projects = projects.filter(team=team)
    listed = [
        ProjectRow(*values) for values in projects.values_list("id", "name", "slug", "support_tier")
    ]
    reports = service_levels_many(
        listed, year=year, month=month, now=now, every_project=team is None
    )
    # Missed first, then the least available, then by name.
    reports.sort(key=lambda r: (not r.missed, r.availability, r.project.name.casefold()))
    start, end = month_bounds(year, month)
    return Rollup(team=team, year=year, month=month, start=start, end=end, rows=reports)


def _cell(value) -> object:
    return "" if value is None else value


CSV_HEADER = (
    "project",
    "support_tier",
    "availability_target",
    "availability",
    "down_minutes",
    "budget_remaining_minutes",
    "ack_target_minutes",
    "ack_p90_minutes",
    "resolve_target_minutes",
    "resolve_p90_minutes",
    "missed",
    "burning_fast",
)


def rollup_csv(result: Rollup) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in result.rows:
        writer.writerow(
            (
                _csv_safe(r.project.slug),
                r.project.support_tier,
                _cell(r.targets.availability),
                round(r.availability, 4),
                round(r.down.total_seconds() / 60, 1),
                _cell(r.budget_remaining_minutes),
                _cell(r.targets.ack_minutes),
                _cell(r.ack_p90),
                _cell(r.targets.resolve_minutes),
                _cell(r.resolve_p90),
                "yes" if r.missed else "no",
                "yes" if r.burning_fast else "no",
            )
        )
    return out.getvalue()
