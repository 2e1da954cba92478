"""The template filters every page writes a time with, built into every template (settings'
`builtins`). Each writes through `steward.times.zoned`, so a time always names its zone, inside
``<time datetime="…UTC instant…" class="event-time|their-time">`` (machines and the time test
read the instant; ``|striptags`` gives the text alone, for an attribute):

- ``{{ at|when }}``, ``{{ at|when:"H:i" }}``: an event, in the viewer's zone (the zone
  `ViewerTimeZoneMiddleware` activated; a message's recipient's when rendered for one);
- ``{{ at|their_time:person.time_zone }}``: a person's clock, in their own zone;
- ``{{ at|in_zone:name }}``: an event in a zone the page chose (the on-call page's `?tz=`).
- ``{{ text|local_stamps }}``: a message's stored text, its times in the viewer's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html

from .times import EVENT_FORMAT, LOCAL_FORMAT, is_time_zone, localize_stamps, zoned

register = template.Library()


def _time(at: datetime, text: str, kind: str) -> str:
    return format_html(
        '<time datetime="{}" class="{}">{}</time>',
        at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        kind,
        text,
    )


@register.filter
def when(at: datetime | None, fmt: str = EVENT_FORMAT) -> str:
    if not isinstance(at, datetime):
        return ""
    return _time(at, zoned(at, timezone.get_current_timezone_name(), fmt), "event-time")


@register.filter
def their_time(at: datetime | None, zone_name: str) -> str:
    if not isinstance(at, datetime) or not is_time_zone(zone_name):
        return ""
    return _time(at, zoned(at, zone_name, LOCAL_FORMAT), "their-time")


@register.filter
def in_zone(at: datetime | None, zone_name: str) -> str:
    if not isinstance(at, datetime) or not is_time_zone(zone_name):
        return ""
    return _time(at, zoned(at, zone_name), "event-time")


@register.filter
def local_stamps(text: str) -> str:
    """A message's stored text with its UTC stamps in the viewer's zone (`localize_stamps`)."""
    return localize_stamps(text, timezone.get_current_timezone_name())
