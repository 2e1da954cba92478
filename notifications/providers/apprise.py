"""Everything else people already run, through Apprise: one contact method holds one Apprise URL
(ntfy://, ntfys://, gotify://, pover://, tgram://, matrix://, mmost://, an SMS gateway's URL …).
A page's push carries the signed acknowledge link in its text; on ntfy, tapping the
notification opens it too (`click`).

Apprise reports success or failure, not why; the warnings it logs while sending become the
error Steward records. A failure is transient (bounded by the attempt limit, then the person's
next contact method): Apprise does not tell a refused message from an unreachable server.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from django.conf import settings

from registry.deliverability import apprise_destination_refusal, apprise_refusal

from ..channels import PermanentError, TransientError, ack_url_of
from ..models import Notification


def configured() -> str | None:
    return apprise_refusal()


def push_body(notification: Notification, ack: str | None = None) -> str:
    """The push's text; `ack` is the link already signed for its click URL, so that both carry
    the same one (two signatures a second apart differ)."""
    body = notification.body or notification.subject
    ack = ack_url_of(notification) if ack is None else ack
    if ack:
        body = f"{body}\n\nAcknowledge: {ack}"
    if notification.link:
        body = f"{body}\nOpen: {notification.link}"
    return body[:4000]


def _with_click(url: str, ack: str) -> str:
    """ntfy opens a notification's `click` URL when it is tapped: make that the ack link."""
    scheme = url.split("://", 1)[0].lower()
    if not ack or scheme not in {"ntfy", "ntfys"}:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "click"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("click", ack)])))


def send(notification: Notification) -> int:
    refusal = configured()
    if refusal:
        raise PermanentError(f"Not deliverable: {refusal}.")
    scheme = notification.address.split("://", 1)[0].lower()
    if scheme not in settings.STEWARD_APPRISE_SCHEMES:
        raise PermanentError(
            f"Steward does not send to {scheme}:// URLs (STEWARD_APPRISE_SCHEMES)."
        )
    refusal = apprise_destination_refusal(notification.address)
    if refusal:
        raise PermanentError(refusal)
    pusher = apprise.Apprise()
    ack = ack_url_of(notification)
    if not pusher.add(_with_click(notification.address, ack)):
        raise PermanentError("Apprise cannot send to this URL (unknown service or bad form).")
    title = f"[PAGE] {notification.subject}" if notification.is_urgent else notification.subject
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = pusher.notify(
            title=title[:250],
            body=push_body(notification, ack),
            notify_type=(
                apprise.NotifyType.FAILURE if notification.is_urgent else apprise.NotifyType.INFO
            ),
        )
        log = captured.getvalue().strip()
    if not ok:
        raise TransientError(f"Apprise could not deliver: {log[-500:] or 'no detail'}")
    return 200
