"""iCalendar (RFC 5545) feeds of on-call shifts, at secret per-feed URLs that can be revoked.

A calendar program subscribes without signing in, so the token in the URL is the credential: it is
long and random, never written to the audit log, and a revoked (or unknown) token answers 404.
Shifts are computed from the rules each time the feed is fetched; each keeps a stable UID so that a
refresh updates events instead of adding new ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event, vDuration

from steward.headers import content_disposition

from .models import CalendarFeed
from .schedule import Shift, person_shifts, rotation_shifts, rotations_queryset

# What a subscribed calendar shows: the recent past and the coming quarter.
FEED_PAST = timedelta(days=14)
FEED_AHEAD = timedelta(days=90)
FEED_MARGIN = timedelta(days=35)


def feed_for_token(token: str) -> CalendarFeed:
    feed = (
        CalendarFeed.objects.select_related("person", "rotation")
        .filter(token=token, revoked_at__isnull=True)
        .first()
    )
    if feed is None:
        raise Http404("No such feed.")
    return feed


def feed_shifts(feed: CalendarFeed, *, now: datetime) -> list[Shift]:
    """The shifts that touch the feed's window, whole: computed over a wider range, so that the
    first and last events do not start or end wherever `now` happened to fall (and keep their
    UIDs from one fetch to the next)."""
    start, end = now - FEED_PAST, now + FEED_AHEAD
    wide_start, wide_end = start - FEED_MARGIN, end + FEED_MARGIN
    if feed.person_id:
        shifts = person_shifts(feed.person, wide_start, wide_end)
    else:
        rotation = rotations_queryset().get(pk=feed.rotation_id)
        shifts = rotation_shifts(rotation, wide_start, wide_end)
    return [s for s in shifts if s.end > start and s.start < end]


def feed_name(feed: CalendarFeed) -> str:
    if feed.person_id:
        return f"On call: {feed.person.display_name}"
    return f"On call: {feed.rotation.name}"


def calendar_for(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    now = now or timezone.now()
    calendar = Calendar()
    calendar.add("prodid", "-//Steward//On-call shifts//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", feed_name(feed))
    # RFC 7986: a DURATION (`PT1H`); a bare timedelta would be written as text ("1:00:00").
    calendar.add(
        "refresh-interval", vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"}
    )
    for shift in feed_shifts(feed, now=now):
        event = Event()
        event.add("uid", shift.uid)
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        if feed.person_id:
            summary = f"On call: {shift.rotation.name}"
        else:
            summary = f"{shift.person.display_name} on call"
        if shift.override is not None:
            covered = shift.override.covered
            summary += f" (covering {covered.display_name})" if covered else " (override)"
        event.add("summary", summary)
        event.add("description", f"{shift.rotation.name}: {shift.person.display_name}")
        event.add("transp", "OPAQUE" if feed.person_id else "TRANSPARENT")
        if shift.rotation.project_id:
            event.add("url", f"{settings.SITE_URL}/projects/{shift.rotation.project.slug}/oncall/")
        calendar.add_component(event)
    return calendar.to_ical()


@require_GET
def oncall_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The feed itself: no login, the token is the key."""
    feed = feed_for_token(token)
    response = HttpResponse(calendar_for(feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = content_disposition("oncall.ics", as_attachment=False)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
