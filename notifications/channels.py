"""The outside world: email over SMTP, a generic JSON webhook, Slack and Teams incoming webhooks,
and SMS through a provider interface. `deliver` sends one notification and returns the status
code (HTTP) or 250 (SMTP), or raises TransientError (retry) / PermanentError (do not).

Receivers can drop duplicates: webhooks carry `Idempotency-Key` (the notification's key) and
emails a `Message-ID` derived from it, the same on every attempt.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import BadHeaderError, get_connection
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from steward.headers import Email, header_value

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


def _ack_url(notification: Notification) -> str:
    if notification.kind != Notification.Kind.PAGE or notification.page_id is None:
        return ""
    # Late: the services import this module to send.
    from .services import ack_url

    return ack_url(page=notification.page_id, person=notification.recipient_id)


# --- email ----------------------------------------------------------------------------------


def send_email(notification: Notification) -> int:
    context = {"n": notification, "ack_url": _ack_url(notification)}
    text = render_to_string("notifications/email.txt", context)
    html = render_to_string("notifications/email.html", context)
    backend = settings.STEWARD_EMAIL_BACKEND or None
    connection = get_connection(
        backend=backend, fail_silently=False, timeout=settings.EMAIL_TIMEOUT
    )
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
        "ack_url": _ack_url(notification),
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
    ack = _ack_url(notification)
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
    actions = []
    if notification.link:
        actions.append(
            {
                "@type": "OpenUri",
                "name": "Open",
                "targets": [{"os": "default", "uri": notification.link}],
            }
        )
    ack = _ack_url(notification)
    if ack:
        actions.append(
            {"@type": "OpenUri", "name": "Acknowledge", "targets": [{"os": "default", "uri": ack}]}
        )
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notification.subject[:150],
        "themeColor": "D70000" if notification.is_urgent else "0076D7",
        "title": notification.subject,
        "text": notification.body.replace("\n", "  \n"),
        "potentialAction": actions,
    }


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, (parsed - timezone.now()).total_seconds())


_http: requests.Session | None = None


def _session() -> requests.Session:
    """One session per worker process: keep-alive to the same receivers."""
    global _http
    if _http is None:
        _http = requests.Session()
    return _http


def post_json(notification: Notification, payload: dict, *, signed: bool) -> int:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"X-Steward-Signature": signature(body)} if signed else {}
    return _post(notification.address, body, notification.idempotency_key, headers)


def denied_address(url: str) -> str | None:
    """Why Steward may not send to this URL (an address in STEWARD_WEBHOOK_DENY_NETWORKS), or
    None. A host that does not resolve is not refused here: sending will fail on its own.
    requests resolves again when it connects, so a host whose DNS answer changes in between can
    still slip through; the check stops the plain cases (localhost, the metadata address)."""
    if not settings.STEWARD_WEBHOOK_DENY_NETWORKS:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    networks = [
        ipaddress.ip_network(n, strict=False) for n in settings.STEWARD_WEBHOOK_DENY_NETWORKS
    ]
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address.version == n.version and address in n for n in networks):
            return f"{host} is {address}, in a network Steward does not send to."
    return None


def _post(url: str, body: bytes, idempotency_key: str, extra_headers: dict) -> int:
    """POST JSON; the status code, or TransientError / PermanentError by what went wrong."""
    refusal = denied_address(url)
    if refusal:
        raise PermanentError(refusal)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key,
        **extra_headers,
    }
    try:
        response = _session().post(
            url,
            data=body,
            headers=headers,
            timeout=(
                settings.STEWARD_WEBHOOK_CONNECT_TIMEOUT,
                settings.STEWARD_WEBHOOK_READ_TIMEOUT,
            ),
            allow_redirects=False,
        )
    except requests.exceptions.InvalidURL as exc:
        raise PermanentError(f"Not a usable URL: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    code = response.status_code
    if 200 <= code < 300:
        return code
    message = f"HTTP {code}: {response.text[:300]}"
    if code in (408, 429) or code >= 500:
        raise TransientError(message, status_code=code, retry_after=_retry_after(response))
    raise PermanentError(message, status_code=code)


# --- SMS --------------------------------------------------------------------------------------


class SmsProvider:
    """What an SMS gateway adapter implements. None can run here; see RecordingSmsProvider."""

    def send(self, *, to: str, text: str, idempotency_key: str) -> None:
        raise NotImplementedError


@dataclass
class RecordingSmsProvider(SmsProvider):
    """A stand-in that records messages instead of sending them (no SMS gateway in this
    environment). Replace with a real adapter through settings.STEWARD_SMS_PROVIDER."""

    outbox: list = field(default_factory=list)

    def send(self, *, to: str, text: str, idempotency_key: str) -> None:
        self.outbox.append({"to": to, "text": text, "idempotency_key": idempotency_key})


_sms_provider: SmsProvider | None = None


def sms_provider() -> SmsProvider:
    global _sms_provider
    if _sms_provider is None:
        _sms_provider = import_string(settings.STEWARD_SMS_PROVIDER)()
    return _sms_provider


def send_sms(notification: Notification) -> int:
    text = notification.subject
    ack = _ack_url(notification)
    if ack:
        text = f"{text} Ack: {ack}"
    sms_provider().send(
        to=notification.address, text=text[:640], idempotency_key=notification.idempotency_key
    )
    return 200


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


def deliver(notification: Notification) -> int:
    if notification.webhook_endpoint_id:
        return post_endpoint(notification)
    if notification.channel == Channel.EMAIL:
        return send_email(notification)
    if notification.channel == Channel.WEBHOOK:
        return post_json(notification, webhook_payload(notification), signed=True)
    if notification.channel == Channel.SLACK:
        return post_json(notification, slack_payload(notification), signed=False)
    if notification.channel == Channel.TEAMS:
        return post_json(notification, teams_payload(notification), signed=False)
    if notification.channel == Channel.SMS:
        return send_sms(notification)
    raise PermanentError(f"Unknown channel {notification.channel!r}")
