"""Forms of the on-call pages."""

from __future__ import annotations

from typing import Any

from django import forms

from registry.models import Person
from steward.times import BoundedDateTimeField

from .models import Rotation


class OverrideForm(forms.Form):
    rotation = forms.TypedChoiceField(coerce=int)
    person = forms.TypedChoiceField(coerce=int, label="Who covers")
    covered = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Covering for (empty: anyone)"
    )
    start_at = BoundedDateTimeField(
        label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end_at = BoundedDateTimeField(
        label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reason = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, rotations: list[Rotation], people: list[Person], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["rotation"].choices = [(r.pk, r.name) for r in rotations]
        choices = [(p.pk, f"{p.display_name} ({p.time_zone})") for p in people]
        self.fields["person"].choices = choices
        self.fields["covered"].choices = [("", "—")] + choices
