"""Which contact kinds this installation can deliver: a kind whose provider is not configured is
refused when someone saves such a contact method, shown as "not deliverable" where methods are
listed, and fails at send time (notifications.providers asks the same questions here)."""

from __future__ import annotations

from django.conf import settings

from .models import ContactMethod


def twilio_refusal() -> str | None:
    missing = [
        name
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
        if not getattr(settings, name, "")
    ]
    if missing:
        return f"Twilio is not configured ({', '.join(missing)} not set)"
    return None


def slack_refusal() -> str | None:
    missing = [
        name
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
        if not getattr(settings, name, "")
    ]
    if missing:
        return f"Slack is not configured ({', '.join(missing)} not set)"
    return None


def apprise_refusal() -> str | None:
    if not settings.STEWARD_APPRISE_ENABLED:
        return "Apprise is turned off (STEWARD_APPRISE_ENABLED)"
    return None


# Kinds absent here need nothing but their address (email, webhook and incoming-webhook URLs).
_REFUSAL_OF_KIND = {
    "sms": twilio_refusal,
    "phone": twilio_refusal,
    "slack_user": slack_refusal,
    "apprise": apprise_refusal,
}


def contact_kind_refusal(kind: str) -> str | None:
    """`"<Kind> is not deliverable: <why>"` when the kind's provider is not configured, or None."""
    check = _REFUSAL_OF_KIND.get(kind)
    reason = check() if check else None
    if reason is None:
        return None
    label = ContactMethod.Kind(kind).label if kind in ContactMethod.Kind.values else kind
    return f"{label} is not deliverable: {reason}."
