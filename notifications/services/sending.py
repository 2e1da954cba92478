"""Sending: claim rows with one conditional UPDATE, deliver over the channel, record the attempt,
then finish, retry after a backoff, or fall back to the person's next contact method.

Delivery outlasts outages of what it talks to:
- A page is retried until its page is acknowledged, stopped, or escalated past the level it
  belongs to, its backoff capped in minutes; after a few failed attempts the same page also
  goes to the person's next contact method for pages. A notice is retried for hours.
- Whatever a single row raises (a refused header, a provider's error, a bug) fails or retries
  that row alone: the rest of its batch is sent.
- A message that went out is recorded as sent even when the database is away at that moment:
  the worker keeps trying, and leaves a note in Redis (the sent journal) that whoever takes the
  row next, and the sweeper, honour instead of sending it again.
- Each channel's run of failures is counted (steward.health) for IT to see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import struct
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.utils import timezone

from steward import local_journal, prepared
from steward.health import channel_failure_record, channel_success_record, redis_connection
from steward.rows import Columns

from .. import channels
from ..models import DeliveryAttempt, Notification, Page
from . import enqueue
from .enqueue import _enqueue_on_commit
from .notices import _digest_key
from .outbox import Target, _fallback_target, _insert, _new_notification

# Claim: a due pending row, or a sending row whose lease expired (its worker died), moves to
# `sending` under a new lease, and the rows this statement took come back with what sending reads
# of their page, project and outgoing webhook (joined to the UPDATE's RETURNING): one statement,
# one round trip. The ORM's UPDATE then SELECT with select_related cost a batch ~9 ms, most of it
# compiling the SELECT in Python. Committed without waiting for its WAL to reach the disk (the
# SET LOCAL lasts for this statement's implicit transaction), like the record of a send: one WAL
# flush per message cost more than its HTTP request. A clean restart of PostgreSQL keeps such
# commits; a crash of the server can lose the last fraction of a second of them, whose rows then
# go out again a lease later with their idempotency keys.
# The rows are found by id (the primary key), 32 probes at most, whatever else the planner
# believes of the table. What the row's state asks of it is a CASE: when the queue was a partial
# index of this table, `state = 'pending' AND … OR state = 'sending' AND …` let the planner read
# that index whole too, and during a fan-out it held thousands of rows its statistics had never
# seen (1.8 ms a batch against 0.4). The queue is its own table now (`Due`); the CASE stays, and
# `_RECORD_SENT` is written the same way.
# What both run first, in the same implicit transaction: the commit that does not wait.
_NO_FLUSH_WAIT = "SET LOCAL synchronous_commit = off"
_CLAIM_UPDATE = (
    "UPDATE notifications_notification "
    "SET state = 'sending', lease_token = %(token)s, lease_expires_at = %(until)s, "
    "attempts = attempts + 1 "
    "WHERE id = ANY(%(ids)s) AND CASE state "
    "WHEN 'pending' THEN deliver_after <= %(now)s "
    "AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s) "
    "WHEN 'sending' THEN lease_expires_at < %(now)s "
    "ELSE false END "
    "RETURNING *"
)
# What sending reads of each row and what it points at; the rest is left unread (a field read
# later loads on access, as with `only`). Each column costs its conversion to Python for every
# row claimed: the whole of the row, its page, project and webhook cost a batch as much as the
# update itself. A row's own times of the queue (its lease, next attempt, when it was published
# or sent) and the links sending never follows are not read.
_NOTIFICATION_UNREAD = {
    "active",
    "lease_expires_at",
    "next_attempt_at",
    "enqueued_at",
    "sent_at",
    "sent_latency_ms",
    "sent_status_code",
    "contact_method",
    "digest",
    "redelivery_of",
}
_EVENT_TYPE = Notification._meta.get_field("event_type")
# What the claim reads of what each row points at, in the order it reads them.
_JOINED = tuple(
    Notification._meta.get_field(name) for name in ("page", "project", "webhook_endpoint")
)
# The page for its state (whether it is still open), the project for what messages say of it.
_PAGE_READ = {"id", "state"}
_PROJECT_READ = {"id", "name", "slug"}


@cache
def _claim_sql() -> tuple[prepared.Prepared, tuple[Columns, ...]]:
    """The claim's statement and how to read its rows: built once a process."""
    field = Notification._meta.get_field
    parts = (
        Columns(Notification, "c", skip=_NOTIFICATION_UNREAD),
        Columns(field("page").related_model, "p", only=_PAGE_READ),
        Columns(field("project").related_model, "pr", only=_PROJECT_READ),
        Columns(field("webhook_endpoint").related_model, "w"),
    )
    c, p, pr, w = parts
    person_table = Notification._meta.get_field("recipient").related_model._meta.db_table
    # Table and column names from the models' metadata; every value is a parameter.
    sql = (
        f"WITH c AS ({_CLAIM_UPDATE}) "  # noqa: S608  # nosec B608: names from model metadata
        f"SELECT {c.select()}, {p.select()}, {pr.select()}, {w.select()}, r.time_zone FROM c "
        f"LEFT JOIN {p.model._meta.db_table} p ON p.id = c.page_id "
        f"LEFT JOIN {person_table} r ON r.id = c.recipient_id "
        f"LEFT JOIN {pr.model._meta.db_table} pr ON pr.id = c.project_id "
        f"LEFT JOIN {w.model._meta.db_table} w ON w.id = c.webhook_endpoint_id "
        "ORDER BY c.id"
    )
    statement = prepared.Prepared(
        "steward_claim",
        sql,
        # Each parameter's type (B105 takes "token": "text" for a password).
        {"token": "text", "until": "timestamptz", "ids": "bigint[]", "now": "timestamptz"},  # nosec B105
        before=_NO_FLUSH_WAIT,
    )
    return statement, parts


def notifications_claim(*, notification_ids: Sequence[int], now: datetime) -> list[Notification]:
    """Take rows for sending with ONE conditional UPDATE: only a due pending row, or a sending
    row whose lease expired (its worker died), moves to `sending` with a fresh lease. Two workers
    racing for a row: exactly one gets it. Returns the rows this call took, in id order, with
    what sending needs (page, project, event type, outgoing webhook, the recipient's time zone)
    in the same statement."""
    statement, parts = _claim_sql()
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            statement,
            {
                "token": uuid.uuid4().hex,
                "until": now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS),
                "ids": [int(i) for i in notification_ids],
                "now": now,
            },
        )
        rows = cursor.fetchall()
    claimed = []
    row_part, *joined = parts
    row_width, build_row = len(row_part), row_part.builder()
    joined = [(len(part), part.builder()) for part in joined]
    for values in rows:
        at = row_width
        notification = build_row(values[:at])
        # What the row points at (its page, project, outgoing webhook), when it points at it.
        # The recipient is read only if a send fails for good (to fall back).
        for (width, build), field in zip(joined, _JOINED, strict=True):
            if getattr(notification, field.attname) is not None:
                # Into the instance's cache of related objects, as assigning it does, without
                # the assignment's checks of a value read by the same statement.
                field.set_cached_value(notification, build(values[at : at + width]))
            at += width
        # Their zone is what the message's times are written in (`channels.for_recipient`).
        notification.recipient_zone = values[-1]
        if notification.event_type_id:
            _EVENT_TYPE.set_cached_value(
                notification, ContentType.objects.get_for_id(notification.event_type_id)
            )
        claimed.append(notification)
    return claimed


def notification_claim(*, notification_id: int, now: datetime) -> Notification | None:
    """`notifications_claim` for one row: the row, or None when another worker has it (or it is
    not due, or already sent)."""
    claimed = notifications_claim(notification_ids=[notification_id], now=now)
    return claimed[0] if claimed else None


log = logging.getLogger(__name__)

# The sent journal: a Redis hash of rows delivered whose `sent` could not be written yet.
SENT_JOURNAL = "steward:sent-journal"


def retry_delay(*, attempt: int, retry_after: float | None, urgent: bool = False) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After, capped
    at STEWARD_RETRY_MAX_SECONDS (and STEWARD_PAGE_RETRY_MAX_SECONDS for a page: minutes)."""
    base = settings.STEWARD_RETRY_BASE_SECONDS
    cap = settings.STEWARD_RETRY_MAX_SECONDS
    if urgent:
        cap = min(cap, settings.STEWARD_PAGE_RETRY_MAX_SECONDS)
    backoff = min(cap, base * (2 ** min(30, max(0, attempt - 1))))
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


class Delivered:
    """A message that went out and is yet to be recorded: the row, when its send started, how
    long it took and the status the receiver answered."""

    __slots__ = ("latency", "notification", "started", "status")

    def __init__(self, notification: Notification, *, started: datetime, latency: int, status):
        self.notification = notification
        self.started = started
        self.latency = latency
        self.status = status


# Mark delivered rows sent in ONE statement, with what the attempt that went through was (when
# it started, how long it took, what the receiver answered: `Notification.attempts_made`), on
# the same conditional update on each row's lease. Committed without waiting for the disk, and
# its rows found by id, like the claim (see `_CLAIM_UPDATE`). It changes no indexed value, so
# PostgreSQL updates each row in place (HOT); the queue's triggers drop its `Due` row.
_RECORD_SENT = prepared.Prepared(
    "steward_record_sent",
    "WITH v AS (SELECT * FROM unnest(%(ids)s::bigint[], %(tokens)s::text[], "
    "%(started)s::timestamptz[], %(latencies)s::int[], %(statuses)s::int[]) "
    "AS v(id, token, started, latency, status)) "
    "UPDATE notifications_notification n SET state = 'sent', sent_at = v.started, "
    "sent_latency_ms = v.latency, sent_status_code = v.status, "
    "lease_expires_at = NULL, lease_token = '' FROM v "
    "WHERE n.id = v.id AND CASE n.state WHEN 'sending' THEN n.lease_token = v.token ELSE false END "
    "RETURNING n.id",
    {
        "ids": "bigint[]",
        "tokens": "text[]",
        "started": "timestamptz[]",
        "latencies": "int[]",
        "statuses": "int[]",
    },
    before=_NO_FLUSH_WAIT,
)


def _finish_sent(delivered: Sequence[Delivered]) -> set[int]:
    """Record these deliveries as sent where this worker still holds the row's lease (a slow
    worker whose row another re-took must not overwrite it); the ids recorded."""
    if not delivered:
        return set()
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            _RECORD_SENT,
            {
                "ids": [d.notification.pk for d in delivered],
                "tokens": [d.notification.lease_token for d in delivered],
                "started": [d.started for d in delivered],
                "latencies": [d.latency for d in delivered],
                "statuses": [d.status for d in delivered],
            },
        )
        return {row[0] for row in cursor.fetchall()}


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
    return _send_one(notification, now=now)


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
    them, one read) and one record of what went out: the per-message cost of a large fan-out.
    Each row is delivered on its own, and noted in the sent journal the moment it went out, so a
    worker killed midway re-sends at most the row in flight (whoever takes the others next
    records them from the journal). Rows still waiting when the lease could run out before they
    are done are released (pending again, their attempt not counted) and re-published, so a
    slow receiver never lets a lease expire under a row this worker still means to send.
    Returns how many rows ended each way."""
    now = now or timezone.now()
    outcomes: dict[str, int] = defaultdict(int)
    claimed = notifications_claim(notification_ids=notification_ids, now=now)
    outcomes["skipped"] = len(set(notification_ids)) - len(claimed)
    deadline = time.monotonic() + settings.STEWARD_LEASE_SECONDS - _longest_send() - 1
    # Every message made ready before the first goes out (`channels.prepare`).
    sends = [_prepared(notification) for notification in claimed]
    batch = _SentBatch()
    try:
        for index, notification in enumerate(claimed):
            if index and time.monotonic() > deadline:
                for outcome in batch.record():  # what went out first, then the rest back
                    outcomes[outcome] += 1
                outcomes["released"] += _release(claimed[index:])
                break
            outcomes[_send_one(notification, now=now, batch=batch, send=sends[index])] += 1
    except BaseException:
        batch.record_now()  # once: the database may be what failed; the journal keeps the rest
        raise
    outcomes.pop(_SentBatch.HELD, None)
    for outcome in batch.record():
        outcomes[outcome] += 1
    return dict(outcomes)


def _release(rows: Sequence[Notification]) -> int:
    """Put claimed rows back (pending, their attempt not counted) and publish them again."""
    ids = [n.pk for n in rows]
    Notification.objects.filter(
        pk__in=ids,
        state=Notification.State.SENDING,
        lease_token=rows[0].lease_token,
    ).update(
        state=Notification.State.PENDING,
        lease_token="",  # nosec B106: a lease id, not a password
        lease_expires_at=None,
        attempts=models.F("attempts") - 1,
        enqueued_at=timezone.now(),
    )
    enqueue._publish(ids, urgent=rows[0].kind == Notification.Kind.PAGE)
    return len(ids)


class _SentBatch:
    """Deliveries of one batch waiting to be recorded together. Each is noted in this host's
    sent journal as it is added (`_local_journal`), so it is never sent again whatever happens
    to this worker; when the journal cannot take it, it is recorded at once instead. Whatever
    the batch could not record is left to the sent journal in Redis, where the next claim and
    the sweeper find it."""

    HELD = "held"

    def __init__(self) -> None:
        self.held: list[Delivered] = []
        self.journal = _local_journal()

    def add(self, delivered: Delivered) -> str:
        if (
            self.journal is not None
            and delivered.notification.kind != Notification.Kind.DIGEST
            and self.journal.note(*_note(delivered))
        ):
            self.held.append(delivered)
            return self.HELD
        return _record_sent([delivered])[0]

    def record(self) -> list[str]:
        held, self.held = self.held, []
        if not held:
            return []
        try:
            return _record_sent(held)
        except BaseException:
            _journal_write_all(held)
            raise
        finally:
            self.journal.clear()

    def record_now(self) -> None:
        """One try, no waiting: for a batch interrupted by an error that is on its way up."""
        held, self.held = self.held, []
        if not held:
            return
        try:
            _mark_sent(held)
        except Exception as exc:  # noqa: BLE001 — the error on its way up is the one to report
            log.warning("%d sent notifications left to the sent journal", len(held))
            _journal_write_all(held)
            if isinstance(exc, DatabaseError):
                _close_connection()
        finally:
            self.journal.clear()


# This host's sent journal (`steward.local_journal`): a note is packed into a mapped file's
# pages, where a process killed next leaves it for the next process on the host to find. A note
# sent to Redis instead cost a send of its own per message (a system call, and waking Redis):
# 45 µs of the worker's and 25 µs of Redis's a message, as much as a fifth of the HTTP request.
# A note: the notification, when its send started (µs since the epoch), its latency (ms) and
# the status answered (-1 for none).
_NOTE = struct.Struct("<qqii")
_NOTE_CAPACITY = min(255, 4 * enqueue.SEND_BATCH)  # a batch's notes, cleared once recorded
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_journal_unavailable_logged = False


def _note(delivered: Delivered) -> tuple[int, int, int, int]:
    started = (delivered.started - _EPOCH) // timedelta(microseconds=1)
    status = -1 if delivered.status is None else delivered.status
    return delivered.notification.pk, started, delivered.latency, status


def _delivered_of_note(note: tuple[int, int, int, int]) -> tuple[int, dict]:
    """A note's notification id and its entry in the sent journal in Redis."""
    pk, started, latency, status = note
    started_at = _EPOCH + timedelta(microseconds=started)
    return pk, _entry(started_at, latency, None if status == -1 else status)


def _local_journal_directory() -> Path:
    """Where this deployment's notes are kept on this host: one directory a database and Redis,
    so that what one deployment (or test run) left is never replayed into another's."""
    db = connection.settings_dict
    return _journal_directory_of(
        f"{db['NAME']}|{db['HOST']}|{db['PORT']}|{settings.REDIS_URL}", str(settings.VAR_DIR)
    )


@lru_cache(maxsize=8)
def _journal_directory_of(deployment: str, var_dir: str) -> Path:
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:16]
    return Path(var_dir) / "sent-journal" / digest


def _local_journal() -> local_journal.LocalJournal | None:
    """This thread's journal; None (each send then recorded at once) when the host gives no
    place to keep it."""
    global _journal_unavailable_logged
    try:
        return local_journal.for_thread(_local_journal_directory(), _NOTE, _NOTE_CAPACITY)
    except OSError as exc:
        if not _journal_unavailable_logged:
            _journal_unavailable_logged = True
            log.warning("No sent journal on this host (%s): each send is recorded at once.", exc)
        return None


def sent_journal_adopt() -> int:
    """Move what dead processes of this host left in its sent journal to the sent journal in
    Redis, where the next claim of those rows and the sweeper find it. Run as a worker's process
    starts (the one it replaces may have been killed), by the sweeper, and before a row whose
    lease ran out is sent again. Returns how many notes were moved."""

    def keep(notes: list[tuple]) -> bool:
        # Not kept (Redis is away): left where it is, for the next call.
        return _journal_put({pk: json.dumps(entry) for pk, entry in map(_delivered_of_note, notes)})

    try:
        return local_journal.orphans_take(_local_journal_directory(), _NOTE, keep)
    except OSError:
        return 0


def _prepared(notification: Notification) -> Callable[[], int]:
    """`channels.prepare`; what it raises is raised again when the row is sent, so that it is
    that row's failure, dealt with as a failed delivery."""
    try:
        return channels.prepare(notification)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # not this row's: the batch stops, its rows wait for their lease
    except Exception as exc:  # noqa: BLE001 — this row's, whatever it is
        error = exc  # `exc` is gone once the except clause ends

        def fail() -> int:
            raise error

        return fail


def _send_one(
    notification: Notification,
    *,
    now: datetime,
    batch: _SentBatch | None = None,
    send: Callable[[], int] | None = None,
) -> str:
    """`_send_claimed`, with whatever else goes wrong for this row kept to this row: it fails
    (never left `sending` to be taken again and again) and the batch goes on. Only the
    database going away stops the batch: its rows then wait for their lease, unsent."""
    try:
        return _send_claimed(notification, now=now, batch=batch, send=send)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:  # noqa: BLE001 — one row's failure, whatever it is, is its own
        return _failed_by_bug(notification, exc)


def _failed_by_bug(notification: Notification, exc: Exception) -> str:
    log.exception("Sending notification %s failed", notification.pk, exc_info=exc)
    error = f"{type(exc).__name__}: {exc}"[:2000]
    _finish(notification, state=Notification.State.FAILED, last_error=error)
    return "failed"


def _send_claimed(
    notification: Notification,
    *,
    now: datetime,
    batch: _SentBatch | None = None,
    send: Callable[[], int] | None = None,
) -> str:
    """Deliver one claimed row (through `send`, its delivery made ready, if given) and settle
    it. What went out is recorded now, or, given a batch, with the rest of the batch (the
    outcome is then the batch's HELD)."""
    # Pages acknowledged or stopped since the row was written are not sent; nor is a retry of a
    # page that has escalated past the row's level since (the next level has it now).
    if notification.page_id and notification.page.state != Page.State.OPEN:
        _finish(notification, state=Notification.State.CANCELLED)
        return "cancelled"
    if notification.kind == Notification.Kind.PAGE and notification.attempts > 1:
        reason, _first_open = _page_retry_stop(notification)
        if reason:
            _finish(
                notification,
                state=Notification.State.CANCELLED,
                last_error=f"{notification.last_error} {reason}".strip(),
            )
            return "cancelled"
    # Nor deliveries to an outgoing webhook disabled since.
    if notification.webhook_endpoint_id and not notification.webhook_endpoint.is_active:
        _finish(notification, state=Notification.State.CANCELLED, last_error="Endpoint disabled.")
        return "cancelled"
    # Taken again after a worker sent it but could not record it: record it, do not resend.
    if notification.attempts > 1:
        sent_journal_adopt()  # its worker may have died on this host
        journaled = _journal_read(notification.pk)
        if journaled is not None:
            started = datetime.fromisoformat(journaled["started"])
            delivered = Delivered(
                notification,
                started=started,
                latency=journaled["latency"],
                status=journaled["status"],
            )
            return _record_sent([delivered], in_journal=True)[0]
    # A row whose worker died sending it, again and again, is not tried forever.
    if (
        notification.kind != Notification.Kind.PAGE
        and notification.attempts > settings.STEWARD_DELIVERY_MAX_ATTEMPTS
    ):
        error = channels.PermanentError(f"No attempts left ({notification.attempts - 1} made).")
        return _failed(notification, error, started=timezone.now(), latency=0, now=now)
    started = timezone.now()
    try:
        status_code = send() if send is not None else channels.deliver(notification)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # not this row's fault; the row waits for its lease
    except Exception as exc:  # noqa: BLE001 — any error of this row's delivery is this row's
        latency = _ms_since(started)
        return _failed(
            notification, _delivery_error(exc), started=started, latency=latency, now=now
        )
    channel_success_record(notification.channel)
    delivered = Delivered(
        notification, started=started, latency=_ms_since(started), status=status_code
    )
    if batch is not None:
        return batch.add(delivered)
    return _record_sent([delivered])[0]


def _delivery_error(exc: Exception) -> channels.DeliveryError:
    """What an error from delivering (`channels.prepare`, `channels.deliver`) means for the
    row: a channel's own DeliveryError as it is; a network error is worth retrying; anything
    else (a header the mail library refuses, a provider library's own exception, a bug) is
    not."""
    if isinstance(exc, channels.DeliveryError):
        return exc
    log.warning("Delivery raised %s", type(exc).__name__, exc_info=exc)
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError | TimeoutError):
        return channels.TransientError(text)
    return channels.PermanentError(text)


def _mark_sent(delivered: Sequence[Delivered]) -> set[int]:
    """Record deliveries as sent; the ids recorded (a row another worker re-took is not)."""
    digests = [d for d in delivered if d.notification.kind == Notification.Kind.DIGEST]
    recorded = _finish_sent(
        [d for d in delivered if d.notification.kind != Notification.Kind.DIGEST]
    )
    # A digest also marks what it bundled: its writes go together in a transaction.
    for d in digests:
        notification = d.notification
        with transaction.atomic():
            if not _finish(
                notification,
                state=Notification.State.SENT,
                sent_at=d.started,
                sent_latency_ms=d.latency,
                sent_status_code=d.status,
            ):
                continue
            notification.bundled.update(state=Notification.State.SENT, sent_at=d.started)
        recorded.add(notification.pk)
    return recorded


def _record_sent(delivered: Sequence[Delivered], *, in_journal: bool = False) -> list[str]:
    """Mark delivered rows sent; each one's outcome, in order. The messages went out: losing the
    database connection now must not let them be sent again a lease later. So the write is
    retried on a fresh connection for up to STEWARD_RECORD_RETRY_SECONDS, and the rows stay in
    the sent journal (Redis), which the next worker to take a row and the sweeper honour, until
    they are recorded. A bug recording several rows is retried row by row, so that it fails the
    row it is about, not its batch. `in_journal`: the Redis journal holds them already (struck
    off once they are recorded)."""
    deadline = time.monotonic() + settings.STEWARD_RECORD_RETRY_SECONDS
    pause = 0.05
    waited = False
    while True:
        try:
            recorded = _mark_sent(delivered)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block:
                raise  # the caller's transaction is lost with the connection
            _close_connection()
            if not waited:
                _journal_write_all(delivered)
            waited = True
            if time.monotonic() >= deadline:
                log.error("%d notifications were sent but could not be recorded", len(delivered))
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            continue
        except (DatabaseError, SoftTimeLimitExceeded):
            raise
        except Exception as exc:  # noqa: BLE001 — a bug about one row fails that row alone
            if len(delivered) == 1:
                _journal_forget([delivered[0].notification.pk])
                return [_failed_by_bug(delivered[0].notification, exc)]
            return [
                outcome for d in delivered for outcome in _record_sent([d], in_journal=in_journal)
            ]
        if waited:
            log.warning(
                "%d notifications recorded as sent after the database came back", len(delivered)
            )
        if waited or in_journal:
            _journal_forget([d.notification.pk for d in delivered])
        return ["sent" if d.notification.pk in recorded else "lost-lease" for d in delivered]


def _close_connection() -> None:
    try:
        connection.close()
    except DatabaseError:  # a broken connection may not close cleanly; it is dropped anyway
        connection.connection = None


def _entry(started: datetime, latency: int, status: int | None) -> dict:
    """A send's entry in the sent journal in Redis (what `_journal_read` gives back)."""
    return {"started": started.isoformat(), "latency": latency, "status": status}


def _journal_entry(delivered: Delivered) -> str:
    return json.dumps(_entry(delivered.started, delivered.latency, delivered.status))


def _journal_write_all(delivered: Sequence[Delivered]) -> bool:
    return _journal_put({d.notification.pk: _journal_entry(d) for d in delivered})


def _journal_put(entries: dict[int, str]) -> bool:
    """Write entries (JSON by notification id) to the sent journal in Redis; False when Redis
    cannot take them."""
    if not entries:
        return True
    try:
        redis_connection().hset(
            SENT_JOURNAL, mapping={str(pk): entry for pk, entry in entries.items()}
        )
    except (OSError, redis.RedisError):
        return False
    return True


def _journal_read(notification_id: int) -> dict | None:
    try:
        value = redis_connection().hget(SENT_JOURNAL, str(notification_id))
    except (OSError, redis.RedisError):
        return None
    return json.loads(value) if value else None


def _journal_forget(notification_ids: Sequence[int]) -> None:
    if not notification_ids:
        return
    try:
        redis_connection().hdel(SENT_JOURNAL, *(str(pk) for pk in notification_ids))
    except (OSError, redis.RedisError):
        return


def sent_journal_replay(*, now: datetime) -> int:
    """Record as sent the rows in the sent journal (delivered, not yet recorded) that are not
    yet: the sweeper's part, after moving there what dead processes of this host left in its
    own (`sent_journal_adopt`). A row still under its worker's lease is that worker's to record.
    Returns how many it recorded."""
    sent_journal_adopt()
    try:
        entries = redis_connection().hgetall(SENT_JOURNAL)
    except (OSError, redis.RedisError):
        return 0
    recorded = 0
    for key, value in entries.items():
        entry = json.loads(value)
        with transaction.atomic():
            rows = Notification.objects.filter(pk=int(key))
            row = (
                rows.select_for_update()
                .only("pk", "attempts", "kind", "state", "lease_expires_at")
                .first()
            )
            waiting = row is not None and row.state in (
                Notification.State.SENDING,
                Notification.State.PENDING,
            )
            if waiting and row.state == Notification.State.SENDING and row.lease_expires_at > now:
                continue
            if waiting:
                sent_at = datetime.fromisoformat(entry["started"])
                rows.update(
                    state=Notification.State.SENT,
                    sent_at=sent_at,
                    sent_latency_ms=entry["latency"],
                    sent_status_code=entry["status"],
                    lease_token="",  # nosec B106: a lease id, not a password
                    lease_expires_at=None,
                )
                log.info("Notification %s recorded as sent from the sent journal", row.pk)
                if row.kind == Notification.Kind.DIGEST:
                    row.bundled.update(state=Notification.State.SENT, sent_at=sent_at)
                recorded += 1
        _journal_forget([int(key)])
    return recorded


def _ms_since(started: datetime) -> int:
    return max(0, int((timezone.now() - started).total_seconds() * 1000))


def _open_pages_listed(notification: Notification) -> list[int]:
    """The pages a page message lists that are still open, in the order it lists them."""
    listed = list(notification.page_ids or [notification.page_id])
    open_ids = set(
        Page.objects.filter(pk__in=listed, state=Page.State.OPEN).values_list("pk", flat=True)
    )
    return [pk for pk in listed if pk in open_ids]


def _superseded(notification: Notification, open_ids: list[int]) -> bool:
    """Every open page the message lists has escalated since it was written: a later message
    (not a fallback) lists each of them, so their next level has them now. A fallback counts
    from when the message it stands for was written."""
    origin = notification
    while origin.fallback_of_id is not None:
        origin = Notification.objects.only("pk", "created_at", "fallback_of").get(
            pk=origin.fallback_of_id
        )
    later = Notification.objects.filter(
        kind=Notification.Kind.PAGE,
        fallback_of__isnull=True,
        created_at__gt=origin.created_at,
        page_ids__overlap=open_ids,
    ).values_list("page_ids", flat=True)
    covered = {pk for page_ids in later for pk in page_ids}
    return set(open_ids) <= covered


def _page_retry_stop(notification: Notification) -> tuple[str, int | None]:
    """Why a page message is not tried again ("" while it may be), and the first open page it
    lists (what its `page` points at from now on, so that a page acknowledged meanwhile does
    not cancel a message that still lists an open one)."""
    open_ids = _open_pages_listed(notification)
    if not open_ids:
        return "Every page it lists was acknowledged or stopped.", None
    if _superseded(notification, open_ids):
        return "Superseded by the next escalation level.", open_ids[0]
    return "", open_ids[0]


def _no_retry(notification: Notification, *, now: datetime) -> tuple[str, str] | None:
    """Why a row that failed for now is not tried again, as (the state it ends in, the reason),
    or None while it may be. A page: while a page it lists is open and has not escalated past
    the row's level. Anything else: for STEWARD_NOTICE_RETRY_HOURS after it was due, and at
    most STEWARD_DELIVERY_MAX_ATTEMPTS times."""
    if notification.kind == Notification.Kind.PAGE:
        reason, first_open = _page_retry_stop(notification)
        if first_open is not None:
            notification.page_id = first_open
        return (Notification.State.CANCELLED, reason) if reason else None
    if notification.attempts >= settings.STEWARD_DELIVERY_MAX_ATTEMPTS:
        return Notification.State.FAILED, f"No attempts left ({notification.attempts} made)."
    budget = timedelta(hours=settings.STEWARD_NOTICE_RETRY_HOURS)
    if now >= notification.deliver_after + budget:
        return Notification.State.FAILED, f"Retried for {budget.total_seconds() / 3600:g} hours."
    return None


def _failed(notification: Notification, exc, *, started, latency: int, now: datetime) -> str:
    error = str(exc)[:2000]
    channel_failure_record(notification.channel, address=notification.address, error=error)
    transient = isinstance(exc, channels.TransientError)
    stop = _no_retry(notification, now=now) if transient else None
    retry = transient and stop is None
    urgent = notification.kind == Notification.Kind.PAGE
    with transaction.atomic():
        if retry:
            delay = retry_delay(
                attempt=notification.attempts, retry_after=exc.retry_after, urgent=urgent
            )
            fields = {
                "state": Notification.State.PENDING,
                "next_attempt_at": now + timedelta(seconds=delay),
                "enqueued_at": now + timedelta(seconds=delay),
                "last_error": error,
            }
            if urgent:
                fields["page_id"] = notification.page_id  # its first open page (`_no_retry`)
        elif stop is not None:
            fields = {"state": stop[0], "last_error": f"{error} {stop[1]}"[:2000]}
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
            # A page that keeps failing also goes to the person's next method for pages, once.
            if urgent and notification.attempts == settings.STEWARD_PAGE_FALLBACK_AFTER_ATTEMPTS:
                _fall_back_once(notification, now=now)
            return "retry"
        if fields["state"] == Notification.State.CANCELLED:
            return "cancelled"
        _fall_back_once(notification, now=now)
    return "failed"


def _fall_back_once(notification: Notification, *, now: datetime) -> None:
    """`notification_fall_back` unless this row has fallen back already (a page that fell over
    while still retrying, then failed for good, does not take a third method)."""
    if not Notification.objects.filter(fallback_of=notification).exists():
        notification_fall_back(notification=notification, now=now)


def notification_fall_back(*, notification: Notification, now: datetime) -> Notification | None:
    """After a notification failed for good (or a page kept failing), the same message to the
    person's next contact method for its kind, pages or notices (one not yet used for it). Idempotent: the key names the new channel. A message to
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
    target = _fallback_target(
        notification.recipient, used, urgent=notification.kind == Notification.Kind.PAGE
    )
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
