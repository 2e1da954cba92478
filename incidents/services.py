"""Writes for IT changes and outages.

Every service checks that the actor is IT staff (owners only answer changes), checks that the
transition is allowed in the current state, writes in one transaction, and writes the
notifications of what happened in that same transaction through the `notifications` contract
(`notices_send`, `pages_open`, `pages_stop`). When a service raises, nothing is written and
nothing is sent: the notification rows roll back with the event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from registry.errors import Conflict
from registry.models import ITSystem, Person, Project, ProjectRole
from registry.permissions import EDITING_ROLES, is_it_staff
from registry.selectors import impacted_projects_for

from .models import (
    Change,
    ChangeReminder,
    ChangeResponse,
    ImpactedProject,
    Outage,
    OutageUpdate,
    default_reminder_lead_minutes,
)

Actor = AbstractBaseUser | AnonymousUser | None

CHANGE_FIELDS = (
    "title",
    "description",
    "type",
    "planned_start_at",
    "planned_end_at",
    "risk",
    "rollback_plan",
    "reminder_lead_minutes",
)
# Editing these on a scheduled change moves its window: owners hear about it.
WINDOW_FIELDS = ("planned_start_at", "planned_end_at")
MAX_REMINDER_LEAD_MINUTES = 60 * 24 * 14


def _delivery():
    """The notifications contract, imported late so that it never imports incidents back."""
    from notifications import services

    return services


# --- helpers ----------------------------------------------------------------------------------


def _subscribers_notify(**kwargs: Any) -> None:
    """Status subscribers of the touched projects hear too (imported late, like `_delivery`)."""
    from .subscription_services import subscribers_notify

    subscribers_notify(**kwargs)


def _webhooks_emit(**kwargs: Any) -> None:
    """The outgoing webhooks of the touched projects and of the event's systems (imported late,
    like `_delivery`)."""
    from webhooks.services import webhooks_emit

    webhooks_emit(**kwargs)


def _require_it_staff(actor: Actor) -> None:
    """`actor=None` is Steward itself (inbound alerts, demo data): allowed."""
    if actor is not None and not is_it_staff(actor):
        raise PermissionDenied("Only IT staff register changes and outages.")


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


def _refuse(noun: str, state_label: str, verb: str) -> Conflict:
    label = state_label.lower()
    return Conflict(f"{_article(label)} {label} {noun} cannot be {verb}.", code="bad_transition")


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _local(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _clean_systems(systems: Iterable[ITSystem] | None) -> list[ITSystem]:
    systems = list(systems or [])
    if not systems:
        raise ValidationError({"systems": "Pick at least one affected IT system."})
    return systems


def _clean_leads(leads: Any) -> list[int]:
    if not isinstance(leads, list | tuple) or not all(
        isinstance(m, int) and not isinstance(m, bool) for m in leads
    ):
        raise ValidationError(
            {"reminder_lead_minutes": "Give a list of whole minutes before the start."}
        )
    if any(m <= 0 or m > MAX_REMINDER_LEAD_MINUTES for m in leads):
        raise ValidationError(
            {"reminder_lead_minutes": "Each reminder is between 1 minute and 14 days before."}
        )
    return sorted(set(leads), reverse=True)


def _full_clean(instance: Model, *, exclude: Sequence[str] = ()) -> None:
    """Model validation, with the window checked first so its message names the end field."""
    if isinstance(instance, Change):
        start, end = instance.planned_start_at, instance.planned_end_at
        if start is None:
            raise ValidationError({"planned_start_at": "Give the planned start."})
        if end is None:
            raise ValidationError({"planned_end_at": "Give the planned end."})
        if end <= start:
            raise ValidationError({"planned_end_at": "The change must end after it starts."})
    instance.full_clean(exclude=[*exclude, "systems"], validate_constraints=False)


def _notice_roles(project_ids: Iterable[int]) -> dict[int, list[Person]]:
    """Owners and maintainers of each project, by project id."""
    people: dict[int, list[Person]] = {}
    for role in (
        ProjectRole.objects.filter(project_id__in=list(project_ids), role__in=EDITING_ROLES)
        .select_related("person")
        .order_by("project_id", "order", "id")
    ):
        people.setdefault(role.project_id, []).append(role.person)
    return people


def _snapshot(event: Change | Outage, systems: Iterable[ITSystem]) -> list[ImpactedProject]:
    """Replace the event's snapshot of touched projects with the impact of `systems` now."""
    field = "change" if isinstance(event, Change) else "outage"
    ImpactedProject.objects.filter(**{field: event}).delete()
    rows = [
        ImpactedProject(
            **{field: event},
            project_id=impact.project_id,
            path=list(impact.path),
            all_hard=impact.all_hard,
            depth=impact.depth,
        )
        for impact in impacted_projects_for(systems)
    ]
    # One COPY rather than bulk_create: an outage on a root system touches thousands of projects.
    _delivery().rows_insert(ImpactedProject, rows)
    return rows


def _snapshot_project_ids(event: Change | Outage) -> list[int]:
    return list(event.impacted.order_by("project_id").values_list("project_id", flat=True))


def _send_notices(
    *,
    event: Change | Outage,
    topic: str,
    project_ids: Iterable[int],
    subject: str,
    body: str,
    link: str,
    now: datetime,
) -> int:
    """A notice to the owners and maintainers of each project; returns the rows written."""
    delivery = _delivery()
    project_ids = list(project_ids)
    projects = Project.objects.in_bulk(project_ids)
    written = 0
    for project_id, people in _notice_roles(project_ids).items():
        written += len(
            delivery.notices_send(
                event=event,
                topic=topic,
                recipients=people,
                subject=subject,
                body=body,
                link=link,
                project=projects[project_id],
                now=now,
            )
        )
    return written


def _revision_suffix(change: Change) -> str:
    # The notification key is (event, topic, recipient, channel): a second move, or a reminder
    # after a move, needs a topic of its own or it would be taken for a duplicate.
    return f".r{change.revision}" if change.revision else ""


# --- changes -----------------------------------------------------------------------------------


def _change_summary(change: Change) -> str:
    systems = ", ".join(s.name for s in change.systems.all())
    lines = [
        f"{change.title} ({change.get_type_display()} change, {change.get_risk_display()} risk)",
        f"Window: {_local(change.planned_start_at)} – {_local(change.planned_end_at)}",
        f"Systems: {systems}",
    ]
    if change.description:
        lines += ["", change.description]
    if change.rollback_plan:
        lines += ["", f"Rollback plan: {change.rollback_plan}"]
    return "\n".join(lines)


def _respond_link(change: Change) -> str:
    return _absolute(change.get_respond_url())


@transaction.atomic
def change_create(
    *,
    actor: Actor,
    title: str,
    planned_start_at: datetime,
    planned_end_at: datetime,
    systems: Iterable[ITSystem],
    description: str = "",
    type: str = Change.Type.NORMAL,
    risk: str = Change.Risk.LOW,
    rollback_plan: str = "",
    reminder_lead_minutes: list[int] | None = None,
) -> Change:
    """A draft change: nobody is told anything until it is scheduled."""
    _require_it_staff(actor)
    systems = _clean_systems(systems)
    change = Change(
        title=title,
        description=description,
        type=type,
        planned_start_at=planned_start_at,
        planned_end_at=planned_end_at,
        risk=risk,
        rollback_plan=rollback_plan,
        author=actor,
        reminder_lead_minutes=_clean_leads(
            default_reminder_lead_minutes()
            if reminder_lead_minutes is None
            else reminder_lead_minutes
        ),
    )
    _full_clean(change)
    change.save()
    change.systems.set(systems)
    return change


def _lock(instance: Change | Outage) -> Change | Outage:
    """Lock the row and read its current state: two concurrent transitions serialise here."""
    fresh = type(instance).objects.select_for_update().get(pk=instance.pk)
    for f in instance._meta.concrete_fields:
        setattr(instance, f.attname, getattr(fresh, f.attname))
    return instance


@transaction.atomic
def change_update(
    *,
    actor: Actor,
    change: Change,
    systems: Iterable[ITSystem] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> Change:
    """Edit a draft or a scheduled change. When a scheduled change's window or systems move, the
    impact is computed again: newly touched and no-longer-touched owners hear about it, and the
    owners who stay touched are told it moved (topic ``change.moved``)."""
    _require_it_staff(actor)
    now = now or timezone.now()
    unknown = set(fields) - set(CHANGE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    _lock(change)
    if change.state not in (Change.State.DRAFT, Change.State.SCHEDULED):
        raise _refuse("change", change.get_state_display(), "edited")
    old_window = (change.planned_start_at, change.planned_end_at)
    old_system_ids = set(change.systems.values_list("pk", flat=True))
    if "reminder_lead_minutes" in fields:
        fields["reminder_lead_minutes"] = _clean_leads(fields["reminder_lead_minutes"])
    for name, value in fields.items():
        setattr(change, name, value)
    new_systems = _clean_systems(systems) if systems is not None else None
    _full_clean(change)
    window_moved = (change.planned_start_at, change.planned_end_at) != old_window
    systems_moved = new_systems is not None and {s.pk for s in new_systems} != old_system_ids
    leads_changed = "reminder_lead_minutes" in fields
    moved = change.state == Change.State.SCHEDULED and (window_moved or systems_moved)
    if moved:
        change.revision += 1
    change.save()
    if new_systems is not None:
        change.systems.set(new_systems)
    if change.state != Change.State.SCHEDULED:
        return change
    if window_moved or leads_changed:
        _plan_reminders(change, now=now)
    if moved:
        _notify_moved(change, old_window=old_window, now=now)
    return change


def _notify_moved(change: Change, *, old_window: tuple[datetime, datetime], now: datetime) -> None:
    before = set(_snapshot_project_ids(change))
    _snapshot(change, change.systems.all())
    after = set(_snapshot_project_ids(change))
    topic = f"change.moved{_revision_suffix(change)}"
    was = f"Was: {_local(old_window[0])} – {_local(old_window[1])}"
    summary = _change_summary(change)
    link = _respond_link(change)
    groups = (
        (after - before, "now affects your project", "It now affects your project."),
        (before - after, "no longer affects your project", "It no longer affects your project."),
        (before & after, "moved", "Its window or systems moved."),
    )
    _webhooks_emit(
        event=change,
        event_type="change.moved",
        topic=f"change.moved.r{change.revision}",
        project_ids=sorted(before | after),
        extra={
            "previous_window": {
                "planned_start_at": old_window[0].isoformat(),
                "planned_end_at": old_window[1].isoformat(),
            }
        },
        now=now,
    )
    # A person on two projects that fall in different groups gets the first message only (the
    # notice key has no project): newly touched outranks no-longer-touched outranks moved.
    for project_ids, what, lead in groups:
        if project_ids:
            _send_notices(
                event=change,
                topic=topic,
                project_ids=sorted(project_ids),
                subject=f"IT change {what}: {change.title}",
                body=f"{lead}\n\n{summary}\n{was}",
                link=link,
                now=now,
            )


def _plan_reminders(change: Change, *, now: datetime) -> list[ChangeReminder]:
    """Reminder rows for the current window. Those already past are not made: the scheduling
    notice says it all. A moved window sends its reminders again, under a new topic."""
    ChangeReminder.objects.filter(change=change).delete()
    rows = [
        ChangeReminder(change=change, lead_minutes=lead, due_at=due_at)
        for lead in change.reminder_lead_minutes
        if (due_at := change.planned_start_at - timedelta(minutes=lead)) > now
    ]
    return ChangeReminder.objects.bulk_create(rows)


@transaction.atomic
def change_schedule(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """Draft → scheduled: snapshot the touched projects, tell their owners and maintainers
    (topic ``change.scheduled``), and plan the reminders."""
    _require_it_staff(actor)
    now = now or timezone.now()
    _lock(change)
    if change.state != Change.State.DRAFT:
        raise _refuse("change", change.get_state_display(), "scheduled")
    systems = list(change.systems.all())
    _clean_systems(systems)
    change.state = Change.State.SCHEDULED
    change.scheduled_at = now
    change.save(update_fields=["state", "scheduled_at", "updated_at"])
    impacted = _snapshot(change, systems)
    _plan_reminders(change, now=now)
    _send_notices(
        event=change,
        topic="change.scheduled",
        project_ids=[i.project_id for i in impacted],
        subject=f"IT change scheduled: {change.title}",
        body=f"{_change_summary(change)}\n\nAnswer “fine” or “concern” at the link.",
        link=_respond_link(change),
        now=now,
    )
    _webhooks_emit(
        event=change,
        event_type="change.scheduled",
        project_ids=[i.project_id for i in impacted],
        now=now,
    )
    return change


@transaction.atomic
def change_start(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    _require_it_staff(actor)
    _lock(change)
    if change.state != Change.State.SCHEDULED:
        raise _refuse("change", change.get_state_display(), "started")
    change.state = Change.State.IN_PROGRESS
    change.started_at = now or timezone.now()
    change.save(update_fields=["state", "started_at", "updated_at"])
    _webhooks_emit(
        event=change,
        event_type="change.started",
        project_ids=_snapshot_project_ids(change),
        now=change.started_at,
    )
    return change


@transaction.atomic
def change_complete(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """In progress → completed; owners hear it is done (topic ``change.completed``)."""
    _require_it_staff(actor)
    now = now or timezone.now()
    _lock(change)
    if change.state != Change.State.IN_PROGRESS:
        raise _refuse("change", change.get_state_display(), "completed")
    change.state = Change.State.COMPLETED
    change.completed_at = now
    change.save(update_fields=["state", "completed_at", "updated_at"])
    touched = _snapshot_project_ids(change)
    _send_notices(
        event=change,
        topic="change.completed",
        project_ids=touched,
        subject=f"IT change completed: {change.title}",
        body=f"The change is done.\n\n{_change_summary(change)}",
        link=_absolute(change.get_absolute_url()),
        now=now,
    )
    _webhooks_emit(
        event=change,
        event_type="change.completed",
        project_ids=touched,
        now=now,
    )
    return change


@transaction.atomic
def change_cancel(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """Draft or scheduled → cancelled; owners who were told of it hear it is off."""
    _require_it_staff(actor)
    now = now or timezone.now()
    _lock(change)
    if change.state not in (Change.State.DRAFT, Change.State.SCHEDULED):
        raise _refuse("change", change.get_state_display(), "cancelled")
    was_scheduled = change.state == Change.State.SCHEDULED
    change.state = Change.State.CANCELLED
    change.cancelled_at = now
    change.save(update_fields=["state", "cancelled_at", "updated_at"])
    ChangeReminder.objects.filter(change=change, sent_at__isnull=True).delete()
    if was_scheduled:
        touched = _snapshot_project_ids(change)
        _send_notices(
            event=change,
            topic="change.cancelled",
            project_ids=touched,
            subject=f"IT change cancelled: {change.title}",
            body=f"The change will not happen.\n\n{_change_summary(change)}",
            link=_absolute(change.get_absolute_url()),
            now=now,
        )
        _webhooks_emit(
            event=change,
            event_type="change.cancelled",
            project_ids=touched,
            now=now,
        )
    return change


@transaction.atomic
def change_delete(*, actor: Actor, change: Change) -> None:
    """Only a draft can be deleted: nobody has heard of it yet."""
    _require_it_staff(actor)
    _lock(change)
    if change.state != Change.State.DRAFT:
        raise _refuse("change", change.get_state_display(), "deleted")
    change.delete()


@transaction.atomic
def change_respond(
    *,
    actor: Actor,
    change: Change,
    answer: str,
    comment: str = "",
    project: Project | None = None,
) -> ChangeResponse:
    """A touched project's owner (any role on it) answers fine or concern; answering again
    updates the answer. Without `project`, the one touched project the person is on."""
    person = getattr(actor, "person", None) if actor is not None else None
    if person is None:
        raise PermissionDenied("Only people with a role on a touched project answer a change.")
    if change.state not in (Change.State.SCHEDULED, Change.State.IN_PROGRESS):
        raise _refuse("change", change.get_state_display(), "answered")
    if answer not in ChangeResponse.Answer.values:
        raise ValidationError({"answer": "Answer “fine” or “concern”."})
    comment = (comment or "").strip()
    if answer == ChangeResponse.Answer.CONCERN and not comment:
        raise ValidationError({"comment": "Say what the concern is."})
    touched = ImpactedProject.objects.filter(change=change, project__roles__person=person)
    if project is not None:
        touched = touched.filter(project=project)
    project_ids = list(touched.values_list("project_id", flat=True).distinct())
    if not project_ids:
        raise PermissionDenied("Only people with a role on a touched project answer a change.")
    if len(project_ids) > 1:
        raise ValidationError({"project": "You are on several touched projects: name one."})
    response, _ = ChangeResponse.objects.update_or_create(
        change=change,
        project_id=project_ids[0],
        person=person,
        defaults={"answer": answer, "comment": comment},
    )
    return response


@transaction.atomic
def change_reminders_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send the reminders that are due. Rows are claimed with SKIP LOCKED, so two beats or a
    retried task never send one twice; a reminder of a change that is no longer scheduled is
    marked sent without a word. Returns how many were sent."""
    now = now or timezone.now()
    due = list(
        ChangeReminder.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("change")
        .filter(sent_at__isnull=True, due_at__lte=now)
        .order_by("due_at", "id")[:limit]
    )
    sent = 0
    for reminder in due:
        change = reminder.change
        if change.state == Change.State.SCHEDULED:
            _send_notices(
                event=change,
                topic=f"change.reminder.{reminder.label}{_revision_suffix(change)}",
                project_ids=_snapshot_project_ids(change),
                subject=f"Reminder: IT change in {reminder.label}: {change.title}",
                body=_change_summary(change),
                link=_respond_link(change),
                now=now,
            )
            sent += 1
        reminder.sent_at = now
        reminder.save(update_fields=["sent_at"])
    return sent


# --- outages -----------------------------------------------------------------------------------


def _outage_summary(outage: Outage) -> str:
    systems = ", ".join(s.name for s in outage.systems.all())
    lines = [
        f"{outage.title} ({outage.get_severity_display()}, {outage.get_status_display()})",
        f"Since: {_local(outage.started_at)}",
        f"Systems: {systems}",
    ]
    if outage.description:
        lines += ["", outage.description]
    return "\n".join(lines)


@transaction.atomic
def outage_open(
    *,
    actor: Actor,
    title: str,
    systems: Iterable[ITSystem],
    severity: str = Outage.Severity.SEV2,
    description: str = "",
    started_at: datetime | None = None,
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> Outage:
    """Open an outage and page every touched project's responders at once, in this transaction."""
    _require_it_staff(actor)
    now = now or timezone.now()
    systems = _clean_systems(systems)
    started_at = started_at or now
    if started_at > now + timedelta(minutes=5):
        raise ValidationError({"started_at": "An outage cannot start in the future."})
    outage = Outage(
        title=title,
        description=description,
        severity=severity,
        started_at=started_at,
        opened_by=actor,
        dedup_key=dedup_key or None,
    )
    _full_clean(outage, exclude=["opened_by"])
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
    impacted = _snapshot(outage, systems)
    delivery = _delivery()
    link = _absolute(outage.get_absolute_url())
    summary = _outage_summary(outage)
    projects = Project.objects.in_bulk([i.project_id for i in impacted])
    # Every touched project in one batch: a fixed number of statements however many there are.
    delivery.pages_open_many(
        event=outage,
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
        now=now,
    )
    _subscribers_notify(
        event=outage,
        topic="outage.opened",
        project_ids=[i.project_id for i in impacted],
        subject=f"Outage: {outage.title}",
        body=summary,
        link=link,
        now=now,
    )
    _webhooks_emit(
        event=outage,
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
    now: datetime | None = None,
) -> OutageUpdate:
    """A timestamped update, maybe with a new status; owners get a notice, not a page.
    Status ``resolved`` resolves the outage (see `outage_resolve`)."""
    _require_it_staff(actor)
    now = now or timezone.now()
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": "Say what is going on."})
    _lock(outage)
    if outage.status == Outage.Status.RESOLVED:
        raise _refuse("outage", "resolved", "updated")
    status = status or outage.status
    if status not in Outage.Status.values:
        raise ValidationError({"status": f"Unknown status “{status}”."})
    if status == Outage.Status.RESOLVED:
        return outage_resolve(actor=actor, outage=outage, message=message, now=now).updates.last()
    outage.status = status
    outage.save(update_fields=["status", "updated_at"])
    update = OutageUpdate.objects.create(
        outage=outage, status=status, message=message, author=actor, created_at=now
    )
    touched = _snapshot_project_ids(outage)
    body = f"{message}\n\n{_outage_summary(outage)}"
    _send_notices(
        event=outage,
        # One topic per update: the notice key is (event, topic, recipient, channel).
        topic=f"outage.updated.{update.pk}",
        project_ids=touched,
        subject=f"Outage update ({outage.get_status_display()}): {outage.title}",
        body=body,
        link=_absolute(outage.get_absolute_url()),
        now=now,
    )
    _subscribers_notify(
        event=outage,
        topic=f"outage.updated.{update.pk}",
        project_ids=touched,
        subject=f"Outage update ({outage.get_status_display()}): {outage.title}",
        body=body,
        link=_absolute(outage.get_absolute_url()),
        now=now,
    )
    _webhooks_emit(
        event=outage,
        event_type="outage.updated",
        topic=f"outage.updated.{update.pk}",
        project_ids=touched,
        extra={"update": {"status": status, "message": message}},
        now=now,
    )
    return update


@transaction.atomic
def outage_resolve(
    *, actor: Actor, outage: Outage, message: str = "", now: datetime | None = None
) -> Outage:
    """Resolved: stop every page's escalation and tell the owners."""
    _require_it_staff(actor)
    now = now or timezone.now()
    _lock(outage)
    if outage.status == Outage.Status.RESOLVED:
        raise _refuse("outage", "resolved", "resolved")
    outage.status = Outage.Status.RESOLVED
    outage.resolved_at = max(now, outage.started_at)
    outage.save(update_fields=["status", "resolved_at", "updated_at"])
    message = (message or "").strip() or "Resolved."
    OutageUpdate.objects.create(
        outage=outage, status=outage.status, message=message, author=actor, created_at=now
    )
    delivery = _delivery()
    delivery.pages_stop(event=outage, reason="resolved", now=now)
    touched = _snapshot_project_ids(outage)
    body = f"{message}\n\n{_outage_summary(outage)}"
    _send_notices(
        event=outage,
        topic="outage.resolved",
        project_ids=touched,
        subject=f"Resolved: {outage.title}",
        body=body,
        link=_absolute(outage.get_absolute_url()),
        now=now,
    )
    _subscribers_notify(
        event=outage,
        topic="outage.resolved",
        project_ids=touched,
        subject=f"Resolved: {outage.title}",
        body=body,
        link=_absolute(outage.get_absolute_url()),
        now=now,
    )
    _webhooks_emit(
        event=outage,
        event_type="outage.resolved",
        project_ids=touched,
        extra={"update": {"status": outage.status, "message": message}},
        now=now,
    )
    return outage
