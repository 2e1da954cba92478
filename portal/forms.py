"""Forms of the problem-report and subscription pages. They check shape only; the services
(`portal.services.reports`, `incidents.services.subscriptions`) own the rules and name the field
when they refuse."""

from __future__ import annotations

from django import forms

from incidents.models import Incident, Outage, Subscription
from registry.models import Project

from .services.reports import MAX_CONTACT, MAX_DESCRIPTION


class ProblemReportForm(forms.Form):
    description = forms.CharField(
        label="What is not working?",
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_DESCRIPTION}),
        error_messages={"required": "Say what is not working."},
        help_text="What you tried, what happened, any error message.",
    )
    contact = forms.CharField(
        label="How to reach you (optional)",
        max_length=MAX_CONTACT,
        required=False,
        help_text="A phone number or chat handle, if not your account's email.",
    )


class SubscribeForm(forms.Form):
    """Signed-in: email (their own address) or webhook. Anonymous: an email address."""

    channel = forms.ChoiceField(
        label="How", choices=Subscription.Channel.choices, initial=Subscription.Channel.EMAIL
    )
    address = forms.CharField(
        label="Webhook URL (for a webhook) or email address (when not signed in)",
        max_length=500,
        required=False,
    )
    maintenance_notices = forms.BooleanField(
        label="Also tell me of planned IT maintenance ahead of time",
        required=False,
        initial=True,
    )

    def __init__(self, *args, signed_in: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not signed_in:
            self.fields["channel"].choices = [(Subscription.Channel.EMAIL, "Email")]
            self.fields["address"].label = "Your email address"
            self.fields["address"].required = True
            self.fields["address"].error_messages["required"] = "Give an email address."


class EscalateForm(forms.Form):
    title = forms.CharField(label="Incident title", max_length=200)
    impact = forms.ChoiceField(choices=Incident.Impact.choices, initial=Incident.Impact.DEGRADED)


class SystemProblemForm(forms.Form):
    """An owner's "this IT system is failing for my app": which app, and what they see."""

    project = forms.ChoiceField(label="Your app", error_messages={"required": "Choose your app."})
    description = forms.CharField(
        label="What fails?",
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_DESCRIPTION}),
        error_messages={"required": "Say what fails."},
        help_text="What your app sees: errors, since when, which users.",
    )

    def __init__(self, *args, projects: list[Project], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The service decides who may report for which app; this only offers the user's.
        self.fields["project"].choices = [(p.slug, p.name) for p in projects]
        self.fields["project"].valid_value = lambda value: bool(value)


class SystemOutageForm(forms.Form):
    """IT turns owners' reports into an outage of the system."""

    title = forms.CharField(label="Outage title", max_length=200)
    severity = forms.ChoiceField(choices=Outage.Severity.choices, initial=Outage.Severity.SEV2)


class SubscriptionManageForm(forms.Form):
    maintenance_notices = forms.BooleanField(
        label="Tell me of planned IT maintenance ahead of time", required=False
    )
