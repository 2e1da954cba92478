from __future__ import annotations

from django import forms

from registry.forms import PersonByUsernameField

from .models import MAX_SECTION, SECTIONS


class ReviewForm(forms.Form):
    impact = forms.CharField(
        required=False,
        max_length=MAX_SECTION,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Who could not do what, for how long. Markdown.",
    )
    what_happened = forms.CharField(
        required=False, max_length=MAX_SECTION, widget=forms.Textarea(attrs={"rows": 8})
    )
    went_well = forms.CharField(
        required=False, max_length=MAX_SECTION, widget=forms.Textarea(attrs={"rows": 4})
    )
    to_change = forms.CharField(
        required=False, max_length=MAX_SECTION, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in SECTIONS:
            self.fields[name].label = label


class ActionItemForm(forms.Form):
    title = forms.CharField(max_length=200)
    owner = PersonByUsernameField(
        label="Owner (username)", widget=forms.TextInput(attrs={"maxlength": 150})
    )
    due_on = forms.DateField(label="Due", widget=forms.DateInput(attrs={"type": "date"}))
    tracker_url = forms.URLField(
        label="Issue tracker URL", required=False, max_length=500, assume_scheme="https"
    )
