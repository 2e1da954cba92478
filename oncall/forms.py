"""Forms of the on-call pages: overrides, the rotation and escalation editors, swap requests and
time off. The editors' forms parse; the services judge (their checks run from `clean`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from registry.models import Person, Project, Team
from registry.validators import WEEKDAYS
from steward.times import BoundedDateField, BoundedDateTimeField

from . import services
from .models import EscalationLevel, Rotation, RotationLayer


def datetime_local(label: str) -> BoundedDateTimeField:
    """A date and time typed in the viewer's zone (the view parses it there)."""
    return BoundedDateTimeField(
        label=label, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


def person_choices(people: list[Person]) -> list[tuple[int, str]]:
    """People named with their zone, as every on-call picker lists them."""
    return [(p.pk, f"{p.display_name} ({p.time_zone})") for p in people]


class OverrideForm(forms.Form):
    rotation = forms.TypedChoiceField(coerce=int)
    person = forms.TypedChoiceField(coerce=int, label="Who covers")
    covered = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Covering for (empty: anyone)"
    )
    start_at = datetime_local("From")
    end_at = datetime_local("Until")
    reason = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, rotations: list[Rotation], people: list[Person], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["rotation"].choices = [(r.pk, r.name) for r in rotations]
        choices = person_choices(people)
        self.fields["person"].choices = choices
        self.fields["covered"].choices = [("", "—")] + choices


# --- the rotation and escalation editors ----------------------------------------------------------


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's field errors beside the form's fields (the first for each field), the rest
    above the form."""
    for field, messages in exc.message_dict.items():
        name = field if field in form.fields else None
        if name is None or not form.has_error(name):
            form.add_error(name, messages)


class PeopleInTurnField(forms.TypedMultipleChoiceField):
    """People in turn order: one <select> per place, all of the same name, which the browser sends
    in page order; the empty places are skipped."""

    def to_python(self, value: Any) -> list[str]:
        return [v for v in super().to_python(value) if v]


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class RotationForm(forms.Form):
    name = forms.CharField(max_length=200, label="Rotation name")


class LayerForm(forms.Form):
    """One layer of the editor (prefix ``layer-N``). Cleaning runs the services' own checks
    (`layer_check`), so the editor, its preview and the API refuse the same things."""

    name = forms.CharField(max_length=200, required=False, label="Layer name")
    time_zone = forms.CharField(
        max_length=64,
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
        help_text="Handoffs and restrictions are in this zone: an IANA name such as Europe/Dublin.",
    )
    start_date = BoundedDateField(
        label="First handoff on", widget=forms.DateInput(attrs={"type": "date"})
    )
    handoff_time = forms.TimeField(label="Handoff at", widget=_time_input())
    length = forms.ChoiceField(choices=RotationLayer.Length.choices, label="Shift length")
    length_count = forms.IntegerField(
        min_value=1, max_value=744, initial=1, label="N (hours, days or weeks)"
    )
    restrict_start = forms.TimeField(required=False, label="Only from", widget=_time_input())
    restrict_end = forms.TimeField(required=False, label="until", widget=_time_input())
    restrict_days = forms.MultipleChoiceField(
        choices=[(day, day.capitalize()) for day in WEEKDAYS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only on (none: every day)",
    )
    # Not required here: `layer_check` says why a layer needs someone.
    members = PeopleInTurnField(coerce=int, required=False, label="Members, in turn order")

    def __init__(self, *args: Any, people: list[Person], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.people = {p.pk: p for p in people}
        self.fields["members"].choices = person_choices(people)
        self.layer: RotationLayer | None = None

    def member_slots(self) -> list[str]:
        """The chosen members' ids in order, and one empty place to add someone."""
        value = self["members"].value() or []
        return [str(v) for v in value if v] + [""]

    def clean(self) -> dict:
        cleaned = super().clean()
        fields = {name: cleaned.get(name) for name in services.LAYER_FIELDS if name in cleaned}
        fields["restrict_days"] = cleaned.get("restrict_days") or []
        layer = RotationLayer(**fields)
        members = [self.people[pk] for pk in cleaned.get("members", [])]
        try:
            services.layer_check(layer, members)
        except ValidationError as exc:
            add_service_errors(self, exc)
        else:
            self.layer = layer
        return cleaned

    def spec(self) -> dict[str, Any]:
        """The layer as `services.rotation_save` takes it."""
        data = self.cleaned_data
        return {
            **{name: data[name] for name in services.LAYER_FIELDS if name in data},
            "restrict_days": self.layer.restrict_days,
            "members": [self.people[pk] for pk in data["members"]],
        }


class EscalationForm(forms.Form):
    repeat_count = forms.IntegerField(
        min_value=0,
        max_value=services.MAX_REPEATS,
        initial=2,
        label="Then repeat the levels",
        help_text="How many more passes through the levels while nobody acknowledges.",
    )


class LevelForm(forms.Form):
    """One level of the escalation editor (prefix ``level-N``); only the target's own choice
    (rotation, person or team) is read, and `services.level_check` judges it."""

    target = forms.ChoiceField(choices=EscalationLevel.Target.choices)
    rotation = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    person = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    team = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    delay_minutes = forms.IntegerField(
        min_value=0, max_value=24 * 60, initial=10, label="Minutes before the next level"
    )

    def __init__(
        self,
        *args: Any,
        project: Project,
        rotations: list[Rotation],
        people: list[Person],
        teams: list[Team],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.project = project
        self.spec: dict[str, Any] = {}
        self.choices = {
            "rotation": {r.pk: r for r in rotations},
            "person": {p.pk: p for p in people},
            "team": {t.pk: t for t in teams},
        }
        for name, objects in self.choices.items():
            self.fields[name].choices = [("", "—")] + [(pk, str(o)) for pk, o in objects.items()]

    def clean(self) -> dict:
        cleaned = super().clean()
        if "target" not in cleaned or "delay_minutes" not in cleaned:
            return cleaned
        spec: dict[str, Any] = {
            "target": cleaned["target"],
            "delay_minutes": cleaned["delay_minutes"],
        }
        needed = cleaned["target"] if cleaned["target"] in self.choices else None
        if needed and cleaned.get(needed) is not None:
            spec[needed] = self.choices[needed][cleaned[needed]]
        try:
            services.level_check(self.project, spec)
        except ValidationError as exc:
            add_service_errors(self, exc)
        self.spec = spec
        return cleaned


class SwapForm(forms.Form):
    """Ask someone to take a shift of yours, or part of it (times in the viewer's zone)."""

    rotation = forms.TypedChoiceField(coerce=int)
    recipient = forms.TypedChoiceField(coerce=int, label="Ask")
    start_at = datetime_local("From")
    end_at = datetime_local("Until")
    note = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, rotations: list[Rotation], people: list[Person], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["rotation"].choices = [(r.pk, r.name) for r in rotations]
        self.fields["recipient"].choices = person_choices(people)


class TimeOffForm(forms.Form):
    """Record time away (times in the viewer's zone)."""

    start_at = datetime_local("Away from")
    end_at = datetime_local("Back at")
    reason = forms.CharField(required=False, max_length=200)
