"""The change calendar: scheduled IT changes as an iCalendar (RFC 5545) feed, so that owners see
maintenance windows in their own calendar.

The feed lives at a person's secret feed URL (the same revocable `CalendarFeed` token as their
on-call shifts: one secret to keep, one button to revoke), with a scope:

- `/feeds/changes/<token>.ics`: every change;
- `…?system=<slug>`: the changes on one IT system;
- `…?scope=mine`: the changes on any system the person's projects depend on, transitively.

Each change is one VEVENT whose UID never changes; SEQUENCE is the change's revision, so a moved
window updates the event in place, and a cancelled change stays as STATUS:CANCELLED.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event, vDuration

from oncall.feeds import feed_for_token
from registry.models import ITSystem, Person, ProjectRole
from steward.headers import content_disposition

from .models import Change
from .selectors import systems_reached_by

FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=180)
SHOWN_STATES = (
    Change.State.SCHEDULED,
    Change.State.IN_PROGRESS,
    Change.State.COMPLETED,
    Change.State.CANCELLED,
)


def systems_of_persons_projects(person: Person) -> set[int]:
    """Every IT system that a project the person owns, maintains or backs up depends on."""
    reached: set[int] = set()
    roles = ProjectRole.objects.filter(person=person).select_related("project")
    for role in roles:
        reached |= set(systems_reached_by(role.project))
    return reached


def changes_for_feed(
    *, person: Person, system: ITSystem | None = None, mine: bool = False, now: datetime
) -> QuerySet[Change]:
    """Changes that are not drafts and whose window touches the feed's range, in the scope."""
    changes = Change.objects.filter(
        state__in=SHOWN_STATES,
        planned_end_at__gt=now - FEED_PAST,
        planned_start_at__lt=now + FEED_AHEAD,
    )
    if system is not None:
        changes = changes.filter(systems=system)
    if mine:
        changes = changes.filter(systems__in=systems_of_persons_projects(person))
    return changes.distinct().prefetch_related("systems").order_by("planned_start_at", "id")


def _conflicts_text(change: Change) -> str:
    """The conflicts it was scheduled through, each with its reason, and why it goes ahead."""
    if not change.conflicts_noted:
        return ""
    lines = ["", "", "Scheduled through conflicts:"]
    lines += [f"- {reason}" for reason in change.conflicts_noted]
    lines.append(f"Justification: {change.conflict_justification}")
    return "\n".join(lines)


def _event(change: Change, *, now: datetime) -> Event:
    event = Event()
    event.add("uid", f"change-{change.pk}@steward")
    event.add("dtstamp", now)
    event.add("dtstart", change.planned_start_at)
    event.add("dtend", change.planned_end_at)
    event.add("sequence", change.revision)
    event.add("last-modified", change.updated_at)
    event.add("summary", f"IT change: {change.title}")
    systems = ", ".join(system.name for system in change.systems.all())
    event.add(
        "description",
        f"{change.get_type_display()} change, {change.get_risk_display().lower()} risk, "
        f"{change.get_state_display().lower()}.\nSystems: {systems}\n\n{change.description}"
        + _conflicts_text(change),
    )
    event.add("status", "CANCELLED" if change.state == Change.State.CANCELLED else "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("url", f"{settings.SITE_URL}{change.get_absolute_url()}")
    return event


def change_calendar(changes: QuerySet[Change], *, name: str, now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Steward//IT changes//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    # RFC 7986: a DURATION (`PT1H`); a bare timedelta would be written as text ("1:00:00").
    calendar.add(
        "refresh-interval", vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"}
    )
    for change in changes:
        calendar.add_component(_event(change, now=now))
    return calendar.to_ical()


@require_GET
def change_feed(request: HttpRequest, token: str) -> HttpResponse:
    """No login: the token of one of the person's feeds is the key; a revoked one is gone."""
    feed = feed_for_token(token)
    if feed.person_id is None:  # a rotation's feed is about that rotation only
        raise Http404("No such feed.")
    system = None
    if slug := request.GET.get("system", "").strip():
        system = ITSystem.objects.filter(slug=slug[:100]).first()
        if system is None:
            raise Http404("No such IT system.")
    mine = request.GET.get("scope") == "mine"
    now = timezone.now()
    name = (
        f"IT changes: {system.name}"
        if system
        else "IT changes touching my apps"
        if mine
        else "IT changes"
    )
    body = change_calendar(
        changes_for_feed(person=feed.person, system=system, mine=mine, now=now),
        name=name,
        now=now,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = content_disposition("changes.ics", as_attachment=False)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
