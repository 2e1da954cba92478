"""Writes for status subscriptions: subscribing, double opt-in, one-click unsubscribe, and telling
subscribers what happened.

Subscriber messages go through the delivery pipeline as messages to bare addresses
(`notifications.services.messages_send`): one row per subscription and event/topic, keyed on
`sub-<id>`, so they are written in the caller's transaction, enqueued after commit, retried and
swept like every other notification, and a second call for the same event and topic writes
nothing. Each message carries the link that unsubscribes that subscription and no other.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from notifications.events import Event
from notifications.models import Channel, Notification
from notifications.services import Delivery, messages_send
from registry.models import Person, Project
from steward import net
from steward.health import redis_connection

from ..models import Subscription

UNSUBSCRIBE_SALT = "steward.incidents.subscription-unsubscribe"
CONFIRM_SALT = "steward.incidents.subscription-confirm"
DEFAULT_UNSUBSCRIBE_MAX_AGE = 365 * 24 * 3600
DEFAULT_CONFIRM_MAX_AGE = 3 * 24 * 3600

Actor = AbstractBaseUser | AnonymousUser | None

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


def manage_url(subscription: Subscription) -> str:
    """Where the subscriber chooses what they hear (maintenance notices): the same signed token
    as the unsubscribe link, which already speaks for this one subscription."""
    return f"{settings.SITE_URL}/subscriptions/manage/{unsubscribe_token(subscription)}/"


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
        f"Unsubscribe: {unsubscribe_url(subscription)}\n"
        f"Choose what you hear (planned maintenance): {manage_url(subscription)}"
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
    maintenance: bool = False,
) -> list[Notification]:
    """A message to every active subscription (confirmed, not unsubscribed) of these projects
    (with `maintenance`, only those that take notices of planned maintenance),
    each with its own unsubscribe link. Call it inside the transaction that writes the event:
    the rows roll back with it and go out after commit. Idempotent per (event, topic,
    subscription): a second call writes nothing.

    A fixed number of statements however many projects an outage touches: one read of the
    subscriptions, one `messages_send` for all of them, and one UPDATE that stamps each new row
    with its subscription's project (`Delivery` has no project; the rows are not visible to a
    worker before commit, so stamping them here is safe)."""
    now = now or timezone.now()
    project_ids = list(set(project_ids))
    if not project_ids:
        return []
    active = Subscription.objects.filter(
        project_id__in=project_ids,
        confirmed_at__isnull=False,
        unsubscribed_at__isnull=True,
    )
    if maintenance:
        active = active.filter(maintenance_notices=True)
    subscriptions = list(active.select_related("project").order_by("project_id", "id"))
    if not subscriptions:
        return []
    projects = {s.project_id for s in subscriptions}
    written = messages_send(
        event=Event(instance=event),
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
        # One project: messages_send stamps it. Several: stamped below in one statement.
        project=subscriptions[0].project if len(projects) == 1 else None,
        now=now,
    )
    if written and len(projects) > 1:
        _stamp_projects(written, subscriptions)
    return written


def _stamp_projects(rows: list[Notification], subscriptions: list[Subscription]) -> None:
    project_of_ref = {f"sub-{s.pk}": s.project for s in subscriptions}
    pairs = []
    for row in rows:
        # The key ends with ":<ref>:<channel>" (see messages_send); hashed keys are not parsed.
        ref = row.idempotency_key.rsplit(":", 2)[-2] if row.idempotency_key.count(":") >= 2 else ""
        project = project_of_ref.get(ref)
        if project is not None:
            row.project = project
            pairs.append((row.pk, project.pk))
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(_STAMP_SQL, [[pk for pk, _ in pairs], [pid for _, pid in pairs]])


# One statement for any number of rows (a CASE per project costs seconds to compile for 2,000).
_STAMP_SQL = (
    "UPDATE notifications_notification AS n SET project_id = v.project_id "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, project_id) WHERE n.id = v.id"
)


# --- subscribing --------------------------------------------------------------------------------


def status_is_public() -> bool:
    return bool(getattr(settings, "STEWARD_STATUS_PUBLIC", True))


def _clean_webhook(address: str) -> str:
    address = (address or "").strip()
    if not address:
        raise ValidationError({"address": "Give the webhook's URL."})
    if len(address) > 500:
        raise ValidationError({"address": "Keep the URL to 500 characters."})
    try:
        URLValidator(schemes=["http", "https"])(address)
    except ValidationError as exc:
        raise ValidationError(
            {"address": "Give an http:// or https:// URL; other kinds of address are refused."}
        ) from exc
    refusal = net.url_refusal(address)
    if refusal:
        raise ValidationError({"address": refusal})
    return address


def _clean_email(address: str) -> str:
    address = (address or "").strip()
    if not address:
        raise ValidationError({"address": "Give an email address."})
    try:
        EmailValidator()(address)
    except ValidationError as exc:
        raise ValidationError({"address": f"“{address[:100]}” is not an email address."}) from exc
    if len(address) > 254:
        raise ValidationError({"address": "Keep the email address to 254 characters."})
    return address


def _own_email(actor: Actor) -> tuple[Person | None, str]:
    person = Person.objects.filter(user=actor).first()
    email = (person.email if person and person.email else "") or getattr(actor, "email", "")
    if not email:
        raise ValidationError(
            {"address": "Your account has no email address: add one to your profile first."}
        )
    return person, email


def _existing(project: Project, channel: str, address: str) -> Subscription | None:
    return (
        Subscription.objects.select_for_update()
        .filter(
            project=project,
            channel=channel,
            address__iexact=address,
            unsubscribed_at__isnull=True,
        )
        .first()
    )


def _already(project: Project, channel: str) -> ValidationError:
    what = "This webhook" if channel == Subscription.Channel.WEBHOOK else "This address"
    return ValidationError({"address": f"{what} already follows {project.name}."})


@transaction.atomic
def subscription_create(
    *,
    actor: Actor,
    project: Project,
    channel: str = Subscription.Channel.EMAIL,
    address: str = "",
    maintenance_notices: bool = True,
    now: datetime | None = None,
) -> Subscription:
    """Follow a project's status (and, with `maintenance_notices`, hear of planned maintenance
    ahead of time).

    Signed in: by email (always the person's own address, confirmed at once) or by webhook (an
    http/https URL, confirmed at once). Anonymous: by email only, only while status pages are
    public, with double opt-in: the row waits unconfirmed and a confirmation email with a signed,
    expiring link goes out through the pipeline. Subscribing an address that already follows the
    project (or waits for its confirmation) is refused naming `address`; the database constraint
    backs this up for two requests at once. A pending anonymous row whose link has expired is
    dropped so that the address can start again."""
    now = now or timezone.now()
    signed_in = bool(actor and actor.is_authenticated)
    if channel not in Subscription.Channel.values:
        raise ValidationError({"channel": f"Choose email or webhook, not “{channel}”."})
    person = None
    if channel == Subscription.Channel.WEBHOOK:
        if not signed_in:
            raise PermissionDenied("Sign in to subscribe a webhook.")
        address = _clean_webhook(address)
        person = Person.objects.filter(user=actor).first()
    elif signed_in:
        person, address = _own_email(actor)
    else:
        if not status_is_public():
            raise PermissionDenied("Sign in to subscribe: status pages are for signed-in people.")
        address = _clean_email(address)

    existing = _existing(project, channel, address)
    if existing is not None:
        stale = existing.confirmed_at is None and existing.created_at <= now - timedelta(
            seconds=confirm_max_age()
        )
        if not stale:
            raise _already(project, channel)
        existing.delete()

    subscription = Subscription(
        project=project,
        channel=channel,
        person=person,
        address=address,
        confirmed_at=now if signed_in else None,
        maintenance_notices=bool(maintenance_notices),
        created_at=now,
    )
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError as exc:
        raise _already(project, channel) from exc
    if not signed_in:
        _send_confirmation(subscription, now=now)
    return subscription


def _send_confirmation(subscription: Subscription, *, now: datetime) -> None:
    hours = confirm_max_age() // 3600
    body = (
        f"Someone (we hope you) asked to follow the status of {subscription.project.name} on "
        f"Steward with this address.\n\n"
        f"Confirm within {hours} hours: {confirm_url(subscription)}\n\n"
        "If it was not you, ignore this email: nothing will be sent to you."
    )
    messages_send(
        event=Event(instance=subscription),
        topic="subscription.confirm",
        deliveries=[
            Delivery(
                ref=f"sub-{subscription.pk}",
                channel=Channel.EMAIL,
                address=subscription.address,
                body=body,
            )
        ],
        subject=f"Confirm: follow {subscription.project.name} on Steward",
        project=subscription.project,
        now=now,
    )


@dataclass(frozen=True)
class LinkOutcome:
    subscription: Subscription
    changed: bool


@transaction.atomic
def subscription_confirm(*, token: str, now: datetime | None = None) -> LinkOutcome:
    """Confirm a pending subscription from its emailed link. Confirming twice changes nothing.
    SubscriptionLinkError for a forged or expired link, or one whose subscription was cancelled."""
    now = now or timezone.now()
    subscription = subscription_from_token(
        token, salt=CONFIRM_SALT, max_age=confirm_max_age(), noun="confirmation"
    )
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.unsubscribed_at is not None:
        raise SubscriptionLinkError(
            "This subscription was cancelled; subscribe again to follow the project.", status=410
        )
    if subscription.confirmed_at is not None:
        return LinkOutcome(subscription, changed=False)
    subscription.confirmed_at = now
    subscription.save(update_fields=["confirmed_at"])
    return LinkOutcome(subscription, changed=True)


@transaction.atomic
def subscription_unsubscribe(*, token: str, now: datetime | None = None) -> LinkOutcome:
    """Stop the one subscription the link names. Unsubscribing twice changes nothing."""
    now = now or timezone.now()
    subscription = subscription_from_token(
        token, salt=UNSUBSCRIBE_SALT, max_age=unsubscribe_max_age(), noun="unsubscribe"
    )
    subscription = (
        Subscription.objects.select_for_update().select_related("project").get(pk=subscription.pk)
    )
    if subscription.unsubscribed_at is not None:
        return LinkOutcome(subscription, changed=False)
    subscription.unsubscribed_at = now
    subscription.save(update_fields=["unsubscribed_at"])
    return LinkOutcome(subscription, changed=True)


@transaction.atomic
def subscription_preferences_set(*, token: str, maintenance_notices: bool) -> LinkOutcome:
    """From the manage link of a message: whether this subscription hears of planned maintenance
    ahead of time. Setting what is already set changes nothing."""
    subscription = subscription_from_token(
        token, salt=UNSUBSCRIBE_SALT, max_age=unsubscribe_max_age(), noun="manage"
    )
    subscription = (
        Subscription.objects.select_for_update().select_related("project").get(pk=subscription.pk)
    )
    if subscription.unsubscribed_at is not None:
        raise SubscriptionLinkError(
            "This subscription was cancelled; subscribe again to follow the project.", status=410
        )
    if subscription.maintenance_notices == maintenance_notices:
        return LinkOutcome(subscription, changed=False)
    subscription.maintenance_notices = maintenance_notices
    subscription.save(update_fields=["maintenance_notices"])
    return LinkOutcome(subscription, changed=True)


def may_cancel(actor: Actor, subscription: Subscription) -> bool:
    """The subscriber themself (their person), or an admin."""
    if not (actor and actor.is_authenticated):
        return False
    if actor.is_superuser:
        return True
    return subscription.person_id is not None and subscription.person.user_id == actor.pk


@transaction.atomic
def subscription_cancel(
    *, actor: Actor, subscription: Subscription, now: datetime | None = None
) -> Subscription:
    """A signed-in subscriber stops their own subscription (the UI's and API's delete)."""
    if not may_cancel(actor, subscription):
        raise PermissionDenied("Only the subscriber can cancel this subscription.")
    now = now or timezone.now()
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.unsubscribed_at is None:
        subscription.unsubscribed_at = now
        subscription.save(update_fields=["unsubscribed_at"])
    return subscription


# --- anonymous sign-ups per client address --------------------------------------------------------


def anonymous_signup_allowed(*, client_address: str | None, now: float | None = None) -> int:
    """Count one anonymous subscribe attempt from this address; 0 when within the limit
    (STEWARD_SUBSCRIBE_ANON_RATE per hour), else the seconds until the window ends.

    Each attempt can send a confirmation email to an address the visitor typed, so a flood from
    one client must stop before it mails strangers. In Redis (a fixed window, INCR + EXPIRE), not
    PostgreSQL: a refused attempt leaves no row to count, and there is no row per attempt to keep.
    If Redis is unreachable the attempt is let through (the one-pending-row-per-address
    constraint still bounds mail to any one address)."""
    limit = int(getattr(settings, "STEWARD_SUBSCRIBE_ANON_RATE", 10))
    if limit <= 0 or not client_address:
        return 0
    window = 3600
    now = time.time() if now is None else now
    number = int(now // window)
    key = f"steward:subscribe-anon:{client_address}:{number}"
    client = redis_connection()
    if client is None:
        return 0
    try:
        pipe = client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = int(pipe.execute()[0])
    except (redis.RedisError, OSError):
        return 0
    if count <= limit:
        return 0
    return max(1, int((number + 1) * window - now))
