"""Enqueueing after commit: a notification's Celery message goes out only once the transaction
that wrote its row has committed, batched per transaction; a broker that is down never fails the
caller (the sweeper is the safety net)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction

from ..models import Notification

log = logging.getLogger(__name__)


# Sends travel to a worker in batches, SEND_BATCH ids at most to a Celery message: one claim and
# one record per message instead of per row, which is most of a send's cost to a fast receiver.
# Each of the two statements costs PostgreSQL about 0.2 ms before its first row (its plan's
# tables and indexes opened and locked, its transaction), and the worker as much again; measured
# in one process, PostgreSQL's part of a message is 99 µs at 16 rows, 82 at 32 and 66 at 64 (the
# fan-out bench: delivery 0.64-0.69 of the bare task's rate at 16, about 0.70 at 32; at 64,
# 0.66-0.83, no clear gain: see the README). A batch claimed by a worker that dies waits for one
# lease (what went out of it is in the sent journal, and is not sent again); a slow receiver's
# wait is bounded by the lease too (see `sending`).
SEND_BATCH = 32


def send_batches(ids: Sequence[int]) -> list[list[int]]:
    """`ids` in the batches they are published in, in order: at most SEND_BATCH to a batch, and
    spread over at least STEWARD_SEND_SPREAD batches (while they hold a row each), so that the
    worker processes there are all take part: with 8, 100 pages are 8 messages of 13, not 4 of
    32 that four processes send one after the other while the others wait, a wait that is the
    pages' behind a slow receiver. Only a fan-out above SEND_BATCH × the spread (256) fills
    its batches."""
    ids = list(ids)
    size = min(SEND_BATCH, max(1, math.ceil(len(ids) / settings.STEWARD_SEND_SPREAD)))
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _publish(ids: Sequence[int], *, urgent: bool, countdown: float | None = None) -> None:
    """Publish the sends of these ids in batches (`send_batches`), or one per id when there is
    a countdown (a retry). A broker that is down must not fail the caller: the rows are
    committed and the sweeper will find them."""
    # Late: the tasks import these services.
    from .. import tasks

    ids = list(ids)
    if countdown is None and len(ids) > 1:
        task, queue = (tasks.send_pages, "pages") if urgent else (tasks.send_many, "default")
        chunks = send_batches(ids)
    else:
        task, queue = (tasks.send_page, "pages") if urgent else (tasks.send, "default")
        chunks = ids
    for chunk in chunks:
        try:
            task.apply_async(
                args=[chunk],
                queue=queue,
                countdown=countdown,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception:  # noqa: BLE001 — any broker error; the sweeper is the safety net
            log.warning("Could not enqueue notifications %s; the sweeper will.", chunk)
            return


# Above this many rows, the request publishes a few fan-out messages (chunks of ids) and a worker
# publishes the sends, so opening an outage on 5,000 projects does not publish 10,000 messages
# while the user waits.
FAN_OUT_ABOVE = 50
FAN_OUT_CHUNK = 500


def _publish_fan_out(ids: Sequence[int], *, urgent: bool) -> None:
    # Late: the tasks import these services.
    from .. import tasks

    for start in range(0, len(ids), FAN_OUT_CHUNK):
        chunk = list(ids[start : start + FAN_OUT_CHUNK])
        try:
            (tasks.fan_out_pages if urgent else tasks.fan_out).apply_async(
                args=[chunk],
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception:  # noqa: BLE001 — any broker error; the sweeper is the safety net
            log.warning("Could not enqueue %s notifications; the sweeper will.", len(ids))
            return


class _CommitBatch:
    """The ids to publish when the current transaction commits: one on_commit callback per
    transaction however many services add to it (incidents pages 5,000 projects one call at a
    time). A batch whose callback Django dropped (the savepoint that registered it rolled back)
    is not reused, so ids of rolled-back rows are never published."""

    def __init__(self) -> None:
        self.ids: dict[bool, list[int]] = {True: [], False: []}

    def flush(self) -> None:
        # Rows written in a savepoint that rolled back were added too: publish only what exists.
        committed = set(
            Notification.objects.filter(pk__in=self.ids[True] + self.ids[False]).values_list(
                "pk", flat=True
            )
        )
        for urgent, ids in self.ids.items():
            ids = [i for i in ids if i in committed]
            if len(ids) > FAN_OUT_ABOVE:
                _publish_fan_out(ids, urgent=urgent)
            elif ids:
                _publish(ids, urgent=urgent)


_batches = threading.local()


def _current_batch() -> _CommitBatch | None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    batch = getattr(_batches, "batch", None)
    if batch is None or not any(entry[1] == batch.flush for entry in connection.run_on_commit):
        batch = _CommitBatch()
        _batches.batch = batch
        transaction.on_commit(batch.flush)
    return batch


def _enqueue_on_commit(notifications: Iterable[Notification], countdown: float | None = None):
    notifications = list(notifications)
    for urgent in (True, False):
        ids = [n.pk for n in notifications if (n.kind == Notification.Kind.PAGE) == urgent]
        _enqueue_ids_on_commit(ids, urgent=urgent, countdown=countdown)


def enqueue_on_commit(notifications: Iterable[Notification]) -> None:
    """Publish these rows' sends when the current transaction commits (the sweeper is the
    safety net if that never happens)."""
    _enqueue_on_commit(notifications)


def _enqueue_ids_on_commit(ids: list[int], *, urgent: bool, countdown: float | None = None):
    if not ids:
        return
    batch = _current_batch() if countdown is None else None
    if batch is not None:
        batch.ids[urgent].extend(ids)
    else:
        transaction.on_commit(lambda: _publish(ids, urgent=urgent, countdown=countdown))
