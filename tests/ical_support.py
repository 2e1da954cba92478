"""What an iCalendar feed must be to reach every calendar program: RFC 5545, checked three ways.

1. The current `icalendar` release parses it, and records no property it had to give up on.
2. `ical` (Home Assistant's strict reader, built on typed models) parses it.
3. The rules neither reader enforces, checked on the bytes: CRLF line ends, lines of at most
   75 octets (folded with a space or tab), VERSION and PRODID once, UID, DTSTAMP and DTSTART on
   every VEVENT, and every TZID a VTIMEZONE of the calendar defines.
"""

from __future__ import annotations

import re

from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

_TZID = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)")


def unfolded_lines(body: bytes) -> list[str]:
    lines: list[str] = []
    for raw in body.split(b"\r\n")[:-1]:
        text = raw.decode("utf-8")
        if raw[:1] in (b" ", b"\t"):
            lines[-1] += text[1:]
        else:
            lines.append(text)
    return lines


def rfc5545_problems(body: bytes) -> list[str]:
    """Every way `body` breaks RFC 5545 (empty when it is a valid calendar)."""
    problems: list[str] = []
    if not body.endswith(b"\r\n"):
        problems.append("the calendar does not end with CRLF")
    if re.search(rb"(?<!\r)\n", body) or re.search(rb"\r(?!\n)", body):
        problems.append("a line ends with a bare LF or CR, not CRLF")
    for number, raw in enumerate(body.split(b"\r\n"), 1):
        if len(raw) > 75:
            problems.append(f"line {number} is {len(raw)} octets long (at most 75)")
    try:
        calendar = Calendar.from_ical(body)
    except ValueError as exc:
        return [*problems, f"icalendar refuses it: {exc}"]
    for component in calendar.walk():
        problems += [f"icalendar: {component.name} {error}" for error in component.errors]
    try:
        IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 — ical's errors are its own classes and pydantic's
        problems.append(f"ical refuses it: {exc}")
    lines = unfolded_lines(body)
    for name in ("VERSION", "PRODID"):
        found = [line for line in lines if re.match(rf"{name}[;:]", line)]
        if len(found) != 1:
            problems.append(f"{name} appears {len(found)} times (once required)")
    if "VERSION:2.0" not in lines:
        problems.append("VERSION is not 2.0")
    for event in calendar.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART"):
            if required not in event:
                problems.append(f"a VEVENT has no {required}: {event.get('UID')}")
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    for line in lines:
        for tzid in _TZID.findall(line.split(":", 1)[0] + ":"):
            if tzid.strip('"') not in defined:
                problems.append(f"TZID {tzid} has no VTIMEZONE: {line[:60]}")
    return problems
