"""Validators for the registry's structured fields: time zones, working hours, contact addresses."""

import re
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from steward import net
from steward.times import is_time_zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def validate_time_zone(value: str) -> None:
    """An IANA zone name only: `zoneinfo` also opens files that are not zones (`localtime`,
    `posixrules`, `Factory`, `right/…`, `posix/…`), which every entry point must refuse."""
    if not is_time_zone(value):
        raise ValidationError(
            "“%(value)s” is not an IANA time zone (for example Europe/Paris).",
            params={"value": str(value)[:70]},
        )


def parse_hhmm(value: str) -> time | None:
    """`HH:MM` → time; ``24:00`` → None, meaning end of day."""
    if value == "24:00":
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def validate_working_hours(value: object) -> None:
    """Working hours: ``{"mon": [["09:00", "17:00"]], ...}``, local time, intervals in order.

    A missing weekday means not working that day. Intervals may not overlap; ``24:00`` ends a day.
    """
    if not isinstance(value, dict):
        raise ValidationError(
            'Working hours must be an object such as {"mon": [["09:00", "17:00"]]}.'
        )
    for day, intervals in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(
                "“%(day)s” is not a weekday; use one of %(days)s.",
                params={"day": day, "days": ", ".join(WEEKDAYS)},
            )
        if not isinstance(intervals, list):
            raise ValidationError(
                "%(day)s: expected a list of [start, end] pairs.", params={"day": day}
            )
        previous_end = -1
        for interval in intervals:
            if (
                not isinstance(interval, (list, tuple))
                or len(interval) != 2
                or not all(isinstance(part, str) and _HHMM.match(part) for part in interval)
            ):
                raise ValidationError(
                    "%(day)s: %(interval)s is not a [“HH:MM”, “HH:MM”] pair.",
                    params={"day": day, "interval": interval},
                )
            start, end = (_minutes(part) for part in interval)
            if start == 24 * 60 or end <= start:
                raise ValidationError(
                    "%(day)s: %(start)s–%(end)s ends before it starts.",
                    params={"day": day, "start": interval[0], "end": interval[1]},
                )
            if start < previous_end:
                raise ValidationError(
                    "%(day)s: intervals overlap or are out of order.", params={"day": day}
                )
            previous_end = end


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# A Slack member id (U…, or W… on Enterprise Grid), as Slack shows it under "Copy member ID".
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def validate_apprise_url(address: str) -> None:
    """A URL Apprise knows how to send to (ntfy://, gotify://, pover://, tgram://, matrix://,
    mmost://, json:// …): Apprise parses it with the plugin of its scheme and refuses what the
    plugin cannot use."""
    import apprise  # late: its plugins load on first use, not at every import of the registry

    if not address or "://" not in address:
        raise ValidationError("Enter an Apprise URL, such as ntfys://ntfy.example.com/my-topic.")
    scheme = address.split("://", 1)[0].lower()
    if scheme not in settings.STEWARD_APPRISE_SCHEMES:
        raise ValidationError(
            "Steward does not send to “%(scheme)s://” URLs; it sends to %(allowed)s.",
            params={
                "scheme": scheme[:30],
                "allowed": ", ".join(f"{s}://" for s in settings.STEWARD_APPRISE_SCHEMES),
            },
        )
    if not apprise.Apprise().add(address):
        raise ValidationError(
            "Apprise cannot send to this URL: “%(scheme)s://” is not a service it knows, or the "
            "URL lacks what that service needs (see the Apprise wiki for the service's form).",
            params={"scheme": scheme[:30]},
        )
    from .deliverability import apprise_destination_refusal  # late: it reads the models

    refusal = apprise_destination_refusal(address)
    if refusal:
        raise ValidationError(refusal)


def validate_contact_address(kind: str, address: str) -> None:
    """The address must fit its kind: an email, an E.164 phone number, a Slack member id, an
    Apprise URL, or an http(s) URL that Steward may send to (`steward.net`: checked again at every
    send)."""
    if kind == "email":
        EmailValidator(message="Enter a valid email address.")(address)
    elif kind in {"sms", "phone"}:
        if not _E164.match(address or ""):
            raise ValidationError(
                "Enter a phone number in international form, such as +14155550100."
            )
    elif kind == "slack_user":
        if not _SLACK_USER_ID.match(address or ""):
            raise ValidationError(
                "Enter a Slack member ID such as U024BE7LH (the person's Slack profile, "
                "“Copy member ID”)."
            )
    elif kind == "apprise":
        validate_apprise_url(address)
    else:
        URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")(
            address
        )
        refusal = net.url_refusal(address)
        if refusal:
            raise ValidationError(refusal)
