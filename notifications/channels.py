"""The outside world: email over SMTP, a generic JSON webhook, Slack and Teams incoming webhooks
here; SMS, voice calls, Slack direct messages and Apprise through `notifications.providers`.
`deliver` sends one notification and returns the status code (HTTP) or 250 (SMTP), or raises
TransientError (retry) / PermanentError (do not). A channel whose provider is not configured
fails permanently with the reason: it is never recorded as sent.

Receivers can drop duplicates: webhooks carry `Idempotency-Key` (the notification's key) and
emails a `Message-ID` derived from it, the same on every attempt.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import smtplib
import time
import zoneinfo
from collections.abc import Callable, Mapping
from functools import partial

import orjson
from django.conf import settings
from django.core.mail import BadHeaderError
from django.template.loader import render_to_string
from django.utils import timezone

from steward import net
from steward.headers import Email, header_value, mail_connection
from steward.times import is_time_zone, localize_stamps

from .models import Channel, Notification

USER_AGENT = "Steward-Notifications/1.0"


class DeliveryError(Exception):
    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """Worth retrying: timeouts, refused connections, 408, 429, 5xx, SMTP 4xx."""


class PermanentError(DeliveryError):
    """Retrying cannot help: other 4xx, SMTP 5xx, an address the channel cannot use."""


def message_id(notification: Notification) -> str:
    digest = hashlib.sha256(notification.idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@steward>"


def signature(body: bytes) -> str:
    mac = hmac.new(settings.STEWARD_WEBHOOK_SECRET.encode(), body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def ack_url_of(notification: Notification) -> str:
    """The signed acknowledge link of a page's notification; empty for anything else."""
    if notification.kind != Notification.Kind.PAGE or notification.page_id is None:
        return ""
    # Late: the services import this module to send.
    from .services import ack_url

    return ack_url(page=notification.page_id, person=notification.recipient_id)


# --- email ----------------------------------------------------------------------------------


def send_email(notification: Notification) -> int:
    context = {"n": notification, "ack_url": ack_url_of(notification)}
    with timezone.override(zoneinfo.ZoneInfo(recipient_zone(notification) or "UTC")):
        text = render_to_string("notifications/email.txt", context)
        html = render_to_string("notifications/email.html", context)
    connection = mail_connection()
    prefix = "[PAGE] " if notification.kind == Notification.Kind.PAGE else ""
    # The subject is what someone typed (an outage title, a monitor's summary, a project name):
    # `Email` folds it into one header line.
    message = Email(
        subject=f"{prefix}{notification.subject}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.address],
        headers={
            "Message-ID": message_id(notification),
            "X-Steward-Idempotency-Key": header_value(notification.idempotency_key),
            "Date": email.utils.formatdate(localtime=False),
        },
        connection=connection,
    )
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except BadHeaderError as exc:  # an address with a line break: no retry makes it one
        raise PermanentError(f"Not an address email can use: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        error = TransientError if all(400 <= c < 500 for c in codes) else PermanentError
        raise error(f"SMTP refused the recipient: {exc.recipients}", status_code=codes[0]) from exc
    except smtplib.SMTPResponseException as exc:
        error = PermanentError if exc.smtp_code >= 500 else TransientError
        raise error(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", status_code=exc.smtp_code) from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"SMTP unavailable: {exc}") from exc
    return 250


# --- webhooks -------------------------------------------------------------------------------


def webhook_payload(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "idempotency_key": notification.idempotency_key,
        "kind": notification.kind,
        "topic": notification.topic,
        "subject": notification.subject,
        "body": notification.body,
        "link": notification.link,
        "ack_url": ack_url_of(notification),
        "project": notification.project.slug if notification.project_id else None,
        "event": (
            {"type": notification.event_type.model, "id": notification.event_id}
            if notification.event_type_id
            else None
        ),
        "created_at": notification.created_at.isoformat(),
    }


def slack_payload(notification: Notification) -> dict:
    title = (
        f":rotating_light: {notification.subject}"
        if notification.is_urgent
        else notification.subject
    )
    text = f"*{title}*\n{notification.body}"
    buttons = []
    if notification.link:
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open"},
                "url": notification.link,
            }
        )
    ack = ack_url_of(notification)
    if ack:
        buttons.append(
            {
                "type": "button",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": ack,
            }
        )
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {"text": title, "blocks": blocks}


def teams_payload(notification: Notification) -> dict:
    """An Adaptive Card in the message envelope Teams' Workflows webhooks take (the legacy
    MessageCard is retired with Office 365 connectors). Its buttons open URLs: an incoming
    webhook cannot receive a card's submit, so Acknowledge is the signed acknowledge link."""
    actions = []
    ack = ack_url_of(notification)
    if ack:
        actions.append({"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack})
    if notification.link:
        actions.append({"type": "Action.OpenUrl", "title": "Open", "url": notification.link})
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": notification.subject,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention" if notification.is_urgent else "Default",
        }
    ]
    if notification.is_urgent:
        body.insert(
            0,
            {"type": "TextBlock", "text": "PAGE", "color": "Attention", "weight": "Bolder"},
        )
    if notification.body:
        body.append({"type": "TextBlock", "text": notification.body[:4000], "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    return {
        "type": "message",
        "summary": notification.subject[:150],
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(
                0.0, (email.utils.parsedate_to_datetime(value) - timezone.now()).total_seconds()
            )
        except (TypeError, ValueError):  # not a date, or one without a zone
            return None


def post_json(notification: Notification, payload: dict, *, signed: bool) -> int:
    return json_post(notification, payload, signed=signed)()


def json_post(notification: Notification, payload: dict, *, signed: bool) -> Callable[[], int]:
    """The POST of `payload` to the row's address, its body and signature made now. The body
    is compact JSON in UTF-8 with its keys sorted (the bytes the signature covers); orjson
    writes it in a fifteenth of the time `json.dumps` took (0.7 µs against 10 for a page
    listing eleven apps), and a page message has one."""
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    headers = {"X-Steward-Signature": signature(body)} if signed else {}
    return partial(_post, notification.address, body, notification.idempotency_key, headers)


def _post(url: str, body: bytes, idempotency_key: str, extra_headers: dict) -> int:
    """POST JSON through `steward.net` (the address checks, one resolution, the connection to
    the checked address); the status code, or TransientError / PermanentError by what went
    wrong. A refused URL or address is permanent: nothing was sent."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key,
        **extra_headers,
    }
    try:
        answer = net.post(
            url,
            body=body,
            headers=headers,
            connect_timeout=settings.STEWARD_WEBHOOK_CONNECT_TIMEOUT,
            read_timeout=settings.STEWARD_WEBHOOK_READ_TIMEOUT,
        )
    except net.Refused as exc:
        raise PermanentError(str(exc)) from exc
    except net.Unreachable as exc:
        raise TransientError(str(exc)) from exc
    code = answer.status
    if 200 <= code < 300:
        return code
    # An internal service's error page is not shown to whoever typed its URL: the code only.
    message = f"HTTP {code}: {answer.excerpt}" if answer.excerpt else f"HTTP {code}"
    if code in (408, 429) or code >= 500:
        raise TransientError(message, status_code=code, retry_after=_retry_after(answer.headers))
    raise PermanentError(message, status_code=code)


# --- outgoing webhooks of projects and IT systems --------------------------------------


def standard_webhook_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of "id.timestamp.body" with the secret's bytes (Standard
    Webhooks: the secret is `whsec_` and base64)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def post_endpoint(notification: Notification) -> int:
    """A project's or IT system's outgoing webhook: the stored document, signed at send time with
    the endpoint's current secret, under the message id that every attempt and redelivery
    shares (receivers drop what they have seen by `webhook-id`)."""
    endpoint = notification.webhook_endpoint
    body = notification.body.encode()
    document = json.loads(notification.body)
    msg_id = document["id"]
    timestamp = int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhook_signature(
            secret=endpoint.secret, msg_id=msg_id, timestamp=timestamp, body=body
        ),
        "X-Steward-Event": document.get("type", ""),
        "X-Steward-Delivery": str(notification.pk),
    }
    return _post(notification.address, body, msg_id, headers)


def recipient_zone(notification: Notification) -> str | None:
    """The recipient's zone: read with the claim (`sending.notifications_claim`), else from
    the person; None for a subscriber, who has no zone (their messages keep UTC, named)."""
    if hasattr(notification, "recipient_zone"):
        zone = notification.recipient_zone
    else:
        zone = notification.recipient.time_zone if notification.recipient_id else None
    return zone if is_time_zone(zone) else None


def for_recipient(notification: Notification) -> Notification:
    """The message as its recipient reads it: its times (`steward.times.utc_stamp`) written in
    the recipient's zone, in a copy, so the stored row keeps the text it was written with."""
    zone = recipient_zone(notification)
    # A shallow copy of the instance's attributes, sharing its `_state` (what it was loaded
    # from, the related objects it has read): a view of the row for this one send, never saved.
    # `copy.copy` and `__getstate__` also copy the state, which cost each page message of a
    # fan-out more than writing its times.
    local = object.__new__(type(notification))
    local.__dict__.update(notification.__dict__)
    local.subject = localize_stamps(notification.subject, zone)
    local.body = localize_stamps(notification.body, zone)
    local.recipient_zone = zone
    return local


def prepare(notification: Notification) -> Callable[[], int]:
    """The delivery of this row, made ready: what it sends worked out now, sent when called.
    A batch prepares all of its rows before it sends the first (`sending.notifications_send`):
    worked out one after the other, the JSON channels' copies in the recipient's zone, bodies,
    acknowledge links and signatures cost a fan-out's page message ~55 µs less of the CPU than
    they did between two HTTP exchanges, whose code had pushed theirs out of the caches."""
    if notification.webhook_endpoint_id:  # a signed document, signed when sent (it is timed)
        return partial(post_endpoint, notification)
    notification = for_recipient(notification)
    channel = notification.channel
    if channel == Channel.WEBHOOK:
        return json_post(notification, webhook_payload(notification), signed=True)
    if channel == Channel.SLACK:
        return json_post(notification, slack_payload(notification), signed=False)
    if channel == Channel.TEAMS:
        return json_post(notification, teams_payload(notification), signed=False)
    return partial(_deliver_by_provider, notification)


def deliver(notification: Notification) -> int:
    return prepare(notification)()


def _deliver_by_provider(notification: Notification) -> int:
    """Email and the providers' channels: their messages are made as they are sent."""
    channel = notification.channel
    if channel == Channel.EMAIL:
        return send_email(notification)
    # Late: the providers import this module for its errors and links.
    from .providers import apprise, slack, twilio

    if channel == Channel.SMS:
        return twilio.send_sms(notification)
    if channel == Channel.VOICE:
        return twilio.place_call(notification)
    if channel == Channel.SLACK_DM:
        return slack.send(notification)
    if channel == Channel.APPRISE:
        return apprise.send(notification)
    raise PermanentError(f"Unknown channel {channel!r}")
