"""The sweeper: the periodic safety net that re-enqueues what a lost message or a dead worker left
behind, records what was sent while the database was away, advances escalation timers, releases
held notices as digests and tells IT when a delivery channel keeps failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Notification, Page
from .delivery_health import channel_alerts_send
from .enqueue import _enqueue_on_commit
from .notices import digests_release
from .pages import pages_escalate
from .sending import sent_journal_replay


@dataclass
class SweepResult:
    enqueued: int = 0
    escalated: int = 0
    digests: int = 0
    recorded: int = 0
    alerts: int = 0


def escalations_advance(*, now: datetime) -> int:
    """Open pages whose timer is due go to their next level, together: one message per person
    per event listing the pages that reach them now (`pages_escalate`). SKIP LOCKED: a page
    being acknowledged right now is left alone, and two sweepers never escalate one page twice."""
    with transaction.atomic():
        due = list(
            Page.objects.select_for_update(skip_locked=True)
            .filter(state=Page.State.OPEN, next_escalation_at__lte=now)
            .order_by("next_escalation_at")[: settings.STEWARD_SWEEP_BATCH]
        )
        return pages_escalate(pages=due, now=now)


def stale_enqueue(*, now: datetime) -> int:
    """Re-publish rows a lost message or a dead worker left: due pending rows with no message for
    a while, and sending rows whose lease expired."""
    stale = now - timedelta(seconds=settings.STEWARD_REENQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            # The queue (`Due`): rows on their way out that are due, a sending row included
            # (it was due when it was claimed).
            .filter(due__deliver_after__lte=now)
            .filter(
                Q(state=Notification.State.PENDING, enqueued_at__lte=stale)
                & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                | Q(state=Notification.State.SENDING, lease_expires_at__lt=now)
            )
            .only("id", "kind")
            .order_by("due__deliver_after", "id")[: settings.STEWARD_SWEEP_BATCH]
        )
        if rows:
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(enqueued_at=now)
            _enqueue_on_commit(rows)
    return len(rows)


def sweep(*, now: datetime | None = None) -> SweepResult:
    """The periodic safety net (beat, every 15 s)."""
    now = now or timezone.now()
    result = SweepResult()
    result.recorded = sent_journal_replay(now=now)
    result.digests = len(digests_release(now=now))
    result.escalated = escalations_advance(now=now)
    result.enqueued = stale_enqueue(now=now)
    result.alerts = len(channel_alerts_send(now=now))
    return result
