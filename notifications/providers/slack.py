"""Slack through its official SDK: a page is a direct message to the person's Slack member id
(conversations.open, chat.postMessage) with an Acknowledge button. Pressing it reaches the
interactivity endpoint, signed with the app's signing secret (checked with slack_sdk's
SignatureVerifier, which also refuses a timestamp older than five minutes); the endpoint
acknowledges the page and updates the message (chat.update).

SLACK_API_URL points the client at another host (the tests' local stand-in of Slack's Web API).
"""

from __future__ import annotations

import logging
import urllib.error

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier

from registry.deliverability import slack_refusal

from ..channels import PermanentError, TransientError, ack_url_of
from ..models import Notification

logger = logging.getLogger(__name__)

ACK_ACTION_ID = "steward_ack"
# Errors Slack answers that a later attempt can get past.
_TRANSIENT = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}


def configured() -> str | None:
    return slack_refusal()


def client() -> WebClient:
    base = settings.SLACK_API_URL
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=base if base.endswith("/") else base + "/",
        timeout=settings.SLACK_TIMEOUT,
        # One try per call: the pipeline retries with backoff, inside its lease.
        retry_handlers=[],
    )


def request_is_valid(*, body: bytes, timestamp: str, signature: str) -> bool:
    """Slack's `v0=` signature of `v0:timestamp:body`, within five minutes of now."""
    if not settings.SLACK_SIGNING_SECRET or not timestamp or not signature:
        return False
    try:
        return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid(
            body=body, timestamp=timestamp, signature=signature
        )
    except ValueError:  # a timestamp that is not a number
        return False


def _call(method):
    try:
        return method()
    except SlackApiError as exc:
        response = exc.response
        error = response.get("error", "") if response is not None else ""
        status = response.status_code if response is not None else None
        message = f"Slack {status}: {error or exc}"
        retry_after = None
        if response is not None and response.headers.get("Retry-After"):
            try:
                retry_after = float(response.headers["Retry-After"])
            except ValueError:
                retry_after = None
        if error in _TRANSIENT or (status and (status == 429 or status >= 500)):
            raise TransientError(message, status_code=status, retry_after=retry_after) from exc
        raise PermanentError(message, status_code=status) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TransientError(f"Slack unreachable: {exc}") from exc
    except SlackClientError as exc:
        raise TransientError(f"Slack: {exc}") from exc


def _text(notification: Notification) -> str:
    title = (
        f":rotating_light: {notification.subject}"
        if notification.is_urgent
        else notification.subject
    )
    return f"*{title}*\n{notification.body}"[:2900]


def message_blocks(notification: Notification) -> list[dict]:
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _text(notification)}}
    ]
    buttons: list[dict] = []
    if notification.kind == Notification.Kind.PAGE and notification.page_id:
        buttons.append(
            {
                "type": "button",
                "action_id": ACK_ACTION_ID,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "value": str(notification.pk),
            }
        )
    if notification.link:
        buttons.append(
            {
                "type": "button",
                "action_id": "steward_open",
                "text": {"type": "plain_text", "text": "Open"},
                "url": notification.link,
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def send(notification: Notification) -> int:
    refusal = configured()
    if refusal:
        raise PermanentError(f"Not deliverable: {refusal}.")
    slack = client()
    opened = _call(lambda: slack.conversations_open(users=notification.address))
    channel = (opened.get("channel") or {}).get("id")
    if not channel:
        raise PermanentError("Slack opened no direct message channel.")
    text = notification.subject
    ack = ack_url_of(notification)
    if ack:  # what notifications (and clients without blocks) show
        text += f" — acknowledge: {ack}"
    _call(
        lambda: slack.chat_postMessage(
            channel=channel, text=text[:3000], blocks=message_blocks(notification)
        )
    )
    return 200


def message_mark_acknowledged(
    *, notification: Notification, channel: str, ts: str, by_user: str, already: bool
) -> None:
    """Replace the button with who acknowledged. Best effort: the page is acknowledged already,
    and a failed update must not undo that."""
    note = (
        "This page was already acknowledged or has ended."
        if already
        else f":white_check_mark: Acknowledged by <@{by_user}>."
    )
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _text(notification)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
    ]
    try:
        _call(
            lambda: client().chat_update(
                channel=channel, ts=ts, text=f"{notification.subject} — {note}", blocks=blocks
            )
        )
    except (TransientError, PermanentError) as exc:
        logger.warning("Slack message of notification %s not updated: %s", notification.pk, exc)
