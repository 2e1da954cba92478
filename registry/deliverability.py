"""Which contact kinds this installation can deliver: a kind whose provider is not configured is
refused when someone saves such a contact method, shown as "not deliverable" where methods are
listed, and fails at send time (notifications.providers asks the same questions here)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from steward import net

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


# Apprise services whose URL names a server the person runs (the host after `://`): Steward checks
# that host as it checks any URL it sends to. The other services' URLs carry tokens where a host
# would be, and Apprise reaches their vendors' fixed hosts.
SELF_HOSTED_APPRISE_SCHEMES = frozenset(
    {
        "ntfy", "ntfys", "gotify", "gotifys", "matrix", "matrixs", "mmost", "mmosts", "rocket",
        "rockets", "zulip", "signal", "signals", "smseagle", "smseagles", "json", "jsons",
        "xml", "xmls", "form", "forms",
    }
)  # fmt: skip


def apprise_destination_refusal(url: str) -> str | None:
    """Why Apprise may not connect to the server this URL names, or None: the host is checked by
    `steward.net` (every resolved address), when the URL is saved and before every push. Apprise
    then resolves and connects on its own, so unlike a webhook the connection is not pinned to the
    checked address: a host whose DNS answer changes between the two can still slip through."""
    scheme = url.split("://", 1)[0].lower()
    if scheme not in SELF_HOSTED_APPRISE_SCHEMES:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return "The URL's host cannot be read."
    if not host:
        return None
    return net.url_refusal(f"http://[{host}]/" if ":" in host else f"http://{host}/")
