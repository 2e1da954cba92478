"""Outgoing webhooks: endpoints per project and per IT system, and the events they receive.

An event (outage opened, acknowledged, updated, resolved; change scheduled, moved, started,
completed, cancelled) becomes one notification row per interested endpoint, written in the
transaction of the event through `messages_send`, so webhooks share the pipeline's guarantees:
claims, retries with backoff, the sweeper, exactly-once per key. The row's body is the JSON
document sent, frozen when the event happens; a redelivery sends the same document again.

Signing follows the Standard Webhooks scheme (https://www.standardwebhooks.com/): headers
`webhook-id` (the message id, the same on every attempt and redelivery), `webhook-timestamp`
and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with the
endpoint's secret, so receivers can verify with any Standard Webhooks library. The signing and
the POST are the pipeline's webhook channel (`notifications.channels.post_endpoint`), at send
time; this module decides what is sent and to which endpoint.

Which endpoints hear an event: a project's endpoints when the event touches the project (the
event's snapshot of impacted projects); an IT system's endpoints when the event is on that system
itself (not on what it depends on).

This app sits below changes and incidents and knows their events only through the description
their owner hands it (`notifications.events.Event`): its systems and its document. The documents
are written by their owners (`changes.events.change_event`, `incidents.events.outage_event`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications import services as delivery
from notifications.events import Event
from notifications.models import Channel, Notification
from registry import permissions
from registry.models import AuditEntry, ITSystem, Project
from registry.services import audit_record, audit_snapshot
from steward import net
from steward.errors import Conflict

from .models import WebhookEndpoint, new_webhook_secret

Actor = AbstractBaseUser | AnonymousUser | None

ENDPOINT_FIELDS = ("url", "description", "events", "is_active")
MAX_ENDPOINTS_PER_OWNER = 10
EVENT_TYPES = WebhookEndpoint.Event.values


# --- who may ------------------------------------------------------------------------------


def can_manage_webhooks(user: Actor, owner: Project | ITSystem) -> bool:
    """A project's editors manage its webhooks; IT staff manage every system's (and may help
    with a project's). Endpoint URLs can carry credentials, so only they may read them too."""
    if user is None or not user.is_authenticated:
        return False
    if isinstance(owner, Project):
        return permissions.can_edit_project(user, owner) or permissions.is_it_staff(user)
    return permissions.can_edit_system(user, owner)


def _require_manage(actor: Actor, owner: Project | ITSystem) -> None:
    if not can_manage_webhooks(actor, owner):
        raise PermissionDenied("Only the project's owners and maintainers, or IT staff, may.")


# --- endpoints ----------------------------------------------------------------------------


def _clean_events(events: Any) -> list[str]:
    if events in (None, ""):
        return []
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise ValidationError({"events": "Give a list of event types."})
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(
            {"events": f"Unknown event type {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}."}
        )
    return [e for e in EVENT_TYPES if e in events]


def _validate(endpoint: WebhookEndpoint) -> None:
    endpoint.events = _clean_events(endpoint.events)
    endpoint.full_clean(exclude=["created_by", "secret"])
    refusal = net.url_refusal(endpoint.url)
    if refusal:
        raise ValidationError({"url": refusal})


def _audit(actor: Actor, action: str, endpoint: WebhookEndpoint, before: dict | None) -> None:
    after = None if action == AuditEntry.Action.DELETE else audit_snapshot(endpoint)
    audit_record(actor=actor, action=action, instance=endpoint, before=before, after=after)


@transaction.atomic
def webhook_endpoint_create(
    *,
    actor: Actor,
    project: Project | None = None,
    system: ITSystem | None = None,
    url: str,
    description: str = "",
    events: Iterable[str] | None = None,
    is_active: bool = True,
) -> WebhookEndpoint:
    if (project is None) == (system is None):
        raise ValidationError({"project": "Give a project or an IT system, not both."})
    owner = project or system
    _require_manage(actor, owner)
    # Lock the owner so two concurrent creates cannot both pass the limit.
    type(owner).objects.select_for_update().filter(pk=owner.pk).first()
    if owner.webhooks.count() >= MAX_ENDPOINTS_PER_OWNER:
        raise ValidationError(
            {"url": f"{owner} already has {MAX_ENDPOINTS_PER_OWNER} webhooks; remove one first."}
        )
    endpoint = WebhookEndpoint(
        project=project,
        system=system,
        url=(url or "").strip(),
        description=description or "",
        events=list(events) if events is not None else [],
        is_active=is_active,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    _validate(endpoint)
    endpoint.save()
    _audit(actor, AuditEntry.Action.CREATE, endpoint, None)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *, actor: Actor, endpoint: WebhookEndpoint, **fields: Any
) -> WebhookEndpoint:
    _require_manage(actor, endpoint.owner)
    unknown = sorted(set(fields) - set(ENDPOINT_FIELDS))
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = audit_snapshot(locked)
    for name, value in fields.items():
        setattr(locked, name, value.strip() if name == "url" and isinstance(value, str) else value)
    _validate(locked)
    locked.save()
    _audit(actor, AuditEntry.Action.UPDATE, locked, before)
    return locked


@transaction.atomic
def webhook_endpoint_delete(*, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Deleting an endpoint deletes its delivery log; rows not yet sent go with it."""
    _require_manage(actor, endpoint.owner)
    _audit(actor, AuditEntry.Action.DELETE, endpoint, audit_snapshot(endpoint))
    endpoint.delete()


@transaction.atomic
def webhook_secret_rotate(*, actor: Actor, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret at once. Deliveries already sent were signed with the old one; retries and
    redeliveries from now on are signed with the new one (signing happens at send time)."""
    _require_manage(actor, endpoint.owner)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    locked.secret = new_webhook_secret()
    locked.save(update_fields=["secret", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditEntry.Action.UPDATE,
        instance=locked,
        before={"signing_rotated_at": None},
        after={"signing_rotated_at": locked.updated_at.isoformat()},
    )
    return locked


# --- documents ------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def iso(at: datetime | None) -> str | None:
    """A moment as webhook documents write it."""
    return at.isoformat() if at is not None else None


def system_document(system: ITSystem) -> dict:
    """An IT system as webhook documents describe it (in an event's document and as an
    endpoint's owner)."""
    return {"slug": system.slug, "name": system.name, "kind": system.kind}


@functools.cache
def _project_path() -> str:
    """The project page's path with `{slug}` in it: one reverse() for thousands of endpoints
    (slugs need no quoting)."""
    return reverse("registry:project_detail", args=["0"]).replace("/0/", "/{slug}/")


def _owner_document(endpoint: WebhookEndpoint) -> dict:
    if endpoint.project_id:
        project = endpoint.project
        return {
            "project": {
                "slug": project.slug,
                "name": project.name,
                "url": _absolute(_project_path().format(slug=project.slug)),
            }
        }
    return {"system": system_document(endpoint.system)}


def message_id(key: str) -> str:
    """The Standard Webhooks message id of a delivery: derived from its notification key, so it
    is the same on every attempt and on a redelivery."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _body(*, key: str, event_type: str, now: datetime, data: dict) -> str:
    document = {"id": message_id(key), "type": event_type, "timestamp": now.isoformat(), **data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# --- emitting -------------------------------------------------------------------------------


def _endpoints_for(
    event_type: str, *, project_ids: Iterable[int], system_ids: Iterable[int]
) -> list[WebhookEndpoint]:
    project_ids, system_ids = list(project_ids), list(system_ids)
    if not project_ids and not system_ids:
        return []
    endpoints = (
        WebhookEndpoint.objects.filter(is_active=True)
        .filter(Q(project_id__any=project_ids) | Q(system_id__any=system_ids))
        .select_related("project", "system")
        .order_by("id")
    )
    # Filtered here, not with JSON containment: the demo runs on SQLite.
    return [e for e in endpoints if e.wants(event_type)]


def webhooks_emit(
    *,
    event: Event,
    event_type: str,
    project_ids: Iterable[int] = (),
    topic: str | None = None,
    extra: dict | None = None,
    systems: bool = True,
    now: datetime | None = None,
) -> list[Notification]:
    """One delivery per interested endpoint of the touched projects (and of the event's own
    systems, unless `systems` is False), in the caller's transaction, sending the event's
    document (its owner wrote it, see `notifications.events.Event`) with `extra`. Idempotent on
    (event, topic, endpoint): `topic` defaults to the event type; give one of its own to an event
    that can happen more than once (a second move, one update among several)."""
    if not event.document:
        raise ValueError(f"No webhook document for {event.instance!r}")
    now = now or timezone.now()
    system_ids = [s.pk for s in event.systems] if systems else []
    endpoints = _endpoints_for(event_type, project_ids=project_ids, system_ids=system_ids)
    if not endpoints:
        return []
    return _deliver_to(
        endpoints,
        event=event,
        topic=f"webhook.{topic or event_type}",
        event_type=event_type,
        data={**event.document, **(extra or {})},
        now=now,
    )


def _deliver_to(
    endpoints: Iterable[WebhookEndpoint],
    *,
    event: Event,
    topic: str,
    event_type: str,
    data: dict,
    now: datetime,
) -> list[Notification]:
    """The rows that send `data` (with each endpoint's own project or system) to each endpoint,
    keyed (event, topic, endpoint); returns those written (none for a key already written)."""
    deliveries = []
    for endpoint in endpoints:
        ref = f"hook-{endpoint.pk}"
        key = delivery.message_key(event=event, topic=topic, ref=ref, channel=Channel.WEBHOOK)
        body = _body(key=key, event_type=event_type, now=now, data=data | _owner_document(endpoint))
        deliveries.append(
            delivery.Delivery(
                ref=ref,
                channel=Channel.WEBHOOK,
                address=endpoint.url,
                body=body,
                webhook_endpoint_id=endpoint.pk,
            )
        )
    return delivery.messages_send(
        event=event, topic=topic, deliveries=deliveries, subject=event_type, now=now
    )


@transaction.atomic
def webhook_ping(*, actor: Actor, endpoint: WebhookEndpoint) -> Notification:
    """A `ping` delivery, to check the URL and the signature from the receiving end."""
    _require_manage(actor, endpoint.owner)
    now = timezone.now()
    written = _deliver_to(
        [endpoint],
        event=Event(instance=endpoint),
        topic=f"webhook.ping.{now.timestamp():.6f}",
        event_type="ping",
        data={"message": "Steward can reach this endpoint."},
        now=now,
    )
    if not written:
        raise Conflict("A ping was sent this instant; try again.", code="duplicate_ping")
    return written[0]


REDELIVERABLE = (Notification.State.SENT, Notification.State.FAILED)


@transaction.atomic
def webhook_redeliver(*, actor: Actor, notification: Notification) -> Notification:
    """Send a delivery's document again as a new row of the log: the same body and message id,
    a fresh count of attempts, to the endpoint's current URL and secret. Only a delivery that has
    finished (sent or failed) can be redelivered; one still under way is refused (409)."""
    endpoint = notification.webhook_endpoint
    if endpoint is None:
        raise Conflict("Only an outgoing webhook delivery can be redelivered.", code="not_webhook")
    _require_manage(actor, endpoint.owner)
    root = notification.redelivery_of or notification
    # Lock the original so two concurrent redeliveries number themselves one after the other.
    root = Notification.objects.select_for_update().get(pk=root.pk)
    if notification.state not in REDELIVERABLE:
        raise Conflict(
            f"This delivery is {notification.get_state_display().lower()}; "
            "only a sent or failed one can be redelivered.",
            code="delivery_under_way",
        )
    if not endpoint.is_active:
        raise Conflict("The endpoint is disabled; enable it first.", code="endpoint_disabled")
    number = root.redeliveries.count() + 1
    now = timezone.now()
    copy = Notification.objects.create(
        event_type_id=root.event_type_id,
        event_id=root.event_id,
        topic=root.topic,
        kind=Notification.Kind.NOTICE,
        recipient=None,
        project_id=root.project_id,
        channel=Channel.WEBHOOK,
        address=endpoint.url,
        subject=root.subject,
        body=root.body,
        link=root.link,
        idempotency_key=f"{root.idempotency_key}:re{number}"[:255],
        state=Notification.State.PENDING,
        deliver_after=now,
        enqueued_at=now,
        created_at=now,
        webhook_endpoint=endpoint,
        redelivery_of=root,
    )
    delivery.enqueue_on_commit([copy])
    return copy
