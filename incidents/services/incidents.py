"""Writes for project incidents: open, post updates, resolve, edit, name the cause.

Who may write: the project's owners and maintainers, IT staff and admins (`actor=None` is
Steward itself: demo data, imports). Every write is one transaction that also records an audit
entry and writes the messages of what happened through the notifications contract: a message to
every status subscriber of the project (`subscribers_notify`) and a notice to its owners and
maintainers (`notices_send`), except to the person who wrote it. When a service raises, nothing is
written and nothing is sent.

Acknowledgement: an incident is acknowledged when a responder first says something after opening
it (the first posted update, or the resolution if nothing was said before). That moment is
`acknowledged_at`, the base of the "time to acknowledge" in the insights.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from changes.models import Change, Release
from notifications.events import Event
from notifications.services import notices_send
from registry.models import AuditEntry, Project, ProjectRole
from registry.permissions import EDITING_ROLES, can_edit_project, is_it_staff
from registry.services import audit_record, audit_snapshot
from steward.errors import Conflict
from steward.times import utc_stamp

from ..models import Incident, IncidentUpdate, Outage
from .subscriptions import subscribers_notify

Actor = AbstractBaseUser | AnonymousUser | None

MAX_MESSAGE = 10000
MAX_TITLE = 200
# An incident may be backdated (noticed late), but not by more than this, nor set in the future.
MAX_BACKDATE = timedelta(days=30)
OPEN_STATUSES = (
    Incident.Status.INVESTIGATING,
    Incident.Status.IDENTIFIED,
    Incident.Status.MONITORING,
)


def may_run_incidents(actor: Actor, project: Project) -> bool:
    """Owners and maintainers of the project, IT staff, admins."""
    if actor is None:
        return True
    return is_it_staff(actor) or can_edit_project(actor, project)


def _require(actor: Actor, project: Project) -> None:
    if not may_run_incidents(actor, project):
        raise PermissionDenied(
            "Only the project's owners and maintainers or IT staff run its incidents."
        )


def _user(actor: Actor) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def incident_url(incident: Incident) -> str:
    return f"{settings.SITE_URL}{reverse('incident_portal:incident-detail', args=[incident.pk])}"


def _clean_text(value: Any, *, field: str, required: bool, max_length: int, what: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise ValidationError({field: "Give text."})
    if required and not text:
        raise ValidationError({field: what})
    if len(text) > max_length:
        raise ValidationError({field: f"At most {max_length} characters (this has {len(text)})."})
    if "\x00" in text:
        raise ValidationError({field: "Text cannot contain NUL characters."})
    return text


def _clean_public_summary(value: Any) -> str:
    return _clean_text(value, field="public_summary", required=False, max_length=MAX_TITLE, what="")


def _clean_impact(impact: Any) -> str:
    if impact not in Incident.Impact.values:
        choices = ", ".join(Incident.Impact.values)
        raise ValidationError({"impact": f"Unknown impact “{impact}”; pick one of {choices}."})
    return impact


def _lock(incident: Incident) -> Incident:
    """Re-read the incident under a row lock so that two updates never race a resolution."""
    fresh = Incident.objects.select_for_update().get(pk=incident.pk)
    for field in ("status", "impact", "title", "public_summary", "acknowledged_at", "resolved_at"):
        setattr(incident, field, getattr(fresh, field))
    incident.cause_change_id = fresh.cause_change_id
    incident.cause_outage_id = fresh.cause_outage_id
    incident.cause_release_id = fresh.cause_release_id
    return incident


def _summary(incident: Incident, title: str) -> str:
    return (
        f"{incident.project.name}: {title}\n"
        f"Impact: {incident.get_impact_display()} · Status: {incident.get_status_display()}\n"
        f"Since: {utc_stamp(incident.started_at)}"
    )


def _tell(
    *, actor: Actor, incident: Incident, topic: str, what: str, message: str, now: datetime
) -> None:
    """Subscribers of the project and its owners and maintainers (not the writer) hear it:
    `what: title (project)`, the message, and a summary. Subscribers (anyone with an address
    while status pages are public) read the public wording, the team its own title."""
    link = incident_url(incident)

    def subject(title: str) -> str:
        return f"{what}: {title} ({incident.project.name})"

    def body(title: str) -> str:
        return f"{message}\n\n{_summary(incident, title)}"

    subscribers_notify(
        project_ids=[incident.project_id],
        event=incident,
        topic=topic,
        subject=subject(incident.public_title),
        body=body(incident.public_title),
        link=link,
        now=now,
    )
    writer = _user(actor)
    people = [
        role.person
        for role in ProjectRole.objects.filter(
            project_id=incident.project_id, role__in=EDITING_ROLES
        )
        .select_related("person")
        .order_by("order", "id")
        if writer is None or role.person.user_id != writer.pk
    ]
    if people:
        notices_send(
            event=Event(instance=incident),
            topic=topic,
            recipients=people,
            subject=subject(incident.title),
            body=body(incident.title),
            link=link,
            project=incident.project,
            now=now,
        )


def _audit(actor: Actor, incident: Incident, before: dict | None, action: str) -> None:
    audit_record(
        actor=_user(actor),
        action=action,
        instance=incident,
        before=before,
        after=audit_snapshot(incident),
    )


@transaction.atomic
def incident_open(
    *,
    actor: Actor,
    project: Project,
    title: str,
    impact: str = Incident.Impact.DEGRADED,
    message: str = "",
    public_summary: str = "",
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> Incident:
    """Open an incident (status investigating) with its first public update."""
    _require(actor, project)
    now = now or timezone.now()
    title = _clean_text(
        title, field="title", required=True, max_length=MAX_TITLE, what="Give the incident a title."
    )
    public_summary = _clean_public_summary(public_summary)
    impact = _clean_impact(impact)
    message = _clean_text(message, field="message", required=False, max_length=MAX_MESSAGE, what="")
    started_at = started_at or now
    if started_at > now + timedelta(minutes=5):
        raise ValidationError({"started_at": "An incident cannot start in the future."})
    if started_at < now - MAX_BACKDATE:
        raise ValidationError({"started_at": "An incident cannot start more than 30 days ago."})
    incident = Incident.objects.create(
        project=project,
        title=title,
        public_summary=public_summary,
        impact=impact,
        started_at=started_at,
        opened_by=_user(actor),
    )
    IncidentUpdate.objects.create(
        incident=incident,
        status=incident.status,
        message=message or "We are investigating.",
        author=_user(actor),
        created_at=now,
    )
    _audit(actor, incident, None, AuditEntry.Action.CREATE)
    _tell(
        actor=actor,
        incident=incident,
        topic="incident.opened",
        what="Incident",
        message=message or "We are investigating.",
        now=now,
    )
    return incident


@transaction.atomic
def incident_update_post(
    *,
    actor: Actor,
    incident: Incident,
    message: str,
    status: str | None = None,
    impact: str | None = None,
    now: datetime | None = None,
) -> IncidentUpdate:
    """A public, timestamped update, maybe with a new status or impact. Status ``resolved``
    resolves (see `incident_resolve`). A resolved incident takes no more updates (a Conflict)."""
    _require(actor, incident.project)
    now = now or timezone.now()
    message = _clean_text(
        message,
        field="message",
        required=True,
        max_length=MAX_MESSAGE,
        what="Say what is going on.",
    )
    if status is not None and status not in Incident.Status.values:
        choices = ", ".join(Incident.Status.values)
        raise ValidationError({"status": f"Unknown status “{status}”; pick one of {choices}."})
    if impact is not None:
        impact = _clean_impact(impact)
    _lock(incident)
    if incident.status == Incident.Status.RESOLVED:
        raise Conflict(
            "This incident is resolved: it takes no more updates. Open a new incident.",
            code="incident_resolved",
        )
    if status == Incident.Status.RESOLVED:
        incident_resolve(actor=actor, incident=incident, message=message, now=now)
        return incident.updates.order_by("-created_at", "-id").first()
    before = audit_snapshot(incident)
    incident.status = status or incident.status
    incident.impact = impact or incident.impact
    if incident.acknowledged_at is None:
        incident.acknowledged_at = max(now, incident.started_at)
    incident.save(update_fields=["status", "impact", "acknowledged_at", "updated_at"])
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=incident.status,
        message=message,
        author=_user(actor),
        created_at=now,
    )
    _audit(actor, incident, before, AuditEntry.Action.UPDATE)
    _tell(
        actor=actor,
        incident=incident,
        # One topic per update: the message key is (event, topic, recipient, channel).
        topic=f"incident.updated.{update.pk}",
        what=incident.get_status_display(),
        message=message,
        now=now,
    )
    return update


@transaction.atomic
def incident_resolve(
    *, actor: Actor, incident: Incident, message: str = "", now: datetime | None = None
) -> Incident:
    _require(actor, incident.project)
    now = now or timezone.now()
    message = _clean_text(message, field="message", required=False, max_length=MAX_MESSAGE, what="")
    _lock(incident)
    if incident.status == Incident.Status.RESOLVED:
        raise Conflict("This incident is already resolved.", code="incident_resolved")
    before = audit_snapshot(incident)
    incident.status = Incident.Status.RESOLVED
    incident.resolved_at = max(now, incident.started_at)
    if incident.acknowledged_at is None:
        incident.acknowledged_at = incident.resolved_at
    incident.save(update_fields=["status", "resolved_at", "acknowledged_at", "updated_at"])
    message = message or "Resolved."
    IncidentUpdate.objects.create(
        incident=incident,
        status=incident.status,
        message=message,
        author=_user(actor),
        created_at=now,
    )
    _audit(actor, incident, before, AuditEntry.Action.UPDATE)
    _tell(
        actor=actor,
        incident=incident,
        topic="incident.resolved",
        what="Resolved",
        message=message,
        now=now,
    )
    return incident


@transaction.atomic
def incident_edit(
    *,
    actor: Actor,
    incident: Incident,
    title: str | None = None,
    impact: str | None = None,
    public_summary: str | None = None,
) -> Incident:
    """Fix the title, the public summary or the impact. Nobody is messaged: say it in an update
    if it matters."""
    _require(actor, incident.project)
    if public_summary is not None:
        public_summary = _clean_public_summary(public_summary)
    if title is not None:
        title = _clean_text(
            title,
            field="title",
            required=True,
            max_length=MAX_TITLE,
            what="Give the incident a title.",
        )
    if impact is not None:
        impact = _clean_impact(impact)
    _lock(incident)
    before = audit_snapshot(incident)
    incident.title = title if title is not None else incident.title
    incident.impact = impact or incident.impact
    if public_summary is not None:
        incident.public_summary = public_summary
    incident.save(update_fields=["title", "public_summary", "impact", "updated_at"])
    _audit(actor, incident, before, AuditEntry.Action.UPDATE)
    return incident


@transaction.atomic
def incident_cause_set(
    *,
    actor: Actor,
    incident: Incident,
    change: Change | None = None,
    outage: Outage | None = None,
    release: Release | None = None,
) -> Incident:
    """Name an IT change, an IT outage or a release as the cause (at most one), or clear it with
    none. Allowed on a resolved incident too: causes are often found afterwards."""
    _require(actor, incident.project)
    if sum(event is not None for event in (change, outage, release)) > 1:
        raise ValidationError(
            {"cause": "Name one cause: an IT change, an IT outage or a release, not several."}
        )
    if release is not None and release.project_id not in (None, incident.project_id):
        raise ValidationError({"release": "This is a release of another project."})
    if release is not None and release.happened_at > incident.started_at + timedelta(hours=1):
        raise ValidationError({"release": "This release happened after the incident began."})
    if change is not None and change.state in (Change.State.DRAFT, Change.State.CANCELLED):
        raise ValidationError(
            {"change": f"A {change.get_state_display().lower()} change did not happen."}
        )
    if outage is not None and outage.started_at > incident.started_at + timedelta(hours=1):
        raise ValidationError({"outage": "This outage began after the incident did."})
    _lock(incident)
    before = audit_snapshot(incident)
    incident.cause_change = change
    incident.cause_outage = outage
    incident.cause_release = release
    incident.save(update_fields=["cause_change", "cause_outage", "cause_release", "updated_at"])
    _audit(actor, incident, before, AuditEntry.Action.UPDATE)
    return incident
