"""The form of an outgoing webhook endpoint; the services validate the URL and the events."""

from __future__ import annotations

from django import forms

from .models import WebhookEndpoint


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/steward"}),
    )
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=WebhookEndpoint.Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
