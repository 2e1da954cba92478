"""SMS and voice through Twilio's official client.

An SMS page ends with a reply code (`ACK 4821`) and the signed acknowledge link; a call reads the
summary and asks to press 1 (TwiML from `voice_twiml`, the digit posted to the gather callback).
Twilio signs every callback with the account's auth token (X-Twilio-Signature over the public
URL and the form fields); `request_is_valid` checks it with Twilio's own RequestValidator.

TWILIO_BASE_URL points the client at another host (the tests' local stand-in of Twilio's API):
the official client builds `https://api.twilio.com/...` URLs and the HTTP client below sends
them to the configured scheme and host instead, with the same paths, auth and bodies.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.urls import reverse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from registry.deliverability import twilio_refusal

from ..channels import PermanentError, TransientError, ack_url_of, for_recipient
from ..models import Notification, Page


def configured() -> str | None:
    return twilio_refusal()


class _BaseUrlHttpClient(TwilioHttpClient):
    """Sends the official client's requests to TWILIO_BASE_URL's scheme and host."""

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def request(self, method: str, url: str, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


_client: tuple[tuple, Client] | None = None


def client() -> Client:
    """One client per process (keep-alive to Twilio), rebuilt when the settings change."""
    global _client
    key = (
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_BASE_URL,
        settings.TWILIO_TIMEOUT,
    )
    if _client is None or _client[0] != key:
        http = (
            _BaseUrlHttpClient(settings.TWILIO_BASE_URL, timeout=settings.TWILIO_TIMEOUT)
            if settings.TWILIO_BASE_URL
            else TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT)
        )
        _client = (
            key,
            Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http),
        )
    return _client[1]


def public_url(path: str) -> str:
    """The address Twilio calls back, and signs: SITE_URL (what the world sees) and the path."""
    return f"{settings.SITE_URL}{path}"


def request_is_valid(*, path: str, params, signature: str) -> bool:
    """Twilio's signature over the public URL of `path` (with its query) and the form fields."""
    if not settings.TWILIO_AUTH_TOKEN or not signature:
        return False
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        public_url(path), params, signature
    )


# --- acknowledgement codes ------------------------------------------------------------------


def ack_code_for(notification: Notification) -> str:
    """The notification's reply code, chosen once (every retry sends the same one) among codes
    no open page's notification holds; the reply must also come from the number it went to."""
    if notification.ack_code:
        return notification.ack_code
    for digits in (4, 4, 4, 5, 6, 6, 8):
        code = str(10 ** (digits - 1) + secrets.randbelow(9 * 10 ** (digits - 1)))
        taken = Notification.objects.filter(ack_code=code, page__state=Page.State.OPEN).exists()
        if taken:
            continue
        if Notification.objects.filter(pk=notification.pk, ack_code="").update(ack_code=code):
            notification.ack_code = code
        else:  # another attempt chose first
            notification.refresh_from_db(fields=["ack_code"])
        return notification.ack_code
    raise TransientError("No free acknowledgement code; try again.")


# --- sending --------------------------------------------------------------------------------


def _call_api(create):
    refusal = configured()
    if refusal:
        raise PermanentError(f"Not deliverable: {refusal}.")
    try:
        return create()
    except TwilioRestException as exc:
        message = f"Twilio {exc.status} (error {exc.code}): {exc.msg}"
        if exc.status in (408, 429) or exc.status >= 500:
            raise TransientError(message, status_code=exc.status) from exc
        raise PermanentError(message, status_code=exc.status) from exc
    except requests.RequestException as exc:
        raise TransientError(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
    except TwilioException as exc:
        raise TransientError(f"Twilio: {exc}") from exc


def sms_text(notification: Notification) -> str:
    text = f"[Steward] {notification.subject}"
    if notification.kind == Notification.Kind.PAGE and notification.page_id:
        text += f"\nReply ACK {ack_code_for(notification)} to acknowledge"
        ack = ack_url_of(notification)
        if ack:
            text += f", or open {ack}"
    return text[:1500]


def send_sms(notification: Notification) -> int:
    text = sms_text(notification)
    _call_api(
        lambda: client().messages.create(
            to=notification.address, from_=settings.TWILIO_FROM_NUMBER, body=text
        )
    )
    return 201


def place_call(notification: Notification) -> int:
    """Place the call; Twilio fetches what to say from the voice callback when it is answered.
    The delivery counts as sent when Twilio accepts the call: whether anyone answered arrives
    later at the status callback (`call_status`), which hands an unanswered call to the person's
    next contact method."""
    if notification.page_id:
        ack_code_for(notification)
    _call_api(
        lambda: client().calls.create(
            to=notification.address,
            from_=settings.TWILIO_FROM_NUMBER,
            url=public_url(reverse("notifications:twilio_voice", args=[notification.pk])),
            method="POST",
            status_callback=public_url(
                reverse("notifications:twilio_call_status", args=[notification.pk])
            ),
            status_callback_method="POST",
            status_callback_event=["completed"],
            timeout=30,
        )
    )
    return 201


# --- what a call says -----------------------------------------------------------------------


def voice_twiml(notification: Notification, *, prompt_again: bool = False) -> str:
    """Read the summary, its times on the recipient's clock, and gather one digit; 1
    acknowledges (the gather callback)."""
    notification = for_recipient(notification)
    response = VoiceResponse()
    if notification.page_id is None:  # a notice: read it, nothing to acknowledge
        response.say(f"This is Steward. {notification.subject[:300]}.")
        response.hangup()
        return str(response)
    listed = notification.page_ids or [notification.page_id]
    if not Page.objects.filter(pk__in=listed, state=Page.State.OPEN).exists():
        response.say("This page was already acknowledged or has ended. Goodbye.")
        response.hangup()
        return str(response)
    gather = response.gather(
        num_digits=1,
        action=public_url(reverse("notifications:twilio_gather", args=[notification.pk])),
        method="POST",
        timeout=8,
    )
    if prompt_again:
        gather.say("Sorry, that was not 1.")
    else:
        project = notification.project.name if notification.project_id else "Steward"
        gather.say(f"This is a Steward page for {project}. {notification.subject[:300]}.")
    gather.say("Press 1 to acknowledge.")
    response.say("No answer received. The page stays open. Goodbye.")
    return str(response)


def gather_twiml(*, acknowledged: bool) -> str:
    response = VoiceResponse()
    response.say(
        "Acknowledged. Thank you." if acknowledged else "This page is no longer open. Goodbye."
    )
    response.hangup()
    return str(response)
