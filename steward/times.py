"""Which instants Steward can store and show.

Python's datetime holds the years 1 to 9999, and PostgreSQL more: a time near either end is
stored, and then every page that shows it in a time zone on the other side of UTC fails
(9999-12-31 23:00 UTC is already the year 10000 in Kiritimati). Times from outside, typed or sent,
must fall a day inside both ends; the JSON reader, the forms and the monitors' receivers check
with `instant_problem`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from django import forms

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
