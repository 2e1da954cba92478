"""Planned IT maintenance, told to the status subscribers ahead of time.

A scheduled IT change is announced to the subscribers of every project it touches once its start
is less than `STEWARD_MAINTENANCE_NOTICE_HOURS` (default 72) away, in public wording only (the
window, never the change's title or systems: see `PLANNED_CHANGE_SUMMARY`), to the subscriptions
that take maintenance notices. A `MaintenanceNotice` row per change and revision records that it
was told, so a moved window (a new revision) is told again and the same one never twice.

A change cancelled after its window was announced, and before that window's end, is told as
cancelled to the same subscriptions, once: the app they follow is no longer expected to be
affected then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from changes.models import Change, ImpactedProject
from steward.times import utc_stamp

from ..models import PLANNED_CHANGE_SUMMARY, MaintenanceNotice
from .subscriptions import subscribers_notify


def notice_lead() -> timedelta:
    return timedelta(hours=int(getattr(settings, "STEWARD_MAINTENANCE_NOTICE_HOURS", 72)))


def maintenance_body(change: Change) -> str:
    return (
        f"{PLANNED_CHANGE_SUMMARY} is scheduled from {utc_stamp(change.planned_start_at)} to "
        f"{utc_stamp(change.planned_end_at)}. The app may be slow or unavailable in that time; "
        "its status page shows it too."
    )


@transaction.atomic
def maintenance_notices_send_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Tell the subscribers of the changes that start within the lead and whose current window
    was not told yet. Changes are claimed with SKIP LOCKED and marked in the transaction that
    writes the messages, so two beats never tell one twice. Returns how many changes were told."""
    now = now or timezone.now()
    told = MaintenanceNotice.objects.filter(change=OuterRef("pk"), revision=OuterRef("revision"))
    due = list(
        Change.objects.select_for_update(skip_locked=True)
        .filter(
            state=Change.State.SCHEDULED,
            planned_start_at__gt=now,
            planned_start_at__lte=now + notice_lead(),
        )
        .exclude(Exists(told))
        .order_by("planned_start_at", "id")[:limit]
    )
    for change in due:
        _tell(
            change,
            topic=f"maintenance.planned.r{change.revision}",
            subject=f"{PLANNED_CHANGE_SUMMARY}: {utc_stamp(change.planned_start_at)}",
            body=maintenance_body(change),
            now=now,
        )
        MaintenanceNotice.objects.create(change=change, revision=change.revision, sent_at=now)
    return len(due)


def _tell(change: Change, *, topic: str, subject: str, body: str, now: datetime) -> None:
    """A message to the subscriptions that take maintenance notices of the projects the change
    touches, in the caller's transaction."""
    subscribers_notify(
        project_ids=list(
            ImpactedProject.objects.filter(change=change).values_list("project_id", flat=True)
        ),
        event=change,
        topic=topic,
        subject=subject,
        body=body,
        link=f"{settings.SITE_URL}/status/",
        now=now,
        maintenance=True,
    )


def cancellation_body(change: Change) -> str:
    return (
        f"The {PLANNED_CHANGE_SUMMARY.lower()} announced from {utc_stamp(change.planned_start_at)} "
        f"to {utc_stamp(change.planned_end_at)} is cancelled: it will not happen then. Should a "
        "new window be planned, you will be told of it ahead of time as before."
    )


@transaction.atomic
def maintenance_cancellations_send_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Tell the subscribers who heard of a window that it is off: changes cancelled after their
    maintenance was announced and before its planned end. Claimed with SKIP LOCKED and marked
    (`MaintenanceNotice.cancellation_sent_at`) in the transaction that writes the messages, so
    each is told once. Returns how many changes were told."""
    now = now or timezone.now()
    notices = MaintenanceNotice.objects.filter(change=OuterRef("pk"))
    due = list(
        Change.objects.select_for_update(skip_locked=True)
        .filter(state=Change.State.CANCELLED, planned_end_at__gt=now)
        .filter(Exists(notices))
        .exclude(Exists(notices.filter(cancellation_sent_at__isnull=False)))
        .order_by("planned_start_at", "id")[:limit]
    )
    for change in due:
        _tell(
            change,
            topic="maintenance.cancelled",
            subject=f"{PLANNED_CHANGE_SUMMARY} cancelled: {utc_stamp(change.planned_start_at)}",
            body=cancellation_body(change),
            now=now,
        )
        MaintenanceNotice.objects.filter(change=change).update(cancellation_sent_at=now)
    return len(due)
