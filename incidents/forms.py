"""Forms of the outage and incident pages. They parse; the services validate the domain and
write.

Datetimes are read in the current time zone, which the views set to the author's own.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from changes.forms import LocalDateTimeInput, systems_field
from steward.times import BoundedDateField, BoundedDateTimeField

from .insights import MAX_PERIOD_DAYS
from .models import PUBLIC_SUMMARY_HELP, Incident, Outage
from .services.incidents import MAX_MESSAGE, MAX_TITLE

# --- outages -------------------------------------------------------------------------------------


def public_summary_field() -> forms.CharField:
    return forms.CharField(
        label="Public summary", max_length=200, required=False, help_text=PUBLIC_SUMMARY_HELP
    )


class OutageForm(forms.Form):
    title = forms.CharField(max_length=200, label="Title (internal)")
    public_summary = public_summary_field()
    severity = forms.ChoiceField(choices=Outage.Severity.choices, initial=Outage.Severity.SEV2)
    systems = systems_field()
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)


class OutageUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Outage.Status.choices)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    public_summary = public_summary_field()


# --- project incidents ---------------------------------------------------------------------------

OPEN_STATUS_CHOICES = [c for c in Incident.Status.choices if c[0] != Incident.Status.RESOLVED]


class IncidentOpenForm(forms.Form):
    title = forms.CharField(max_length=MAX_TITLE, label="Title (internal)")
    public_summary = public_summary_field()
    impact = forms.ChoiceField(choices=Incident.Impact.choices, initial=Incident.Impact.DEGRADED)
    message = forms.CharField(
        label="First update (public)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_MESSAGE,
        required=False,
        help_text="What users see; empty: “We are investigating.”",
    )
    started_at = BoundedDateTimeField(
        label="Began at",
        widget=LocalDateTimeInput(),
        required=False,
        help_text="Empty: now. Set it when the trouble began before you noticed.",
    )


class IncidentUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    impact = forms.ChoiceField(choices=Incident.Impact.choices)
    message = forms.CharField(
        label="Update (public)", widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_MESSAGE
    )


class IncidentCauseForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("change", "IT change"),
            ("outage", "IT outage"),
            ("release", "Release"),
            ("", "None"),
        ],
        required=False,
    )
    event = forms.IntegerField(required=False, min_value=1)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") and not data.get("event"):
            raise ValidationError({"event": "Say which change, outage or release."})
        return data


PERIOD_EARLIEST = date(1900, 1, 1)


class PeriodForm(forms.Form):
    # Bounded: the period's arithmetic (a day after the end, 30 days before it) stays in the
    # calendar, and insights before 1900 mean nothing.
    start = BoundedDateField(
        widget=forms.DateInput(attrs={"type": "date"}), required=False, earliest=PERIOD_EARLIEST
    )
    end = BoundedDateField(
        widget=forms.DateInput(attrs={"type": "date"}), required=False, earliest=PERIOD_EARLIEST
    )

    def period(self) -> tuple[date, date]:
        """The chosen days (both included); default the last 30 days up to today."""
        today = timezone.now().date()
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=29)
        if start > end or (end - start).days >= MAX_PERIOD_DAYS:
            start = end - timedelta(days=29)
        return start, end

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end") or timezone.now().date()
        if start and start > end:
            raise ValidationError({"end": "The period must end on or after its start."})
        if start and (end - start).days >= MAX_PERIOD_DAYS:
            raise ValidationError({"start": f"Pick at most {MAX_PERIOD_DAYS} days."})
        return data
