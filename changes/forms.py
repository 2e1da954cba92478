"""Forms of the IT change pages (and what the outage forms of `incidents` share with them).
They parse; the services validate the domain and write.

Datetimes are read and shown in the current time zone, which the views set to the author's own
(`Person.time_zone`); Django makes them aware in it and they are stored in UTC.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from registry.models import ITSystem
from steward.times import BoundedDateTimeField

from .models import Change, ChangeResponse, ImpactedProject
from .slots import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES

LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs) -> None:
        super().__init__(format=LOCAL_INPUT, **kwargs)


def systems_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=ITSystem.objects.order_by("name"),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="Hold Ctrl or ⌘ to pick several; the impact below follows your choice.",
    )


class ChangeForm(forms.Form):
    title = forms.CharField(max_length=200)
    type = forms.ChoiceField(choices=Change.Type.choices, initial=Change.Type.NORMAL)
    risk = forms.ChoiceField(choices=Change.Risk.choices, initial=Change.Risk.LOW)
    planned_start_at = BoundedDateTimeField(label="Planned start", widget=LocalDateTimeInput())
    planned_end_at = BoundedDateTimeField(label="Planned end", widget=LocalDateTimeInput())
    systems = systems_field()
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    rollback_plan = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reminder_lead_minutes = forms.CharField(
        label="Reminders (minutes before the start)",
        required=False,
        help_text="Comma-separated, e.g. 1440, 60. Empty: no reminders.",
    )
    maintenance_systems = forms.ModelMultipleChoiceField(
        queryset=ITSystem.objects.order_by("name"),
        required=False,
        label="Also in maintenance",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="Systems that depend on the affected ones: their alerts are held too.",
    )
    conflict_justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=5000,
        label="Justification for going through conflicts",
        help_text="Required to schedule a change whose window has conflicts; owners see it.",
    )

    @classmethod
    def initial_for(cls, change: Change) -> dict:
        window = getattr(change, "maintenance", None)
        extra = list(window.extra_systems.all()) if window else []
        return {
            "title": change.title,
            "type": change.type,
            "risk": change.risk,
            "planned_start_at": change.planned_start_at,
            "planned_end_at": change.planned_end_at,
            "systems": list(change.systems.all()),
            "description": change.description,
            "rollback_plan": change.rollback_plan,
            "reminder_lead_minutes": ", ".join(str(m) for m in change.reminder_lead_minutes),
            "maintenance_systems": extra,
            "conflict_justification": change.conflict_justification,
        }

    def clean_reminder_lead_minutes(self) -> list[int]:
        raw = self.cleaned_data["reminder_lead_minutes"]
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError as exc:
            raise ValidationError("Give whole minutes separated by commas.") from exc


class ChangeResponseForm(forms.Form):
    project = forms.TypedChoiceField(coerce=int, label="For project")
    answer = forms.ChoiceField(
        choices=ChangeResponse.Answer.choices, widget=forms.RadioSelect, initial="fine"
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required with a concern: say what worries you.",
    )

    def __init__(self, *args, touched: list[ImpactedProject], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].choices = [(i.project_id, i.project.name) for i in touched]
        if len(touched) == 1:
            self.fields["project"].initial = touched[0].project_id


class ReleaseForm(forms.Form):
    """A release of a project, on its page: its time is read in the signed-in person's zone,
    which the field names."""

    summary = forms.CharField(
        max_length=1024, label="Version or summary", help_text="e.g. v2.4.1, or what changed."
    )
    url = forms.URLField(
        max_length=1000,
        required=False,
        assume_scheme="https",
        label="Link",
        help_text="The release notes, tag or commit (optional).",
    )
    happened_at = BoundedDateTimeField(
        label="When",
        required=False,
        widget=LocalDateTimeInput(),
    )

    def __init__(self, *args, time_zone: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["happened_at"].help_text = f"Your time, {time_zone}; empty for now."


class SlotSearchForm(forms.Form):
    """The quietest-slot search: read from the query string (GET), so a result can be linked."""

    title = forms.CharField(
        max_length=200, required=False, help_text="Give one to book a slot in one click."
    )
    systems = systems_field()
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)",
        min_value=MIN_DURATION_MINUTES,
        max_value=MAX_DURATION_MINUTES,
        initial=60,
    )
    range_start = BoundedDateTimeField(
        label="From", required=False, widget=LocalDateTimeInput(), help_text="Empty: now."
    )
    range_end = BoundedDateTimeField(
        label="Until",
        required=False,
        widget=LocalDateTimeInput(),
        help_text="Empty: 14 days after the start; at most 90 days.",
    )


class SlotBookForm(forms.Form):
    """One suggested slot, booked: the hidden fields of its button."""

    title = forms.CharField(max_length=200)
    systems = forms.ModelMultipleChoiceField(queryset=ITSystem.objects.all())
    planned_start_at = BoundedDateTimeField()
    duration_minutes = forms.IntegerField(
        min_value=MIN_DURATION_MINUTES, max_value=MAX_DURATION_MINUTES
    )
