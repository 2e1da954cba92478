"""Notices: to people (held outside their working hours, then released as one digest) and to bare
addresses (anonymous subscribers, outgoing webhooks)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from registry.models import Person, Project
from registry.selectors import is_within_working_hours, next_working_start

from ..events import Event
from ..models import Notification
from .enqueue import _enqueue_on_commit
from .outbox import Target, _insert, _new_notification, _unique_people, message_key, targets_for


def notices_send(
    *,
    event: Event,
    topic: str,
    recipients: Iterable[Person],
    subject: str,
    body: str,
    link: str = "",
    project: Project | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """A notice to each recipient over each contact method that takes notices. Idempotent on
    (event, topic, recipient, channel, round 0): a second call writes nothing and returns [].
    A notice outside the recipient's working hours is held until their next working start and
    then bundled with their other held notices into one digest (see `digests_release`)."""
    return notices_send_many(
        event=event,
        topic=topic,
        recipients=[(project, recipients)],
        subject=subject,
        body=body,
        link=link,
        now=now,
    )


def notices_send_many(
    *,
    event: Event,
    topic: str,
    recipients: Iterable[tuple[Project | None, Iterable[Person]]],
    subject: str,
    body: str,
    link: str = "",
    now: datetime | None = None,
) -> list[Notification]:
    """`notices_send` for many projects of one event and topic in one insert: `recipients` gives
    each project with its people, in order. The rows and keys are those of one `notices_send` per
    project in that order: the key has no project, so a person of two projects hears once, about
    the first."""
    now = now or timezone.now()
    event_type_id = ContentType.objects.get_for_model(event.instance).pk
    rows: dict[str, Notification] = {}
    for project, people in recipients:
        for person in _unique_people(people):
            if is_within_working_hours(person, now):
                state, deliver_after = Notification.State.PENDING, now
            else:
                start = next_working_start(person, now)
                # No working hours at all: nothing to wait for.
                state = Notification.State.HELD if start else Notification.State.PENDING
                deliver_after = start or now
            for target in targets_for(person, urgent=False):
                row = _new_notification(
                    event_type_id=event_type_id,
                    event_id=event.pk,
                    topic=topic,
                    kind=Notification.Kind.NOTICE,
                    person=person,
                    target=target,
                    subject=subject,
                    body=body,
                    link=link,
                    round=0,
                    now=now,
                    project=project,
                    state=state,
                    deliver_after=deliver_after,
                )
                rows.setdefault(row.idempotency_key, row)
    written = _insert(list(rows.values()))
    _enqueue_on_commit([n for n in written if n.state == Notification.State.PENDING])
    return written


@dataclass(frozen=True)
class Delivery:
    """A message to an address that is nobody's account: an anonymous subscriber, a project's
    outgoing webhook. `ref` names the owner of the address (`sub-12`, `hook-3`) and goes into the
    idempotency key, so a second call for the same event and topic writes nothing."""

    ref: str
    channel: str
    address: str
    body: str = ""
    webhook_endpoint_id: int | None = None


def messages_send(
    *,
    event: Event,
    topic: str,
    deliveries: Iterable[Delivery],
    subject: str,
    body: str = "",
    link: str = "",
    project: Project | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """A notice to each bare address, through the same rows, claims, retries and sweeper as
    every other notification; sent at once (an address has no working hours). A delivery's own
    `body` (an unsubscribe link, say) replaces the shared one. Idempotent on
    (event, topic, ref, channel)."""
    now = now or timezone.now()
    event_type_id = ContentType.objects.get_for_model(event.instance).pk
    rows = []
    for delivery in deliveries:
        key = message_key(event=event, topic=topic, ref=delivery.ref, channel=delivery.channel)
        rows.append(
            Notification(
                event_type_id=event_type_id,
                event_id=event.pk,
                topic=topic,
                kind=Notification.Kind.NOTICE,
                recipient=None,
                project=project,
                channel=delivery.channel,
                address=delivery.address,
                subject=subject[:300],
                body=delivery.body or body,
                link=link[:500],
                idempotency_key=key,
                state=Notification.State.PENDING,
                deliver_after=now,
                enqueued_at=now,
                created_at=now,
                webhook_endpoint_id=delivery.webhook_endpoint_id,
            )
        )
    written = _insert(rows)
    _enqueue_on_commit(written)
    return written


# --- digests ----------------------------------------------------------------------------------


def _digest_key(person_id: int, target: Target, at: datetime) -> str:
    return f"digest:p{person_id}:{target.ref}:{at.strftime('%Y%m%dT%H%M%SZ')}"


def digests_release(*, now: datetime) -> list[Notification]:
    """Held notices whose time has come: one digest per person and contact channel, holding all
    of that person's held notices (whatever their events). Rows are locked with SKIP LOCKED, so
    two sweepers bundle each notice once."""
    with transaction.atomic():
        held = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due__deliver_after__lte=now)  # the queue (`Due`)
            .filter(state=Notification.State.HELD, digest__isnull=True)
            .select_related("recipient")
            .order_by("recipient_id", "created_at", "id")[: settings.STEWARD_SWEEP_BATCH]
        )
        groups: dict[tuple[int, Target], list[Notification]] = defaultdict(list)
        for n in held:
            groups[(n.recipient_id, Target(n.channel, n.address, n.contact_method_id))].append(n)
        digests = []
        for (person_id, target), notices in groups.items():
            person = notices[0].recipient
            at = max(n.deliver_after for n in notices)
            lines = [f"{len(notices)} notices while you were away:", ""]
            for n in notices:
                lines += [f"• {n.subject}", *(f"  {line}" for line in n.body.splitlines()[:6])]
                if n.link:
                    lines.append(f"  {n.link}")
                lines.append("")
            digest = Notification(
                topic="digest",
                kind=Notification.Kind.DIGEST,
                recipient=person,
                contact_method_id=target.method_id,
                channel=target.channel,
                address=target.address,
                subject=f"Steward digest: {len(notices)} notices"
                if len(notices) > 1
                else notices[0].subject,
                body="\n".join(lines).strip(),
                link=notices[0].link if len(notices) == 1 else "",
                idempotency_key=_digest_key(person_id, target, at),
                deliver_after=at,
                enqueued_at=now,
                created_at=now,
            )
            written = _insert([digest])
            if not written:  # a digest for that person and moment exists: join it
                written = [Notification.objects.get(idempotency_key=digest.idempotency_key)]
            Notification.objects.filter(pk__in=[n.pk for n in notices]).update(digest=written[0])
            digests.extend(written)
        _enqueue_on_commit(digests)
    return digests
