"""Sending: claim rows with one conditional UPDATE, deliver over the channel, record the attempt,
then finish, retry after a backoff, or fall back to the person's next contact method."""

from __future__ import annotations

import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from .. import channels
from ..models import DeliveryAttempt, Notification, Page
from . import enqueue
from .enqueue import _enqueue_on_commit
from .notices import _digest_key
from .outbox import Target, _fallback_target, _insert, _new_notification


def _claimable(now: datetime) -> Q:
    return Q(
        state=Notification.State.PENDING,
        deliver_after__lte=now,
    ) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) | Q(
        state=Notification.State.SENDING, lease_expires_at__lt=now
    )


def notifications_claim(*, notification_ids: Sequence[int], now: datetime) -> list[Notification]:
    """Take rows for sending with ONE conditional UPDATE: only a due pending row, or a sending
    row whose lease expired (its worker died), moves to `sending` with a fresh lease. Two workers
    racing for a row: exactly one gets it. Returns the rows this call took, in id order, with
    what sending needs (one more query)."""
    token = uuid.uuid4().hex
    claimed = (
        Notification.objects.filter(pk__in=list(notification_ids))
        .filter(_claimable(now))
        .update(
            state=Notification.State.SENDING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS),
            attempts=models.F("attempts") + 1,
        )
    )
    if not claimed:
        return []
    return list(
        # The recipient is read only if a send fails for good (to fall back); the page only for
        # its state.
        Notification.objects.select_related("page", "project", "event_type", "webhook_endpoint")
        .defer("page__levels", "page__delays", "page__body", "page__subject")
        .filter(pk__in=list(notification_ids), lease_token=token)
        .order_by("id")
    )


def notification_claim(*, notification_id: int, now: datetime) -> Notification | None:
    """`notifications_claim` for one row: the row, or None when another worker has it (or it is
    not due, or already sent)."""
    claimed = notifications_claim(notification_ids=[notification_id], now=now)
    return claimed[0] if claimed else None


def retry_delay(*, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    base = settings.STEWARD_RETRY_BASE_SECONDS
    cap = settings.STEWARD_RETRY_MAX_SECONDS
    backoff = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = backoff / 2 + random.uniform(0, backoff / 2)  # nosec B311: retry jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _finish(notification: Notification, **fields) -> bool:
    """Write the outcome only if we still hold the lease (a slow worker whose lease expired and
    whose row another worker re-took must not overwrite it)."""
    return bool(
        Notification.objects.filter(
            pk=notification.pk,
            state=Notification.State.SENDING,
            lease_token=notification.lease_token,
        ).update(lease_expires_at=None, lease_token="", **fields)  # nosec B106: a lease id
    )


def _finish_sent(notification: Notification, *, started: datetime, latency: int, status) -> bool:
    """`_finish(state=sent)` and its DeliveryAttempt row in ONE statement (atomic on its own):
    the same conditional update on the lease, and the attempt written only when it matched. The
    ORM's two statements and transaction cost a fast send several times more. PostgreSQL only
    (SQLite has no UPDATE in a WITH): see `_send_claimed`."""
    sql = (
        "WITH done AS (UPDATE notifications_notification SET state = %s, sent_at = %s, "
        "lease_expires_at = NULL, lease_token = '' "
        "WHERE id = %s AND state = %s AND lease_token = %s RETURNING id) "
        "INSERT INTO notifications_deliveryattempt (notification_id, number, started_at, "
        "latency_ms, outcome, status_code, error) "
        "SELECT id, %s, %s, %s, %s, %s, '' FROM done"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                Notification.State.SENT,
                timezone.now(),
                notification.pk,
                Notification.State.SENDING,
                notification.lease_token,
                notification.attempts,
                started,
                latency,
                DeliveryAttempt.Outcome.SENT,
                status,
            ],
        )
        return cursor.rowcount == 1


def notification_send(
    *,
    notification_id: int,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> str:
    """Claim, deliver over the channel, record the attempt, then: sent; or pending again after a
    backoff (transient error, attempts left); or failed and handed to the person's next contact
    method (permanent error, or no attempts left). Safe to run twice: the second run finds the
    row claimed or sent and does nothing. Returns what happened."""
    now = now or timezone.now()
    notification = notification_claim(notification_id=notification_id, now=now)
    if notification is None:
        return "skipped"
    return _send_claimed(notification, now=now)


def _longest_send() -> float:
    """The longest one delivery may take before its channel gives up (its timeouts)."""
    return max(
        settings.STEWARD_WEBHOOK_CONNECT_TIMEOUT + settings.STEWARD_WEBHOOK_READ_TIMEOUT,
        float(settings.EMAIL_TIMEOUT or 0),
    )


def notifications_send(
    *, notification_ids: Sequence[int], now: datetime | None = None
) -> dict[str, int]:
    """`notification_send` for several rows with one claim (one conditional UPDATE for all of
    them, one read): the per-message cost of a large fan-out. Each row is then delivered and
    finished on its own, as `notification_send` does, so a worker killed midway re-sends at most
    the row in flight. Rows still waiting when the lease could run out before they are done are
    released (pending again, their attempt not counted) and re-published, so a slow receiver
    never lets a lease expire under a row this worker still means to send. Returns how many rows
    ended each way."""
    now = now or timezone.now()
    outcomes: dict[str, int] = defaultdict(int)
    claimed = notifications_claim(notification_ids=notification_ids, now=now)
    outcomes["skipped"] = len(set(notification_ids)) - len(claimed)
    deadline = time.monotonic() + settings.STEWARD_LEASE_SECONDS - _longest_send() - 1
    for index, notification in enumerate(claimed):
        if index and time.monotonic() > deadline:
            rest = [n.pk for n in claimed[index:]]
            Notification.objects.filter(
                pk__in=rest,
                state=Notification.State.SENDING,
                lease_token=notification.lease_token,
            ).update(
                state=Notification.State.PENDING,
                lease_token="",  # nosec B106: a lease id, not a password
                lease_expires_at=None,
                attempts=models.F("attempts") - 1,
                enqueued_at=timezone.now(),
            )
            enqueue._publish(rest, urgent=notification.kind == Notification.Kind.PAGE)
            outcomes["released"] += len(rest)
            break
        outcomes[_send_claimed(notification, now=now)] += 1
    return dict(outcomes)


def _send_claimed(notification: Notification, *, now: datetime) -> str:
    # Pages acknowledged or stopped since the row was written are not sent.
    if notification.page_id and notification.page.state != Page.State.OPEN:
        _finish(notification, state=Notification.State.CANCELLED)
        return "cancelled"
    # Nor deliveries to an outgoing webhook disabled since.
    if notification.webhook_endpoint_id and not notification.webhook_endpoint.is_active:
        _finish(notification, state=Notification.State.CANCELLED, last_error="Endpoint disabled.")
        return "cancelled"
    started = timezone.now()
    try:
        status_code = channels.deliver(notification)
    except channels.DeliveryError as exc:
        latency = _ms_since(started)
        return _failed(notification, exc, started=started, latency=latency, now=now)
    latency = _ms_since(started)
    if notification.kind != Notification.Kind.DIGEST:
        sent = _finish_sent(notification, started=started, latency=latency, status=status_code)
        return "sent" if sent else "lost-lease"
    # A digest also marks what it bundled: its writes go together in a transaction.
    with transaction.atomic():
        if not _finish(notification, state=Notification.State.SENT, sent_at=timezone.now()):
            return "lost-lease"
        DeliveryAttempt.objects.create(
            notification=notification,
            number=notification.attempts,
            started_at=started,
            latency_ms=latency,
            outcome=DeliveryAttempt.Outcome.SENT,
            status_code=status_code,
        )
        notification.bundled.update(state=Notification.State.SENT, sent_at=timezone.now())
    return "sent"


def _ms_since(started: datetime) -> int:
    return max(0, int((timezone.now() - started).total_seconds() * 1000))


def _failed(notification: Notification, exc, *, started, latency: int, now: datetime) -> str:
    attempts_left = notification.attempts < settings.STEWARD_DELIVERY_MAX_ATTEMPTS
    retry = isinstance(exc, channels.TransientError) and attempts_left
    error = str(exc)[:2000]
    with transaction.atomic():
        if retry:
            delay = retry_delay(attempt=notification.attempts, retry_after=exc.retry_after)
            fields = {
                "state": Notification.State.PENDING,
                "next_attempt_at": now + timedelta(seconds=delay),
                "enqueued_at": now + timedelta(seconds=delay),
                "last_error": error,
            }
        else:
            fields = {"state": Notification.State.FAILED, "last_error": error}
        if not _finish(notification, **fields):
            return "lost-lease"
        DeliveryAttempt.objects.create(
            notification=notification,
            number=notification.attempts,
            started_at=started,
            latency_ms=latency,
            outcome=DeliveryAttempt.Outcome.RETRY if retry else DeliveryAttempt.Outcome.FAILED,
            status_code=exc.status_code,
            error=error,
        )
        if retry:
            _enqueue_on_commit([notification], countdown=delay)
            return "retry"
        notification_fall_back(notification=notification, now=now)
    return "failed"


def notification_fall_back(*, notification: Notification, now: datetime) -> Notification | None:
    """After a notification failed for good, the same message to the person's next contact method
    (one not yet used for this message). Idempotent: the key names the new channel. A message to
    a bare address (no person) has nothing to fall back on."""
    if notification.recipient_id is None:
        return None
    siblings = Notification.objects.filter(
        event_type_id=notification.event_type_id,
        event_id=notification.event_id,
        topic=notification.topic,
        recipient_id=notification.recipient_id,
        round=notification.round,
        kind=notification.kind,
    )
    if notification.kind == Notification.Kind.DIGEST:
        siblings = siblings.filter(deliver_after=notification.deliver_after)
    used = {
        Target(c, a, m).ref
        for c, a, m in siblings.values_list("channel", "address", "contact_method_id")
    }
    target = _fallback_target(notification.recipient, used)
    if target is None:
        return None
    fallback = _new_notification(
        event_type_id=notification.event_type_id,
        event_id=notification.event_id,
        topic=notification.topic,
        kind=notification.kind,
        person=notification.recipient,
        target=target,
        subject=notification.subject,
        body=notification.body,
        link=notification.link,
        round=notification.round,
        now=now,
        project=notification.project,
        page=notification.page,
        fallback_of=notification,
    )
    if notification.kind == Notification.Kind.DIGEST:
        fallback.idempotency_key = _digest_key(
            notification.recipient_id, target, notification.deliver_after
        )
    written = _insert([fallback])
    if written and notification.kind == Notification.Kind.DIGEST:
        notification.bundled.update(digest=written[0])
    _enqueue_on_commit(written)
    return written[0] if written else None
