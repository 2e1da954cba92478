"""Writes for IT outages: open (paging every touched project at once), post updates, resolve.

Every service checks that the actor is IT staff, checks that the transition is allowed in the
current state, writes in one transaction, and writes the notifications of what happened in that
same transaction through the `notifications` contract (`pages_open_many`, `notices_send`,
`pages_stop`), to the status subscribers and to the outgoing webhooks. When a service raises,
nothing is written and nothing is sent: the notification rows roll back with the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from changes import events
from changes.events import Actor
from changes.models import Change
from notifications import services as delivery
from notifications.events import Event
from notifications.models import Notification, Page
from registry.models import ITSystem, Project
from steward.errors import Conflict
from steward.times import utc_stamp
from webhooks.models import WebhookEndpoint
from webhooks.services import iso, webhooks_emit

from ..events import outage_event
from ..models import Outage, OutageUpdate
from .subscriptions import subscribers_notify


def _outage_summary(outage: Outage) -> str:
    systems = ", ".join(s.name for s in outage.systems.all())
    lines = [
        f"{outage.title} ({outage.get_severity_display()}, {outage.get_status_display()})",
        f"Since: {utc_stamp(outage.started_at)}",
        f"Systems: {systems}",
    ]
    if outage.description:
        lines += ["", outage.description]
    return "\n".join(lines)


def _public_outage_summary(outage: Outage) -> str:
    """What subscribers read (anyone with an address while status pages are public): the public
    wording, never IT's title, systems or description."""
    return (
        f"{outage.public_title} ({outage.get_status_display()})\n"
        f"Since: {utc_stamp(outage.started_at)}"
    )


@transaction.atomic
def outage_open(
    *,
    actor: Actor,
    title: str,
    systems: Iterable[ITSystem],
    severity: str = Outage.Severity.SEV2,
    description: str = "",
    public_summary: str = "",
    started_at: datetime | None = None,
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> Outage:
    """Open an outage and page every touched project's responders at once, in this transaction."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    systems = events.systems_clean(systems)
    started_at = started_at or now
    if started_at > now + timedelta(minutes=5):
        raise ValidationError({"started_at": "An outage cannot start in the future."})
    outage = Outage(
        title=title,
        public_summary=(public_summary or "").strip(),
        description=description,
        severity=severity,
        started_at=started_at,
        opened_by=actor,
        dedup_key=dedup_key or None,
    )
    events.full_clean(outage, exclude=["opened_by"])
    try:
        with transaction.atomic():
            outage.save()
    except IntegrityError as exc:
        raise Conflict(
            "An open outage already has this dedup key.", code="duplicate_outage"
        ) from exc
    outage.systems.set(systems)
    OutageUpdate.objects.create(
        outage=outage,
        status=outage.status,
        message=description or "Outage opened.",
        author=actor,
        created_at=now,
    )
    impacted = events.impact_snapshot(outage, systems)
    event = outage_event(outage)
    link = events.absolute(outage.get_absolute_url())
    summary = _outage_summary(outage)
    projects = {p.pk: p for p in Project.objects.filter(pk__any=[i.project_id for i in impacted])}
    # Every touched project in one batch: a fixed number of statements however many there are.
    delivery.pages_open_many(
        event=event,
        requests=[
            delivery.PageRequest(
                projects[impact.project_id],
                f"[{outage.get_severity_display()}] {outage.title} affects "
                f"{projects[impact.project_id].name}",
                f"{summary}\n\nPath: "
                f"{' → '.join((projects[impact.project_id].name, *impact.path))}",
            )
            for impact in impacted
        ],
        link=link,
        # What a message listing several of someone's projects calls the outage.
        headline=f"[{outage.get_severity_display()}] {outage.title}",
        now=now,
    )
    subscribers_notify(
        event=outage,
        topic="outage.opened",
        project_ids=[i.project_id for i in impacted],
        subject=f"Outage: {outage.public_title}",
        body=_public_outage_summary(outage),
        link=link,
        now=now,
    )
    webhooks_emit(
        event=event,
        event_type="outage.opened",
        project_ids=[i.project_id for i in impacted],
        now=now,
    )
    return outage


@transaction.atomic
def outage_update(
    *,
    actor: Actor,
    outage: Outage,
    message: str,
    status: str | None = None,
    public_summary: str | None = None,
    now: datetime | None = None,
) -> OutageUpdate:
    """A timestamped update, maybe with a new status or public summary (None keeps it); owners
    get a notice, not a page. Status ``resolved`` resolves the outage (see `outage_resolve`)."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": "Say what is going on."})
    events.lock(outage)
    if outage.status == Outage.Status.RESOLVED:
        raise events.refused("outage", "resolved", "updated")
    status = status or outage.status
    if status not in Outage.Status.values:
        raise ValidationError({"status": f"Unknown status “{status}”."})
    if public_summary is not None:
        outage.public_summary = public_summary.strip()
        events.full_clean(outage, exclude=["opened_by"])
        outage.save(update_fields=["public_summary", "updated_at"])
    if status == Outage.Status.RESOLVED:
        return outage_resolve(actor=actor, outage=outage, message=message, now=now).updates.last()
    outage.status = status
    outage.save(update_fields=["status", "updated_at"])
    update = OutageUpdate.objects.create(
        outage=outage, status=status, message=message, author=actor, created_at=now
    )
    event = outage_event(outage)
    touched = events.snapshot_project_ids(outage)
    _owners_and_subscribers_notify(
        event=event,
        # One topic per update: the notice key is (event, topic, recipient, channel).
        topic=f"outage.updated.{update.pk}",
        project_ids=touched,
        what=f"Outage update ({outage.get_status_display()})",
        message=message,
        now=now,
    )
    webhooks_emit(
        event=event,
        event_type="outage.updated",
        topic=f"outage.updated.{update.pk}",
        project_ids=touched,
        extra={"update": {"status": status, "message": message}},
        now=now,
    )
    return update


def _owners_and_subscribers_notify(
    *,
    event: Event,
    topic: str,
    project_ids: list[int],
    what: str,
    message: str,
    now: datetime,
) -> None:
    """The same update about an outage to the touched projects' owners and to their followers:
    owners read IT's title and summary, followers the public wording (`what: title`)."""
    outage = event.instance
    fields = {
        "topic": topic,
        "project_ids": project_ids,
        "link": events.absolute(outage.get_absolute_url()),
        "now": now,
    }
    events.owners_notify(
        event=event,
        subject=f"{what}: {outage.title}",
        body=f"{message}\n\n{_outage_summary(outage)}",
        **fields,
    )
    subscribers_notify(
        event=outage,
        subject=f"{what}: {outage.public_title}",
        body=f"{message}\n\n{_public_outage_summary(outage)}",
        **fields,
    )


@transaction.atomic
def outage_resolve(
    *, actor: Actor, outage: Outage, message: str = "", now: datetime | None = None
) -> Outage:
    """Resolved: stop every page's escalation and tell the owners."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    events.lock(outage)
    if outage.status == Outage.Status.RESOLVED:
        raise events.refused("outage", "resolved", "resolved")
    outage.status = Outage.Status.RESOLVED
    outage.resolved_at = max(now, outage.started_at)
    outage.save(update_fields=["status", "resolved_at", "updated_at"])
    message = (message or "").strip() or "Resolved."
    OutageUpdate.objects.create(
        outage=outage, status=outage.status, message=message, author=actor, created_at=now
    )
    event = outage_event(outage)
    delivery.pages_stop(event=event, reason="resolved", now=now)
    touched = events.snapshot_project_ids(outage)
    _owners_and_subscribers_notify(
        event=event,
        topic="outage.resolved",
        project_ids=touched,
        what="Resolved",
        message=message,
        now=now,
    )
    webhooks_emit(
        event=event,
        event_type="outage.resolved",
        project_ids=touched,
        extra={"update": {"status": outage.status, "message": message}},
        now=now,
    )
    return outage


def outage_page_acknowledged(*, page: Page, now: datetime | None = None) -> list[Notification]:
    """`outage.acknowledged` when a project's page for an outage is acknowledged (the pipeline
    calls it, named in settings.STEWARD_PAGE_ACKNOWLEDGED, in the acknowledgement's transaction):
    to that project's endpoints, and to the outage's systems' endpoints on the first
    acknowledgement (their key is per outage, so later ones write nothing). A page for anything
    else (a portal report) sends nothing."""
    outage = page.event
    if not isinstance(outage, Outage):
        return []
    event = outage_event(outage)
    extra = {
        "acknowledgement": {
            "project": page.project.slug,
            "by": page.acknowledged_by.display_name if page.acknowledged_by else None,
            "via": page.acknowledged_via,
            "at": iso(page.acknowledged_at),
        }
    }
    written = webhooks_emit(
        event=event,
        event_type=WebhookEndpoint.Event.OUTAGE_ACKNOWLEDGED,
        project_ids=[page.project_id],
        topic=f"outage.acknowledged.p{page.project_id}",
        extra=extra,
        systems=False,
        now=now,
    )
    return written + webhooks_emit(
        event=event,
        event_type=WebhookEndpoint.Event.OUTAGE_ACKNOWLEDGED,
        extra=extra,
        now=now,
    )


@transaction.atomic
def outage_cause_set(*, actor: Actor, outage: Outage, change: Change | None) -> Outage:
    """Name the IT change that caused the outage, or clear it with None (IT staff; open or
    resolved: causes are often found afterwards). The change's systems' history counts it."""
    events.require_it_staff(actor)
    if change is not None and change.state in (Change.State.DRAFT, Change.State.CANCELLED):
        raise ValidationError(
            {"change": f"A {change.get_state_display().lower()} change did not happen."}
        )
    if (
        change is not None
        and change.started_at is None
        and change.planned_start_at > outage.started_at
    ):
        raise ValidationError({"change": "This change began after the outage did."})
    events.lock(outage)
    outage.cause_change = change
    outage.save(update_fields=["cause_change", "updated_at"])
    return outage
