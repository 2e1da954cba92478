"""Acknowledging from a provider's callback: an SMS reply (`ACK 4821`), a key pressed on a call,
Slack's Acknowledge button; and what an unanswered call means. The views verify the provider's
signature first; these services refuse a callback already acted on (by the provider's id for
it, stored in ProviderCallback) and acknowledge as the person the message went to, every page
the message lists (one message may list several projects' pages of one event)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Channel, Notification, Page, ProviderCallback
from .pages import pages_ack
from .sending import notification_fall_back

# `ACK 4821`, `ack4821`, `Ack: 4821`, or the bare code.
_ACK_REPLY = re.compile(r"^\s*(?:ack\s*[:#-]?\s*)?(\d{4,8})\s*[.!]?\s*$", re.IGNORECASE)
_CALL_NOT_ANSWERED = {"busy", "no-answer", "failed", "canceled", "completed"}


def _listed(notification: Notification) -> list[int]:
    return list(notification.page_ids or [notification.page_id])


def _any_open(notification: Notification) -> bool:
    return Page.objects.filter(pk__in=_listed(notification), state=Page.State.OPEN).exists()


def _notification_ack(notification: Notification, *, via: str, now: datetime | None) -> Page:
    """Acknowledge every page the message lists, as its recipient; returns its first page."""
    pages = pages_ack(
        page_ids=_listed(notification), person=notification.recipient, via=via, now=now
    )
    return next((p for p in pages if p.pk == notification.page_id), notification.page)


class ReplayedCallback(Exception):
    """The provider's id for this callback was already acted on."""


def callback_claim(*, key: str, now: datetime | None = None) -> None:
    """Record that the callback `key` is being acted on; ReplayedCallback when it already was.
    Inside the caller's transaction, so a callback whose action fails can come again."""
    try:
        with transaction.atomic():
            ProviderCallback.objects.create(key=key[:200], received_at=now or timezone.now())
    except IntegrityError as exc:
        raise ReplayedCallback(key) from exc


@dataclass(frozen=True)
class SmsAckOutcome:
    page: Page | None
    reply: str


@transaction.atomic
def page_ack_by_sms_reply(
    *, message_sid: str, sender: str, text: str, now: datetime | None = None
) -> SmsAckOutcome:
    """An SMS reply: `ACK <code>` from the number the page's SMS or call went to acknowledges it.
    Returns the page (None when nothing matched) and what to text back."""
    callback_claim(key=f"twilio-sms:{message_sid}", now=now)
    match = _ACK_REPLY.match(text or "")
    if not match:
        return SmsAckOutcome(None, "Steward: reply ACK and the code from the page, e.g. ACK 4821.")
    code = match.group(1)
    notification = (
        Notification.objects.select_related("page", "recipient")
        .filter(
            ack_code=code,
            address=sender,
            channel__in=[Channel.SMS, Channel.VOICE],
            page__isnull=False,
        )
        .order_by("-created_at")
        .first()
    )
    if notification is None:
        return SmsAckOutcome(None, f"Steward: no page with code {code} was sent to this number.")
    was_open = _any_open(notification)
    page = _notification_ack(notification, via="sms", now=now)
    if was_open:
        return SmsAckOutcome(page, f"Steward: acknowledged “{page.subject[:100]}”.")
    return SmsAckOutcome(page, f"Steward: “{page.subject[:100]}” is no longer open.")


@transaction.atomic
def page_ack_by_call(
    *, notification: Notification, call_sid: str, digits: str, now: datetime | None = None
) -> Page | None:
    """A key pressed on the page's call: 1 acknowledges as the person called (once per call);
    anything else acknowledges nothing and returns None."""
    if digits != "1" or notification.page_id is None:
        return None
    callback_claim(key=f"twilio-gather:{call_sid}", now=now)
    return _notification_ack(notification, via="voice", now=now)


@transaction.atomic
def call_outcome_record(
    *, notification: Notification, call_sid: str, status: str, now: datetime | None = None
) -> Notification | None:
    """The call ended. If its page is still open, nobody acknowledged on it (not answered, busy,
    voicemail, hung up without pressing 1): the delivery counts as failed and the page goes to
    the person's next contact method; the escalation policy's timer runs on as for any page.
    Returns the fallback notification, if one was written."""
    now = now or timezone.now()
    callback_claim(key=f"twilio-call:{call_sid}", now=now)
    if status not in _CALL_NOT_ANSWERED or notification.page_id is None:
        return None
    if not _any_open(notification):
        return None
    changed = Notification.objects.filter(pk=notification.pk, state=Notification.State.SENT).update(
        state=Notification.State.FAILED, last_error=f"Call ended unacknowledged: {status}"
    )
    if not changed:
        return None
    notification.refresh_from_db()
    return notification_fall_back(notification=notification, now=now)


@dataclass(frozen=True)
class SlackAckOutcome:
    notification: Notification
    page: Page
    acknowledged: bool


class SlackAckRefused(Exception):
    pass


@transaction.atomic
def page_ack_by_slack(
    *,
    notification_id: int,
    slack_user: str,
    callback_key: str,
    now: datetime | None = None,
) -> SlackAckOutcome:
    """Slack's Acknowledge button on a page's direct message, pressed by the member it was sent
    to (a DM has no one else, but the id is checked, not assumed)."""
    notification = (
        Notification.objects.select_related("page", "recipient", "project")
        .filter(pk=notification_id, channel=Channel.SLACK_DM, page__isnull=False)
        .first()
    )
    if notification is None:
        raise SlackAckRefused("No page message with this id.")
    if notification.address != slack_user:
        raise SlackAckRefused("Only the person this page was sent to can acknowledge it here.")
    callback_claim(key=callback_key, now=now)
    was_open = _any_open(notification)
    page = _notification_ack(notification, via="slack", now=now)
    return SlackAckOutcome(notification, page, acknowledged=was_open)
