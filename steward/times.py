"""Which instants Steward can store and show, in which time zones, and how it writes them.

Python's datetime holds the years 1 to 9999, and PostgreSQL more: a time near either end is
stored, and then every page that shows it in a time zone on the other side of UTC fails
(9999-12-31 23:00 UTC is already the year 10000 in Kiritimati). Times from outside, typed or sent,
must fall a day inside both ends; the JSON reader, the forms and the monitors' receivers check
with `instant_problem`.

Every time Steward shows is written by `zoned`, in one zone and with that zone named (an
abbreviation such as IST is Dublin's summer and India's year round): pages through the template
filters of `steward.timetags`, messages through `localize_stamps`. A message is written once for
all its recipients, so its times are stored as UTC stamps (`utc_stamp`) and each recipient's
channel rewrites them into the recipient's zone when it sends.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache, lru_cache

from django import forms
from django.http import HttpRequest, HttpResponse
from django.utils import dateformat, timezone, translation

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
EARLIEST_DAY = EARLIEST.date()
LATEST_DAY = LATEST.date()
RANGE = "between 0001-01-02 and 9999-12-30 UTC"


def instant_problem(value: datetime) -> str | None:
    """Why this time cannot be stored and shown in every zone, or None. A naive time is taken
    as UTC."""
    try:
        instant = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        inside = EARLIEST <= instant <= LATEST
    except OverflowError:  # its offset takes it out of the years 1 to 9999
        inside = False
    return None if inside else f"the time must be {RANGE}, so that every time zone can show it."


class BoundedDateTimeField(forms.DateTimeField):
    """A form's date and time that every time zone can show (see `instant_problem`)."""

    def to_python(self, value):
        result = super().to_python(value)
        problem = instant_problem(result) if result is not None else None
        if problem:
            raise forms.ValidationError(problem[:1].upper() + problem[1:], code="out_of_range")
        return result


class BoundedDateField(forms.DateField):
    """A form's date between `earliest` and `latest` (by default, what every zone can show):
    code that adds a day to it, or takes a month from it, stays inside the calendar."""

    def __init__(self, *args, earliest: date = EARLIEST_DAY, latest: date = LATEST_DAY, **kwargs):
        super().__init__(*args, **kwargs)
        self.earliest, self.latest = earliest, latest

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not self.earliest <= result <= self.latest:
            raise forms.ValidationError(
                f"Give a date between {self.earliest:%Y-%m-%d} and {self.latest:%Y-%m-%d}.",
                code="out_of_range",
            )
        return result


# Files under the zoneinfo folder that are not zones of the IANA database: the host's own zone,
# the POSIX rule template, a placeholder, and the copies with or without leap seconds.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})
NOT_ZONE_FOLDERS = ("posix/", "right/")


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA time zone names Steward accepts, from `zoneinfo` (the system's database or the
    tzdata package) without the files that are not zones."""
    return frozenset(
        name
        for name in zoneinfo.available_timezones()
        if name not in NOT_ZONES and not name.startswith(NOT_ZONE_FOLDERS)
    )


def is_time_zone(name: object) -> bool:
    return isinstance(name, str) and name in time_zone_names()


EVENT_FORMAT = "D j M Y, H:i"  # an event: the day it happened, in the viewer's zone
LOCAL_FORMAT = "D H:i"  # a person's clock now: what day and time it is where they are


def zoned(at: datetime, zone_name: str, fmt: str = EVENT_FORMAT) -> str:
    """`at` in the zone, written with Django's date format `fmt`, then the zone's name."""
    return _zoned(at, zone_name, fmt, translation.get_language())


# A page writes one moment in one zone many times: a directory page shows each supporter's
# clock now, 20-30 of them, most in a few zones (0.4 ms of its 4.4 ms of rendering, written
# each time). Equal instants are equal keys whatever their tzinfo; the language names the days.
@lru_cache(maxsize=256)
def _zoned(at: datetime, zone_name: str, fmt: str, language: str | None) -> str:
    return f"{dateformat.format(at.astimezone(zoneinfo.ZoneInfo(zone_name)), fmt)} {zone_name}"


def utc_stamp(at: datetime) -> str:
    """A time in a message's stored text: `localize_stamps` rewrites it for each recipient."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_UTC_STAMP = re.compile(r"\b(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}) UTC\b")


def localize_stamps(text: str, zone_name: str | None) -> str:
    """A message's text with each `utc_stamp` written in the recipient's zone (unchanged for a
    recipient without one, such as an anonymous subscriber: the stamps already name UTC)."""
    if not text or "UTC" not in text or not is_time_zone(zone_name) or zone_name == "UTC":
        return text
    language = translation.get_language()
    # What `_UTC_STAMP.sub` does, found from each " UTC" instead: the regular expression tried
    # every position of the text (33 µs for a page listing five apps; 8 µs this way). Whether
    # a stamp matches, and what it becomes, depends only on its 20 characters and the one on
    # each side (`\b`): a page listing eleven apps down since the same moment matches once.
    # (Those 20 to 22 characters tell a window at either end of the text from one inside it.)
    pieces: list[str] = []
    seen: dict[str, str | None] = {}
    done = 0
    at = text.find(_STAMP_END, _STAMP_LENGTH)
    while at != -1:
        start, end = at - _STAMP_LENGTH, at + len(_STAMP_END)
        if start >= done:
            key = text[max(start - 1, 0) : end + 1]
            local = seen.get(key, _UNSEEN)
            if local is _UNSEEN:
                match = _UTC_STAMP.match(text, start)  # \b sees the character before
                local = None if match is None else _stamp_in_zone(match[0], zone_name, language)
                seen[key] = local
            if local is not None:
                pieces += (text[done:start], local)
                done = end
        at = text.find(_STAMP_END, at + len(_STAMP_END))
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


_UNSEEN = object()


# A `utc_stamp`: "YYYY-MM-DD HH:MM" (16 characters), then " UTC".
_STAMP_LENGTH = 16
_STAMP_END = " UTC"


@lru_cache(maxsize=4096)
def _stamp_in_zone(stamp: str, zone_name: str, language: str | None) -> str:
    """One `utc_stamp` in a zone. Cached: a fan-out writes the same few stamps (an outage's
    start) into thousands of messages, and formatting one cost as much as sending it."""
    match = _UTC_STAMP.fullmatch(stamp)
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        at = datetime(year, month, day, hour, minute, tzinfo=UTC)
        with translation.override(language):
            return zoned(at, zone_name)
    except (ValueError, OverflowError):  # not a time after all, or one no zone can show
        return stamp


def offset_text(zone_name: str, at: datetime | None = None) -> str:
    """The zone's offset from UTC at `at` (now by default): ``UTC+05:30``, ``UTC−08:00``."""
    offset = (at or timezone.now()).astimezone(zoneinfo.ZoneInfo(zone_name)).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


BROWSER_ZONE_COOKIE = "steward_tz"


def viewer_zone_name(request: HttpRequest) -> str:
    """Whose clock a page's event times follow: the signed-in person's zone, else the one the
    browser reported (`static/js/time-zone.js`), else UTC. The cookie is typed by the browser,
    so only an IANA name is taken from it."""
    person = getattr(getattr(request, "user", None), "person", None)
    if person is not None and is_time_zone(person.time_zone):
        return person.time_zone
    browser = request.COOKIES.get(BROWSER_ZONE_COOKIE)
    return browser if is_time_zone(browser) else "UTC"


class ViewerTimeZoneMiddleware:
    """Activates the viewer's zone for the request: forms read typed times in it and pages show
    event times in it (`request.time_zone` names it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.time_zone = viewer_zone_name(request)
        with timezone.override(zoneinfo.ZoneInfo(request.time_zone)):
            return self.get_response(request)
