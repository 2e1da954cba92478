"""What Steward already knows about an outage or an incident, as the timeline a review starts
from: opened, each page and escalation (who, when, over which channel), each acknowledgement (who,
when, how), the updates, the users' reports and "me too"s, the suspect changes and the one named
as the cause, resolved. Entries carry UTC instants; the page writes them in the viewer's zone.

A fixed number of queries whatever the size of the event; an outage paging thousands of projects
lists its first `MAX_PAGE_ENTRIES` messages and acknowledgements and counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Max, Min, Q

from changes.models import Change
from incidents.models import Incident, Outage
from incidents.status import SUSPECT_WINDOW, change_started_at, suspects_for
from notifications.models import Notification, Page
from portal.models import ProblemReport, ReportGroup, SystemProblemReport

MAX_PAGE_ENTRIES = 200


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # opened, page, escalation, ack, update, reports, suspect, cause, resolved
    text: str
    who: str = ""


@dataclass
class Timeline:
    entries: list[Entry]
    pages: int = 0
    pages_acknowledged: int = 0
    reports: int = 0
    me_too: int = 0
    suspects: list[Entry] = field(default_factory=list)
    cause: Entry | None = None
    left_out: int = 0  # page messages and acknowledgements beyond MAX_PAGE_ENTRIES


def _name(person) -> str:
    return person.display_name if person is not None else ""


def _user_name(user) -> str:
    if user is None:
        return ""
    person = getattr(user, "person", None)
    return person.display_name if person is not None else user.get_username()


def _paging(event_type: ContentType, event_ids: list[int], timeline: Timeline) -> list[Entry]:
    """Page messages (one entry per person and step, whatever the number of channels) and the
    acknowledgements of the pages of these events: three queries."""
    entries: list[Entry] = []
    if not event_ids:
        return entries
    pages = Page.objects.filter(event_type=event_type, event_id__in=event_ids)
    counts = pages.aggregate(
        total=Count("id"), acked=Count("id", filter=Q(acknowledged_at__isnull=False))
    )
    timeline.pages, timeline.pages_acknowledged = counts["total"], counts["acked"]
    messages = (
        Notification.objects.filter(
            kind=Notification.Kind.PAGE, event_type=event_type, event_id__in=event_ids
        )
        .values("recipient__display_name", "round", "project__name")
        .annotate(at=Min("created_at"), channels=Count("channel", distinct=True))
        .order_by("at", "recipient__display_name")
    )
    rows = list(messages[: MAX_PAGE_ENTRIES + 1])
    for row in rows[:MAX_PAGE_ENTRIES]:
        step = row["round"]
        escalated = step > 0
        entries.append(
            Entry(
                at=row["at"],
                kind="escalation" if escalated else "page",
                text=(
                    f"Escalated (step {step + 1}) for {row['project__name']}"
                    if escalated
                    else f"Paged for {row['project__name']}"
                ),
                who=row["recipient__display_name"] or "",
            )
        )
    acks = list(
        pages.filter(acknowledged_at__isnull=False)
        .select_related("acknowledged_by", "project")
        .order_by("acknowledged_at", "id")[: MAX_PAGE_ENTRIES + 1]
    )
    for page in acks[:MAX_PAGE_ENTRIES]:
        via = f" ({page.acknowledged_via})" if page.acknowledged_via else ""
        entries.append(
            Entry(
                at=page.acknowledged_at,
                kind="ack",
                text=f"Acknowledged the page for {page.project.name}{via}",
                who=_name(page.acknowledged_by),
            )
        )
    timeline.left_out = max(0, len(rows) - MAX_PAGE_ENTRIES) + max(0, len(acks) - MAX_PAGE_ENTRIES)
    return entries


def _reports_entry(stats: dict, *, me_too: int, timeline: Timeline) -> list[Entry]:
    timeline.reports, timeline.me_too = stats["count"] or 0, me_too
    if not stats["count"]:
        return []
    return [
        Entry(
            at=stats["first"],
            kind="reports",
            text=(
                f"First user report; {stats['count']} in all, {me_too} of them “me too” on it, "
                "the last at the time below"
            ),
        ),
        Entry(at=stats["last"], kind="reports", text="Last user report"),
    ]


def outage_timeline(outage: Outage) -> Timeline:
    timeline = Timeline(entries=[])
    entries = [
        Entry(
            outage.started_at,
            "opened",
            f"Outage opened ({outage.get_severity_display()})",
            _user_name(outage.opened_by),
        )
    ]
    for update in outage.updates.select_related("author__person").order_by("created_at", "id"):
        entries.append(
            Entry(
                update.created_at,
                "update",
                f"{update.get_status_display()}: {update.message}",
                _user_name(update.author),
            )
        )
    entries += _paging(ContentType.objects.get_for_model(Outage), [outage.pk], timeline)
    stats = ProblemReport.objects.filter(outage=outage).aggregate(
        count=Count("id"), first=Min("created_at"), last=Max("created_at")
    )
    system_reports = SystemProblemReport.objects.filter(outage=outage).count()
    stats["count"] = (stats["count"] or 0) + system_reports
    if system_reports and stats["first"] is None:
        stats["first"] = stats["last"] = outage.started_at
    entries += _reports_entry(stats, me_too=stats["count"], timeline=timeline)
    # Outages have no cause field: the IT changes on their systems in the hours before are the
    # suspects, nearest first.
    since = outage.started_at - SUSPECT_WINDOW
    systems = [s.pk for s in outage.systems.all()]
    changes = (
        Change.objects.filter(systems__in=systems)
        .exclude(state__in=(Change.State.DRAFT, Change.State.CANCELLED))
        .filter(
            Q(started_at__isnull=False, started_at__gte=since, started_at__lte=outage.started_at)
            | Q(
                started_at__isnull=True,
                planned_start_at__gte=since,
                planned_start_at__lte=outage.started_at,
            )
        )
        .distinct()
    )
    timeline.suspects = sorted(
        (Entry(change_started_at(c), "suspect", f"IT change: {c.title}") for c in changes),
        key=lambda e: outage.started_at - e.at,
    )
    entries += timeline.suspects
    if outage.resolved_at:
        entries.append(Entry(outage.resolved_at, "resolved", "Resolved"))
    timeline.entries = sorted(entries, key=lambda e: (e.at, e.kind))
    return timeline


def incident_timeline(incident: Incident) -> Timeline:
    timeline = Timeline(entries=[])
    entries = [
        Entry(
            incident.started_at,
            "opened",
            f"Incident opened ({incident.get_impact_display()})",
            _user_name(incident.opened_by),
        )
    ]
    if incident.acknowledged_at:
        entries.append(Entry(incident.acknowledged_at, "ack", "First response (acknowledged)"))
    for update in incident.updates.select_related("author__person").order_by("created_at", "id"):
        entries.append(
            Entry(
                update.created_at,
                "update",
                f"{update.get_status_display()}: {update.message}",
                _user_name(update.author),
            )
        )
    group_ids = list(ReportGroup.objects.filter(incident=incident).values_list("pk", flat=True))
    entries += _paging(ContentType.objects.get_for_model(Incident), [incident.pk], timeline)
    before = Timeline(entries=[])
    entries += _paging(ContentType.objects.get_for_model(ReportGroup), group_ids, before)
    timeline.pages += before.pages
    timeline.pages_acknowledged += before.pages_acknowledged
    timeline.left_out += before.left_out
    reports = ProblemReport.objects.filter(Q(incident=incident) | Q(group_id__in=group_ids))
    stats = reports.aggregate(count=Count("id"), first=Min("created_at"), last=Max("created_at"))
    me_too = reports.filter(incident=incident).count()
    entries += _reports_entry(stats, me_too=me_too, timeline=timeline)
    for suspect in suspects_for(incident):
        label = {"change": "IT change", "outage": "IT outage", "release": "Release"}[suspect.kind]
        name = getattr(suspect.event, "title", None) or getattr(suspect.event, "summary", "")
        entry = Entry(
            suspect.started_at,
            "cause" if suspect.is_cause else "suspect",
            f"{label}: {name} — {suspect.path_display}"
            + (" (named as the cause)" if suspect.is_cause else ""),
        )
        timeline.suspects.append(entry)
        if suspect.is_cause:
            timeline.cause = entry
    entries += timeline.suspects
    if timeline.cause is None:
        cause = incident.cause_change or incident.cause_outage or incident.cause_release
        if cause is not None:
            name = getattr(cause, "title", None) or getattr(cause, "summary", str(cause))
            at = getattr(cause, "started_at", None) or getattr(cause, "happened_at", None)
            timeline.cause = Entry(
                at or incident.started_at, "cause", f"Named as the cause: {name}"
            )
            entries.append(timeline.cause)
    if incident.resolved_at:
        entries.append(Entry(incident.resolved_at, "resolved", "Resolved"))
    timeline.entries = sorted(entries, key=lambda e: (e.at, e.kind))
    return timeline


def timeline_for(subject: Outage | Incident) -> Timeline:
    if isinstance(subject, Outage):
        return outage_timeline(subject)
    return incident_timeline(subject)
