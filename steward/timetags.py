"""The template filters every page writes a time with, built into every template (settings'
`builtins`). Each writes through `steward.times.zoned`, so a time always names its zone:

- ``{{ at|when }}``, ``{{ at|when:"H:i" }}``: an event, in the viewer's zone (the zone
  `ViewerTimeZoneMiddleware` activated; a message's recipient's when rendered for one);
- ``{{ at|their_time:person.time_zone }}``: a person's clock, in their own zone;
- ``{{ at|in_zone:name }}``: an event in a zone the page chose (the on-call page's `?tz=`).
- ``{{ text|local_stamps }}``: a message's stored text, its times in the viewer's zone.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from .times import EVENT_FORMAT, LOCAL_FORMAT, is_time_zone, localize_stamps, zoned

register = template.Library()


@register.filter
def when(at: datetime | None, fmt: str = EVENT_FORMAT) -> str:
    if not isinstance(at, datetime):
        return ""
    return zoned(at, timezone.get_current_timezone_name(), fmt)


@register.filter
def their_time(at: datetime | None, zone_name: str) -> str:
    if not isinstance(at, datetime) or not is_time_zone(zone_name):
        return ""
    return zoned(at, zone_name, LOCAL_FORMAT)


@register.filter
def in_zone(at: datetime | None, zone_name: str) -> str:
    if not isinstance(at, datetime) or not is_time_zone(zone_name):
        return ""
    return zoned(at, zone_name)


@register.filter
def local_stamps(text: str) -> str:
    """A message's stored text with its UTC stamps in the viewer's zone (`localize_stamps`)."""
    return localize_stamps(text, timezone.get_current_timezone_name())
