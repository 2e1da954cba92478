"""Writes for status subscriptions: subscribing, double opt-in, one-click unsubscribe, and telling
subscribers what happened.

Subscriber messages go through the delivery pipeline as messages to bare addresses
(`notifications.services.messages_send`): one row per subscription and event/topic, keyed on
`sub-<id>`, so they are written in the caller's transaction, enqueued after commit, retried and
swept like every other notification, and a second call for the same event and topic writes
nothing. Each message carries the link that unsubscribes that subscription and no other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db.models import Model
from django.utils import timezone

from notifications.models import Channel, Notification
from registry.models import Project

from .models import Subscription

UNSUBSCRIBE_SALT = "steward.incidents.subscription-unsubscribe"
CONFIRM_SALT = "steward.incidents.subscription-confirm"
DEFAULT_UNSUBSCRIBE_MAX_AGE = 365 * 24 * 3600
DEFAULT_CONFIRM_MAX_AGE = 3 * 24 * 3600

CHANNEL_OF_SUBSCRIPTION = {
    Subscription.Channel.EMAIL: Channel.EMAIL,
    Subscription.Channel.WEBHOOK: Channel.WEBHOOK,
}


# --- signed links -------------------------------------------------------------------------------


class SubscriptionLinkError(Exception):
    """A confirmation or unsubscribe link that is forged, expired or names nothing any more."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _signer(salt: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=salt)


def _token(subscription: Subscription, *, salt: str) -> str:
    # The address rides along so that a token never works for a later row that reused the id.
    return _signer(salt).sign_object(
        {"s": subscription.pk, "a": subscription.address}, compress=False
    )


def unsubscribe_token(subscription: Subscription) -> str:
    return _token(subscription, salt=UNSUBSCRIBE_SALT)


def confirm_token(subscription: Subscription) -> str:
    return _token(subscription, salt=CONFIRM_SALT)


def unsubscribe_url(subscription: Subscription) -> str:
    return f"{settings.SITE_URL}/subscriptions/unsubscribe/{unsubscribe_token(subscription)}/"


def confirm_url(subscription: Subscription) -> str:
    return f"{settings.SITE_URL}/subscriptions/confirm/{confirm_token(subscription)}/"


def unsubscribe_max_age() -> int:
    return int(
        getattr(settings, "STEWARD_UNSUBSCRIBE_LINK_MAX_AGE_SECONDS", DEFAULT_UNSUBSCRIBE_MAX_AGE)
    )


def confirm_max_age() -> int:
    return int(
        getattr(settings, "STEWARD_SUBSCRIPTION_CONFIRM_MAX_AGE_SECONDS", DEFAULT_CONFIRM_MAX_AGE)
    )


def subscription_from_token(token: str, *, salt: str, max_age: int, noun: str) -> Subscription:
    """The subscription a signed link names, or SubscriptionLinkError: 400 forged, 410 expired or
    gone. `noun` names the link in the message ("unsubscribe", "confirmation")."""
    try:
        data = _signer(salt).unsign_object(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise SubscriptionLinkError(
            f"This {noun} link has expired. Nothing was changed.", status=410
        ) from exc
    except signing.BadSignature as exc:
        raise SubscriptionLinkError(
            f"This {noun} link is not valid: it was altered or is not a Steward {noun} link. "
            "Nothing was changed.",
            status=400,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("s"), int):
        raise SubscriptionLinkError(f"This {noun} link is not valid.", status=400)
    subscription = (
        Subscription.objects.select_related("project")
        .filter(pk=data["s"], address=data.get("a"))
        .first()
    )
    if subscription is None:
        raise SubscriptionLinkError(
            f"The subscription this {noun} link names no longer exists.", status=410
        )
    return subscription


# --- telling subscribers ------------------------------------------------------------------------


def _subscriber_body(body: str, subscription: Subscription) -> str:
    # The event's link travels in the notification's own `link` (email footer, webhook field).
    parts = [body.rstrip()]
    parts.append(
        f"You follow the status of {subscription.project.name} on Steward. "
        f"Unsubscribe with one click: {unsubscribe_url(subscription)}"
    )
    return "\n\n".join(p for p in parts if p)


def subscribers_notify(
    *,
    project_ids: Iterable[int],
    event: Model,
    topic: str,
    subject: str,
    body: str,
    link: str = "",
    now: datetime | None = None,
) -> list[Notification]:
    """A message to every active subscription (confirmed, not unsubscribed) of these projects,
    each with its own unsubscribe link. Call it inside the transaction that writes the event:
    the rows roll back with it and go out after commit. Idempotent per (event, topic,
    subscription): a second call writes nothing. A project with no subscribers costs nothing
    beyond the one query that finds the subscriptions."""
    from notifications.services import Delivery, messages_send

    now = now or timezone.now()
    project_ids = list(set(project_ids))
    if not project_ids:
        return []
    by_project: dict[Project, list[Subscription]] = defaultdict(list)
    for subscription in (
        Subscription.objects.filter(
            project_id__in=project_ids,
            confirmed_at__isnull=False,
            unsubscribed_at__isnull=True,
        )
        .select_related("project")
        .order_by("project_id", "id")
    ):
        by_project[subscription.project].append(subscription)
    written: list[Notification] = []
    for project, subscriptions in by_project.items():
        written += messages_send(
            event=event,
            topic=topic,
            deliveries=[
                Delivery(
                    ref=f"sub-{s.pk}",
                    channel=CHANNEL_OF_SUBSCRIPTION[s.channel],
                    address=s.address,
                    body=_subscriber_body(body, s),
                )
                for s in subscriptions
            ],
            subject=subject,
            body=body,
            link=link,
            project=project,
            now=now,
        )
    return written
