"""Writes for IT changes: create, edit, schedule, start, complete, cancel, delete, owners'
answers, and the reminders before the window; and releases, which owners (or their CI) and IT's
tools record once they happened.

Every service checks that the actor is IT staff (owners only answer changes), checks that the
transition is allowed in the current state, writes in one transaction, and writes the
notifications of what happened in that same transaction through the `notifications` contract
(`notices_send`) and the outgoing webhooks. When a service raises, nothing is written and
nothing is sent: the notification rows roll back with the event.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from registry.models import ITSystem, Project
from registry.permissions import can_edit_project
from registry.services import audited_change, save_validated
from steward.errors import Conflict
from steward.times import instant_problem, utc_stamp
from webhooks.services import webhooks_emit

from . import events, windows
from .conflicts import conflicts_for
from .events import Actor
from .models import (
    Change,
    ChangeReminder,
    ChangeResponse,
    ImpactedProject,
    Release,
    default_reminder_lead_minutes,
)
from .selectors import history_of
from .slots import overlaps_blocked

CHANGE_FIELDS = (
    "title",
    "description",
    "type",
    "planned_start_at",
    "planned_end_at",
    "risk",
    "rollback_plan",
    "reminder_lead_minutes",
    "conflict_justification",
)
# Editing these on a scheduled change moves its window: owners hear about it.
WINDOW_FIELDS = ("planned_start_at", "planned_end_at")
MAX_REMINDER_LEAD_MINUTES = 60 * 24 * 14
# A release is recorded once it happened; this much ahead is a sender's clock running fast.
RELEASE_CLOCK_SKEW = timedelta(minutes=10)


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


def _revision_suffix(change: Change) -> str:
    # The notification key is (event, topic, recipient, channel): a second move, or a reminder
    # after a move, needs a topic of its own or it would be taken for a duplicate.
    return f".r{change.revision}" if change.revision else ""


def _change_summary(change: Change, *, ahead: bool = True) -> str:
    """What every notice about the change says; `ahead` (not once it is over): that the owners'
    apps are in its maintenance window."""
    systems = ", ".join(s.name for s in change.systems.all())
    windowed = ITSystem.objects.filter(maintenance_windows__change=change).order_by("name")
    held = ", ".join(s.name for s in windowed) if ahead else ""
    lines = [
        f"{change.title} ({change.get_type_display()} change, {change.get_risk_display()} risk)",
        f"Window: {utc_stamp(change.planned_start_at)} – {utc_stamp(change.planned_end_at)}",
        f"Systems: {systems}",
        f"History: {history_of(change).hint}",
    ]
    if held:
        lines.append(
            f"Maintenance window: your app is in a maintenance window. Alerts from {held} "
            "are held during it (nobody is paged); whatever still fires when it ends pages as "
            "usual."
        )
    if change.conflicts_noted:
        lines += ["", "Scheduled through these conflicts:"]
        lines += [f"- {reason}" for reason in change.conflicts_noted]
        lines.append(f"Justification: {change.conflict_justification}")
    if change.description:
        lines += ["", change.description]
    if change.rollback_plan:
        lines += ["", f"Rollback plan: {change.rollback_plan}"]
    return "\n".join(lines)


def _respond_link(change: Change) -> str:
    return events.absolute(change.get_respond_url())


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
    maintenance_systems: Iterable[ITSystem] | None = None,
    conflict_justification: str = "",
    now: datetime | None = None,
) -> Change:
    """A draft change: nobody is told anything until it is scheduled. Its maintenance window
    covers its systems and `maintenance_systems` (systems that depend on them) for its planned
    window, once scheduled."""
    events.require_it_staff(actor)
    systems = events.systems_clean(systems)
    change = Change(
        title=title,
        description=description,
        type=type,
        planned_start_at=planned_start_at,
        planned_end_at=planned_end_at,
        risk=risk,
        rollback_plan=rollback_plan,
        conflict_justification=(conflict_justification or "").strip(),
        author=actor,
        reminder_lead_minutes=_clean_leads(
            default_reminder_lead_minutes()
            if reminder_lead_minutes is None
            else reminder_lead_minutes
        ),
    )
    events.full_clean(change)
    change.save()
    change.systems.set(systems)
    windows.maintenance_window_sync(change=change, extra=maintenance_systems or [], now=now)
    return change


@transaction.atomic
def change_update(
    *,
    actor: Actor,
    change: Change,
    systems: Iterable[ITSystem] | None = None,
    maintenance_systems: Iterable[ITSystem] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> Change:
    """Edit a draft or a scheduled change. When a scheduled change's window or systems move, the
    impact is computed again: newly touched and no-longer-touched owners hear about it, and the
    owners who stay touched are told it moved (topic ``change.moved``)."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    unknown = set(fields) - set(CHANGE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    events.lock(change)
    if change.state not in (Change.State.DRAFT, Change.State.SCHEDULED):
        raise events.refused("change", change.get_state_display(), "edited")
    old_window = (change.planned_start_at, change.planned_end_at)
    old_system_ids = set(change.systems.values_list("pk", flat=True))
    if "reminder_lead_minutes" in fields:
        fields["reminder_lead_minutes"] = _clean_leads(fields["reminder_lead_minutes"])
    if "conflict_justification" in fields:
        fields["conflict_justification"] = (fields["conflict_justification"] or "").strip()
    for name, value in fields.items():
        setattr(change, name, value)
    new_systems = events.systems_clean(systems) if systems is not None else None
    events.full_clean(change)
    window_moved = (change.planned_start_at, change.planned_end_at) != old_window
    systems_moved = new_systems is not None and {s.pk for s in new_systems} != old_system_ids
    leads_changed = "reminder_lead_minutes" in fields
    moved = change.state == Change.State.SCHEDULED and (window_moved or systems_moved)
    if moved:
        change.revision += 1
    change.save()
    if new_systems is not None:
        change.systems.set(new_systems)
    windows.maintenance_window_sync(change=change, extra=maintenance_systems, now=now)
    if change.state != Change.State.SCHEDULED:
        return change
    if moved:
        _conflicts_check(change, actor=actor)
    if window_moved or leads_changed:
        _plan_reminders(change, now=now)
    if moved:
        _notify_moved(change, old_window=old_window, now=now)
    return change


def _notify_moved(change: Change, *, old_window: tuple[datetime, datetime], now: datetime) -> None:
    before = set(events.snapshot_project_ids(change))
    events.impact_snapshot(change, change.systems.all())
    after = set(events.snapshot_project_ids(change))
    event = events.change_event(change)
    topic = f"change.moved{_revision_suffix(change)}"
    was = f"Was: {utc_stamp(old_window[0])} – {utc_stamp(old_window[1])}"
    summary = _change_summary(change)
    link = _respond_link(change)
    groups = (
        (after - before, "now affects your project", "It now affects your project."),
        (before - after, "no longer affects your project", "It no longer affects your project."),
        (before & after, "moved", "Its window or systems moved."),
    )
    webhooks_emit(
        event=event,
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
            events.owners_notify(
                event=event,
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


def _conflicts_check(change: Change, *, actor: Actor) -> None:
    """A change goes ahead through conflicts only with a written justification, which is
    audited with the conflicts and shown to the owners with them."""
    found = conflicts_for(
        system_ids=[s.pk for s in change.systems.all()],
        start_at=change.planned_start_at,
        end_at=change.planned_end_at,
        exclude_change_id=change.pk,
    )
    reasons = [c.reason for c in found]
    if reasons and not change.conflict_justification.strip():
        raise ValidationError(
            {
                "conflict_justification": f"This window has {len(reasons)} conflict(s); say why "
                "it goes ahead anyway. " + " ".join(reasons)
            }
        )
    if reasons:
        windows.justification_record(
            actor=actor,
            change=change,
            conflicts=reasons,
            justification=change.conflict_justification,
        )
    change.conflicts_noted = reasons
    change.save(update_fields=["conflicts_noted", "updated_at"])


@transaction.atomic
def change_schedule(
    *,
    actor: Actor,
    change: Change,
    conflict_justification: str | None = None,
    now: datetime | None = None,
) -> Change:
    """Draft → scheduled: check conflicts (a justification is needed to go through them),
    snapshot the touched projects, tell their owners and maintainers (topic
    ``change.scheduled``), and plan the reminders. From then its maintenance window holds."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    events.lock(change)
    if change.state != Change.State.DRAFT:
        raise events.refused("change", change.get_state_display(), "scheduled")
    systems = list(change.systems.all())
    events.systems_clean(systems)
    if conflict_justification is not None and conflict_justification.strip():
        change.conflict_justification = conflict_justification.strip()[:5000]
        change.save(update_fields=["conflict_justification", "updated_at"])
    _conflicts_check(change, actor=actor)
    change.state = Change.State.SCHEDULED
    change.scheduled_at = now
    change.save(update_fields=["state", "scheduled_at", "updated_at"])
    windows.maintenance_window_sync(change=change, now=now)
    impacted = events.impact_snapshot(change, systems)
    _plan_reminders(change, now=now)
    event = events.change_event(change)
    events.owners_notify(
        event=event,
        topic="change.scheduled",
        project_ids=[i.project_id for i in impacted],
        subject=f"IT change scheduled: {change.title}",
        body=f"{_change_summary(change)}\n\nAnswer “fine” or “concern” at the link.",
        link=_respond_link(change),
        now=now,
    )
    webhooks_emit(
        event=event,
        event_type="change.scheduled",
        project_ids=[i.project_id for i in impacted],
        now=now,
    )
    return change


@transaction.atomic
def change_start(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    events.require_it_staff(actor)
    events.lock(change)
    if change.state != Change.State.SCHEDULED:
        raise events.refused("change", change.get_state_display(), "started")
    change.state = Change.State.IN_PROGRESS
    change.started_at = now or timezone.now()
    change.save(update_fields=["state", "started_at", "updated_at"])
    webhooks_emit(
        event=events.change_event(change),
        event_type="change.started",
        project_ids=events.snapshot_project_ids(change),
        now=change.started_at,
    )
    return change


@transaction.atomic
def change_complete(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """In progress → completed; owners hear it is done (topic ``change.completed``)."""
    return _change_finish(actor=actor, change=change, now=now, rolled_back=False)


@transaction.atomic
def change_roll_back(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """In progress → completed by rolling back: the systems are as before, and the change counts
    as rolled back in the history of its systems. Owners hear it (topic ``change.rolled_back``)."""
    return _change_finish(actor=actor, change=change, now=now, rolled_back=True)


def _change_finish(
    *, actor: Actor, change: Change, now: datetime | None, rolled_back: bool
) -> Change:
    """The end of a change in progress, done or rolled back: either way it is completed and its
    maintenance window ends now, the owners are told and the webhooks fire."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    events.lock(change)
    if change.state != Change.State.IN_PROGRESS:
        verb = "rolled back" if rolled_back else "completed"
        raise events.refused("change", change.get_state_display(), verb)
    change.state = Change.State.COMPLETED
    change.completed_at = now
    fields = ["state", "completed_at", "updated_at"]
    if rolled_back:
        change.rolled_back_at = now
        fields.append("rolled_back_at")
    change.save(update_fields=fields)
    windows.maintenance_window_close(change=change, now=now)
    event = events.change_event(change)
    touched = events.snapshot_project_ids(change)
    if rolled_back:
        topic, subject = "change.rolled_back", f"IT change rolled back: {change.title}"
        body = (
            f"The change was rolled back: the systems are as before.\n\n{_change_summary(change)}"
        )
    else:
        topic, subject = "change.completed", f"IT change completed: {change.title}"
        body = f"The change is done.\n\n{_change_summary(change, ahead=False)}"
    events.owners_notify(
        event=event,
        topic=topic,
        project_ids=touched,
        subject=subject,
        body=body,
        link=events.absolute(change.get_absolute_url()),
        now=now,
    )
    webhooks_emit(event=event, event_type="change.completed", project_ids=touched, now=now)
    return change


@transaction.atomic
def change_book(
    *,
    actor: Actor,
    title: str,
    systems: Iterable[ITSystem],
    planned_start_at: datetime,
    duration: timedelta,
    now: datetime | None = None,
    **fields: Any,
) -> Change:
    """Book a slot the search suggested: a change at that start, created and scheduled at once
    (owners are told, as for any scheduled change). Refused (a conflict) when another change on
    the same systems took the window since the search."""
    events.require_it_staff(actor)
    systems = events.systems_clean(systems)
    try:
        end = planned_start_at + duration
    except OverflowError:
        end = None
    if end is None or instant_problem(end):
        raise ValidationError({"planned_start_at": "The change would end past what can be stored."})
    taken = overlaps_blocked([s.pk for s in systems], planned_start_at, end)
    if taken:
        raise Conflict(
            f"This slot is no longer free: another change runs {utc_stamp(taken[0][0])} – "
            f"{utc_stamp(taken[0][1])} on the same systems.",
            code="slot_taken",
        )
    change = change_create(
        actor=actor,
        title=title,
        planned_start_at=planned_start_at,
        planned_end_at=end,
        systems=systems,
        **fields,
    )
    return change_schedule(actor=actor, change=change, now=now)


@transaction.atomic
def change_cancel(*, actor: Actor, change: Change, now: datetime | None = None) -> Change:
    """Draft or scheduled → cancelled; owners who were told of it hear it is off."""
    events.require_it_staff(actor)
    now = now or timezone.now()
    events.lock(change)
    if change.state not in (Change.State.DRAFT, Change.State.SCHEDULED):
        raise events.refused("change", change.get_state_display(), "cancelled")
    was_scheduled = change.state == Change.State.SCHEDULED
    change.state = Change.State.CANCELLED
    change.cancelled_at = now
    change.save(update_fields=["state", "cancelled_at", "updated_at"])
    ChangeReminder.objects.filter(change=change, sent_at__isnull=True).delete()
    windows.maintenance_window_close(change=change, now=now)
    if was_scheduled:
        event = events.change_event(change)
        touched = events.snapshot_project_ids(change)
        events.owners_notify(
            event=event,
            topic="change.cancelled",
            project_ids=touched,
            subject=f"IT change cancelled: {change.title}",
            body=f"The change will not happen.\n\n{_change_summary(change, ahead=False)}",
            link=events.absolute(change.get_absolute_url()),
            now=now,
        )
        webhooks_emit(
            event=event,
            event_type="change.cancelled",
            project_ids=touched,
            now=now,
        )
    return change


@transaction.atomic
def change_delete(*, actor: Actor, change: Change) -> None:
    """Only a draft can be deleted: nobody has heard of it yet."""
    events.require_it_staff(actor)
    events.lock(change)
    if change.state != Change.State.DRAFT:
        raise events.refused("change", change.get_state_display(), "deleted")
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
        raise events.refused("change", change.get_state_display(), "answered")
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
            events.owners_notify(
                event=events.change_event(change),
                topic=f"change.reminder.{reminder.label}{_revision_suffix(change)}",
                project_ids=events.snapshot_project_ids(change),
                subject=f"Reminder: IT change in {reminder.label}: {change.title}",
                body=_change_summary(change),
                link=_respond_link(change),
                now=now,
            )
            sent += 1
        reminder.sent_at = now
        reminder.save(update_fields=["sent_at"])
    return sent


# --- releases ------------------------------------------------------------------------------------


def _release_save(release: Release, *, actor: Actor, now: datetime) -> Release:
    if release.happened_at > now + RELEASE_CLOCK_SKEW:
        raise ValidationError({"happened_at": "A release is recorded once it happened: not ahead."})
    release.summary = release.summary.strip()
    return audited_change(actor, release, lambda: save_validated(release))


def release_record(
    *,
    actor: Actor,
    project: Project,
    summary: str,
    url: str = "",
    happened_at: datetime | None = None,
    via: str = Release.Via.API,
    now: datetime | None = None,
) -> Release:
    """A project's editors (owners and maintainers) or an admin record a release of it, by
    default as having happened now. It is a suspect for the project's incidents after it."""
    if actor is None or not can_edit_project(actor, project):
        raise PermissionDenied("Only the project's owners and maintainers record its releases.")
    now = now or timezone.now()
    release = Release(
        project=project,
        summary=summary,
        url=url,
        happened_at=happened_at or now,
        recorded_by=actor,
        via=via,
    )
    return _release_save(release, actor=actor, now=now)


def release_record_by_key(
    *,
    of: Project | ITSystem,
    summary: str,
    url: str = "",
    source: str = "",
    details: dict | None = None,
    happened_at: datetime | None = None,
    now: datetime | None = None,
) -> Release:
    """A change event sent with the integration key of `of`: the key is the authority (whoever
    holds it speaks for the project or the IT system, as for alerts), so the caller must have
    found `of` by that key. A system's release is a suspect for every project depending on it."""
    now = now or timezone.now()
    release = Release(
        project=of if isinstance(of, Project) else None,
        system=of if isinstance(of, ITSystem) else None,
        summary=summary,
        url=url,
        source=source,
        details=details if details is not None else {},
        happened_at=happened_at or now,
        via=Release.Via.CHANGE_EVENT,
    )
    return _release_save(release, actor=None, now=now)
