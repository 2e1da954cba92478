"""Forms of the IT outage pages. They parse; the services validate the domain and write."""

from __future__ import annotations

from django import forms

from changes.forms import systems_field

from .models import Outage


class OutageForm(forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=Outage.Severity.choices, initial=Outage.Severity.SEV2)
    systems = systems_field()
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)


class OutageUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Outage.Status.choices)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
