"""Reads for the portal: the status of projects (now and over 90 days), the banner of what is open,
and the suspect IT changes, outages and releases of an incident.

States, from best to worst: operational, degraded, partial, major.

- An open incident contributes its impact (degraded, partial outage, major outage).
- An open IT outage contributes to every project in its `ImpactedProject` snapshot: through a path
  that is hard all the way, SEV1 and SEV2 are a major outage, SEV3 a partial outage, SEV4
  degraded; through a soft dependency anywhere on the path, degraded at most.

A project's state is the worst of what is open on it. Uptime over a period is the share of its
minutes in which the project was neither in a partial nor in a major outage (degraded counts as
up); minutes before the project was registered count as up.

Every function here runs a fixed number of queries whatever the data size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from changes.models import Change, ImpactedProject, Release
from changes.selectors import releases_between, systems_reached_by
from registry.models import ITSystem, Project

from .models import PUBLIC_SUMMARY_DEFAULT, Incident, IncidentUpdate, Outage

OPERATIONAL, DEGRADED, PARTIAL, MAJOR = 0, 1, 2, 3
STATE_NAMES = {OPERATIONAL: "operational", DEGRADED: "degraded", PARTIAL: "partial", MAJOR: "major"}
STATE_LABELS = {
    OPERATIONAL: "Operational",
    DEGRADED: "Degraded performance",
    PARTIAL: "Partial outage",
    MAJOR: "Major outage",
}
IMPACT_LEVEL = {
    Incident.Impact.DEGRADED: DEGRADED,
    Incident.Impact.PARTIAL: PARTIAL,
    Incident.Impact.MAJOR: MAJOR,
}
SEVERITY_LEVEL = {
    Outage.Severity.SEV1: MAJOR,
    Outage.Severity.SEV2: MAJOR,
    Outage.Severity.SEV3: PARTIAL,
    Outage.Severity.SEV4: DEGRADED,
}
# Minutes in these states are down for the uptime.
DOWN_LEVELS = (PARTIAL, MAJOR)
HISTORY_DAYS = 90
SUSPECT_WINDOW = timedelta(hours=72)
# In the suspect ranking, each hop further from the project weighs as much as this much time.
HOP_WEIGHT = timedelta(hours=6)


def outage_level(severity: str, all_hard: bool) -> int:
    level = SEVERITY_LEVEL.get(severity, DEGRADED)
    return level if all_hard else min(level, DEGRADED)


def state_name(level: int) -> str:
    return STATE_NAMES[level]


# --- what is open on a project ------------------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    """An open incident or IT outage touching a project, as the banner and status show it."""

    kind: str  # "incident" or "outage"
    pk: int
    project_id: int
    title: str  # internal wording: for signed-in readers only
    level: int
    status: str
    started_at: datetime
    path: tuple[str, ...] = ()
    public_summary: str = ""
    # Someone is on it: when, and who (a person's name: for signed-in readers only).
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""

    @property
    def public_title(self) -> str:
        return self.public_summary or PUBLIC_SUMMARY_DEFAULT

    @property
    def state(self) -> str:
        return STATE_NAMES[self.level]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.level]


@dataclass
class OpenIssues:
    project_id: int
    items: list[OpenItem] = field(default_factory=list)

    @property
    def level(self) -> int:
        return max((i.level for i in self.items), default=OPERATIONAL)

    @property
    def state(self) -> str:
        return STATE_NAMES[self.level]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.level]

    @property
    def incidents(self) -> list[OpenItem]:
        return [i for i in self.items if i.kind == "incident"]

    @property
    def outages(self) -> list[OpenItem]:
        return [i for i in self.items if i.kind == "outage"]

    def __bool__(self) -> bool:
        return bool(self.items)


# Acknowledged: an incident when a responder first spoke after opening it (`acknowledged_at`,
# by the author of that update); an outage, on this project, when the project's page for it was.
_OPEN_SQL = """
SELECT 'incident', i.id, i.project_id, i.title, i.public_summary, i.impact, TRUE, i.status,
       i.started_at, NULL, i.acknowledged_at,
       (SELECT person.display_name
        FROM incidents_incidentupdate u JOIN registry_person person ON person.user_id = u.author_id
        WHERE u.incident_id = i.id AND u.created_at <= i.acknowledged_at
        ORDER BY u.created_at DESC, u.id DESC LIMIT 1)
FROM incidents_incident i
WHERE i.resolved_at IS NULL AND i.project_id = ANY(%(ids)s)
UNION ALL
SELECT 'outage', o.id, ip.project_id, o.title, o.public_summary, o.severity, ip.all_hard, o.status,
       o.started_at, ip.path, ack.acknowledged_at, ack.display_name
FROM incidents_impactedproject ip
JOIN incidents_outage o ON o.id = ip.outage_id
-- The project's page for the outage, looked up by its unique key (one page per event and
-- project) for each row, never by joining every outage's pages (LIMIT keeps PostgreSQL from
-- turning the lookup back into that join).
LEFT JOIN LATERAL (
  SELECT page.acknowledged_at, person.display_name
  FROM notifications_page page
  LEFT JOIN registry_person person ON person.id = page.acknowledged_by_id
  WHERE page.event_type_id = (
      SELECT id FROM django_content_type WHERE app_label = 'incidents' AND model = 'outage')
    AND page.event_id = o.id AND page.project_id = ip.project_id
    AND page.acknowledged_at IS NOT NULL
  LIMIT 1
) ack ON TRUE
WHERE o.resolved_at IS NULL AND ip.project_id = ANY(%(ids)s)
"""


def open_issues_for(project_ids: Iterable[int]) -> dict[int, OpenIssues]:
    """Open incidents and open IT outages touching each project: one query for any number."""
    ids = sorted(set(project_ids))
    issues = {pk: OpenIssues(pk) for pk in ids}
    if not ids:
        return issues
    for (
        kind, pk, project_id, title, summary, grade, all_hard, status, started_at, path,
        acknowledged_at, acknowledged_by,
    ) in _open_rows(ids):  # fmt: skip
        level = IMPACT_LEVEL[grade] if kind == "incident" else outage_level(grade, all_hard)
        if isinstance(path, str):  # Django leaves raw jsonb undecoded
            path = json.loads(path)
        issues[project_id].items.append(
            OpenItem(
                kind, pk, project_id, title, level, status, started_at, tuple(path or ()),
                public_summary=summary,
                acknowledged_at=acknowledged_at,
                acknowledged_by=acknowledged_by or "",
            )
        )  # fmt: skip
    for entry in issues.values():
        entry.items.sort(key=lambda i: (-i.level, i.started_at, i.kind, i.pk))
    return issues


def open_item_for(project: Project, *, kind: str, pk: int) -> OpenItem | None:
    """One open incident or outage on the project, with whether someone is on it (None once
    resolved): one query."""
    items = open_issues_for([project.pk])[project.pk].items
    return next((item for item in items if (item.kind, item.pk) == (kind, pk)), None)


def _open_rows(ids: list[int]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_SQL, {"ids": ids})
        return cursor.fetchall()


def annotate_open_issues(projects: Sequence[Project]) -> Sequence[Project]:
    """Set `project.open_issues` on each project (for the banners): one query for the lot."""
    issues = open_issues_for(p.pk for p in projects)
    for project in projects:
        project.open_issues = issues[project.pk]
    return projects


# --- the status of a project ---------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A stretch of time in which a project was at least at `level` because of one event."""

    start: datetime
    end: datetime | None  # None: still open
    level: int


@dataclass
class Day:
    day: date
    level: int
    uptime: float  # percent of the day's minutes that count as up (see the module docstring)
    events: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return STATE_NAMES[self.level]

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.level]


@dataclass
class ProjectStatus:
    project: Project
    at: datetime
    issues: OpenIssues
    open_incidents: list[Incident]
    open_outages: list[ImpactedProject]
    changes_ahead: list[ImpactedProject]
    # Resolved incidents of the last 90 days, newest first.
    past_incidents: list[Incident]
    days: list[Day]
    uptime_90: float
    uptime_30: float
    uptime_7: float

    @property
    def level(self) -> int:
        return self.issues.level

    @property
    def state(self) -> str:
        return self.issues.state

    @property
    def state_label(self) -> str:
        return self.issues.state_label


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def downtime(spans: Iterable[Span], start: datetime, end: datetime) -> timedelta:
    """Time within [start, end) covered by a span in a down state (partial or major)."""
    clipped = []
    for span in spans:
        if span.level not in DOWN_LEVELS:
            continue
        s, e = max(span.start, start), min(span.end or end, end)
        if s < e:
            clipped.append((s, e))
    return sum((e - s for s, e in _merge(clipped)), timedelta())


def uptime_percent(spans: Iterable[Span], start: datetime, end: datetime) -> float:
    """Share of [start, end) not in a partial or major outage, in percent (100 when empty)."""
    total = end - start
    if total <= timedelta():
        return 100.0
    return round(100 * (1 - downtime(spans, start, end) / total), 3)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def daily_history(
    spans: Sequence[Span], *, until: datetime, days: int = HISTORY_DAYS, labels=None
) -> list[Day]:
    """One entry per UTC day, oldest first, ending with today (up to `until`): the worst state
    that day and the day's uptime."""
    labels = labels or {}
    today = until.astimezone(UTC).date()
    result = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        start = _day_start(day)
        end = min(start + timedelta(days=1), until)
        touching = [s for s in spans if s.start < end and (s.end is None or s.end > start)]
        result.append(
            Day(
                day=day,
                level=max((s.level for s in touching), default=OPERATIONAL),
                uptime=uptime_percent(touching, start, end),
                events=sorted({labels.get(id(s), "") for s in touching} - {""}),
            )
        )
    return result


def _history_spans(
    project: Project, *, since: datetime, public: bool
) -> tuple[list[Span], dict[int, str], list[Incident]]:
    """Incidents and outages touching the project that were open at any time after `since`
    (and those incidents, newest first), labelled in public wording when `public`: two
    queries."""
    spans: list[Span] = []
    labels: dict[int, str] = {}
    incidents = list(
        Incident.objects.filter(project=project)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=since))
        .order_by("-started_at", "-id")
    )
    for incident in incidents:
        span = Span(incident.started_at, incident.resolved_at, IMPACT_LEVEL[incident.impact])
        spans.append(span)
        labels[id(span)] = f"Incident: {incident.public_title if public else incident.title}"
    for impact in (
        ImpactedProject.objects.filter(project=project, outage__isnull=False)
        .filter(Q(outage__resolved_at__isnull=True) | Q(outage__resolved_at__gt=since))
        .select_related("outage")
    ):
        outage = impact.outage
        span = Span(
            outage.started_at, outage.resolved_at, outage_level(outage.severity, impact.all_hard)
        )
        spans.append(span)
        labels[id(span)] = f"IT outage: {outage.public_title if public else outage.title}"
    return spans, labels, incidents


def project_status(
    project: Project, *, at: datetime | None = None, public: bool = False
) -> ProjectStatus:
    """Everything a project's status page shows, in a fixed number of queries (six). `public`:
    for anonymous readers, the history's labels in public wording (see `OpenItem.public_title`).
    Each open incident and outage impact carries its `open_item` (whether someone is on it)."""
    at = at or timezone.now()
    issues = open_issues_for([project.pk])[project.pk]
    open_incidents = list(
        Incident.objects.filter(project=project, resolved_at__isnull=True)
        .prefetch_related(
            Prefetch("updates", queryset=IncidentUpdate.objects.order_by("-created_at", "-id"))
        )
        .order_by("-started_at", "-id")
    )
    open_outages = sorted(
        ImpactedProject.objects.filter(
            project=project, outage__isnull=False, outage__resolved_at__isnull=True
        ).select_related("outage", "project"),
        key=lambda i: (-outage_level(i.outage.severity, i.all_hard), i.outage.started_at),
    )
    changes_ahead = list(
        ImpactedProject.objects.filter(
            project=project,
            change__isnull=False,
            change__state__in=(Change.State.SCHEDULED, Change.State.IN_PROGRESS),
            change__planned_end_at__gt=at,
        )
        .select_related("change", "project")
        .order_by("change__planned_start_at", "change_id")
    )
    since = _day_start(at.astimezone(UTC).date() - timedelta(days=HISTORY_DAYS - 1))
    spans, labels, incidents = _history_spans(project, since=since, public=public)
    _attach_open_items(issues, open_incidents, open_outages)
    return ProjectStatus(
        project=project,
        at=at,
        issues=issues,
        open_incidents=open_incidents,
        open_outages=open_outages,
        changes_ahead=changes_ahead,
        past_incidents=[i for i in incidents if i.resolved_at is not None],
        days=daily_history(spans, until=at, labels=labels),
        uptime_90=uptime_percent(spans, since, at),
        uptime_30=uptime_percent(spans, max(since, at - timedelta(days=30)), at),
        uptime_7=uptime_percent(spans, max(since, at - timedelta(days=7)), at),
    )


def _attach_open_items(
    issues: OpenIssues, incidents: list[Incident], outages: list[ImpactedProject]
) -> None:
    """Set `open_item` (with its acknowledgement) on each open incident and outage impact."""
    items = {(item.kind, item.pk): item for item in issues.items}
    for incident in incidents:
        incident.open_item = items.get(("incident", incident.pk))
    for impact in outages:
        impact.open_item = items.get(("outage", impact.outage_id))


@dataclass
class StatusOverview:
    at: datetime
    # Every project on this page with its open issues, worst first, then by name.
    rows: list[tuple[Project, OpenIssues]]
    affected_count: int


def status_overview(projects: Sequence[Project], *, at: datetime | None = None) -> StatusOverview:
    """The overview for a page of projects: one query for what is open on all of them."""
    at = at or timezone.now()
    issues = open_issues_for(p.pk for p in projects)
    rows = [(p, issues[p.pk]) for p in projects]
    return StatusOverview(at=at, rows=rows, affected_count=sum(1 for _p, i in rows if i))


def affected_projects() -> QuerySet[Project]:
    """Projects with an open incident or touched by an open IT outage, by name."""
    return Project.objects.filter(
        Q(pk__in=Incident.objects.filter(resolved_at__isnull=True).values("project_id"))
        | Q(
            pk__in=ImpactedProject.objects.filter(
                outage__isnull=False, outage__resolved_at__isnull=True
            ).values("project_id")
        )
    ).order_by("name")


# --- suspects ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suspect:
    kind: str  # "change", "outage" or "release"
    event: Change | Outage | Release
    started_at: datetime
    before: timedelta  # how long before the incident began it started
    system: ITSystem | None  # None for a release of the project itself
    depth: int  # 0 for a release of the project itself
    path: tuple[str, ...]
    project_name: str
    score: timedelta
    is_cause: bool

    @property
    def path_display(self) -> str:
        return " → ".join((self.project_name, *self.path))

    @property
    def hours_before(self) -> float:
        return round(self.before / timedelta(hours=1), 1)


def change_started_at(change: Change) -> datetime:
    return change.started_at or change.planned_start_at


def suspects_for(incident: Incident) -> list[Suspect]:
    """IT changes and outages on the systems the incident's project depends on (transitively),
    and releases of the project itself or of those systems, that started in the 72 hours before
    the incident began, most suspect first.

    The rank is a score: the time between the event's start and the incident's, plus six hours
    for each hop between the project and the event's system beyond the first (an event on a
    system the project uses directly outranks one two systems away that started at the same
    time); a release of the project itself is one hop nearer still. Ties go to the nearer
    system, then the later start, then changes before outages before releases.
    A change counts from its actual start, or its planned start if it never recorded one; draft
    and cancelled changes did not happen and are left out. Six queries (two without dependencies).
    """
    project = incident.project
    reached = systems_reached_by(project)
    began = incident.started_at
    since = began - SUSPECT_WINDOW
    ids = list(reached)
    releases = releases_between(project=project, system_ids=ids, since=since, until=began)
    suspects = [
        _suspect(incident, "release", release, release.system, release.happened_at, reached)
        for release in releases
    ]
    if not reached:
        return _ranked(suspects)
    changes = (
        Change.objects.filter(systems__in=ids)
        .exclude(state__in=(Change.State.DRAFT, Change.State.CANCELLED))
        .filter(
            Q(started_at__isnull=False, started_at__gte=since, started_at__lte=began)
            | Q(started_at__isnull=True, planned_start_at__gte=since, planned_start_at__lte=began)
        )
        .distinct()
        .prefetch_related("systems")
    )
    outages = (
        Outage.objects.filter(systems__in=ids, started_at__gte=since, started_at__lte=began)
        .distinct()
        .prefetch_related("systems")
    )
    for kind, events in (("change", changes), ("outage", outages)):
        for event in events:
            system = min(
                (s for s in event.systems.all() if s.pk in reached),
                key=lambda s: (reached[s.pk].depth, reached[s.pk].path),
            )
            started = change_started_at(event) if kind == "change" else event.started_at
            suspects.append(_suspect(incident, kind, event, system, started, reached))
    return _ranked(suspects)


def _suspect(
    incident: Incident,
    kind: str,
    event: Change | Outage | Release,
    system: ITSystem | None,
    started: datetime,
    reached: dict,
) -> Suspect:
    where = reached[system.pk] if system is not None else None
    depth, path = (where.depth, where.path) if where is not None else (0, ())
    before = incident.started_at - started
    cause_id = {
        "change": incident.cause_change_id,
        "outage": incident.cause_outage_id,
        "release": incident.cause_release_id,
    }[kind]
    return Suspect(
        kind=kind,
        event=event,
        started_at=started,
        before=before,
        system=system,
        depth=depth,
        path=path,
        project_name=incident.project.name,
        score=before + HOP_WEIGHT * (depth - 1),
        is_cause=cause_id == event.pk,
    )


def _ranked(suspects: list[Suspect]) -> list[Suspect]:
    suspects.sort(key=lambda s: (s.score, s.depth, s.before, s.kind, s.event.pk))
    return suspects
