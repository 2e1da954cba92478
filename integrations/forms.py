"""The form IT staff fill in to expect a heartbeat; the service checks the name is free."""

from __future__ import annotations

from django import forms

from incidents.models import Outage


class HeartbeatForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What pings: “nightly backup”, “cron on db1”.")
    interval_minutes = forms.IntegerField(
        label="Every (minutes)",
        min_value=1,
        max_value=60 * 24 * 31,  # as the model's validator: a month
    )
    grace_minutes = forms.IntegerField(
        label="Grace (minutes)",
        min_value=0,
        max_value=60 * 24 * 7,  # a week
        initial=5,
        help_text="How late a ping may be before an outage opens.",
    )
    severity = forms.ChoiceField(choices=Outage.Severity.choices, initial=Outage.Severity.SEV2)
