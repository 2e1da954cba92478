"""Writes for problem reports: "this is not working" from end users.

A report either attaches to something open that already explains it (an open incident on the
project, else an unresolved IT outage whose snapshot touches the project) as a "me too", or goes
into the project's one open `ReportGroup`. The group tells the on-call ONCE with a notice (first
report) and pages ONCE through the pipeline when the people reporting within a sliding window
reach the threshold (distinct reporters, so one person cannot page anyone); nobody is ever paged
per report.

Rate limits are counted in PostgreSQL over the `ProblemReport` rows themselves (indexes on
reporter and reporter_address): the rows are the record of what was accepted, so there is no
second store to drift out of step, a refused report writes nothing at all, and a transaction-level
advisory lock per reporter and per address makes the count exact when one person fires many
requests at once (see `rate_limit_check`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from incidents.models import Incident, Outage
from incidents.services.incidents import incident_open
from notifications import services as delivery
from notifications.events import Event
from oncall.selectors import support_for
from registry.models import ITSystem, Person, Project
from registry.permissions import can_edit_project, is_it_staff
from steward.errors import Conflict

from ..models import ProblemReport, ReportGroup

Actor = AbstractBaseUser | AnonymousUser

MAX_DESCRIPTION = 2000
MAX_CONTACT = 254
# Keys of the advisory locks (the first int of pg_advisory_xact_lock(int, int)).
_LOCK_PERSON = 0x5E7A01
_LOCK_ADDRESS = 0x5E7A02


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def page_threshold() -> int:
    return _setting("STEWARD_REPORT_PAGE_THRESHOLD", 3)


def page_window() -> timedelta:
    return timedelta(minutes=_setting("STEWARD_REPORT_PAGE_WINDOW_MINUTES", 10))


def quiet_after() -> timedelta:
    return timedelta(minutes=_setting("STEWARD_REPORT_GROUP_QUIET_MINUTES", 120))


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: timedelta
    per_project: bool


def rate_limits() -> list[RateLimit]:
    return [
        RateLimit(
            _setting("STEWARD_REPORT_RATE_PER_PROJECT", 5),
            timedelta(minutes=_setting("STEWARD_REPORT_RATE_PER_PROJECT_MINUTES", 10)),
            per_project=True,
        ),
        RateLimit(
            _setting("STEWARD_REPORT_RATE_OVERALL", 20),
            timedelta(minutes=_setting("STEWARD_REPORT_RATE_OVERALL_MINUTES", 60)),
            per_project=False,
        ),
    ]


class RateLimited(Exception):
    """Too many reports from this person or address: HTTP 429, nothing stored."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class ReportOutcome:
    report: ProblemReport
    # What the report attached to as a "me too", if anything.
    incident: Incident | None = None
    outage: Outage | None = None
    me_too_count: int = 0
    group: ReportGroup | None = None
    notified: bool = False
    paged: bool = False

    @property
    def is_me_too(self) -> bool:
        return self.incident is not None or self.outage is not None


# --- who hears ----------------------------------------------------------------------------------


def oncall_people(project: Project, *, at: datetime) -> list[Person]:
    """Who is on call for the project now; its owners and maintainers when no rotation has
    anyone; its backups when it has nobody else."""
    support = support_for(project, at=at)
    for supporters in (
        support.on_call_now,
        support.owners + support.maintainers,
        support.backups,
    ):
        if supporters:
            return list({s.person.pk: s.person for s in supporters}.values())
    return []


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _group_link(group: ReportGroup) -> str:
    return _absolute(f"/projects/{group.project.slug}/reports/")


# --- validation and rate limits -----------------------------------------------------------------


def report_clean(description: str, contact: str = "") -> tuple[str, str]:
    description = (description or "").strip()
    contact = (contact or "").strip()
    errors = {}
    if not description:
        errors["description"] = "Say what is not working."
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = (
            f"Keep it to {MAX_DESCRIPTION} characters (this has {len(description)})."
        )
    if len(contact) > MAX_CONTACT:
        errors["contact"] = f"Keep how to reach you to {MAX_CONTACT} characters."
    if errors:
        raise ValidationError(errors)
    return description, contact


def _advisory_lock(kind: int, value: str) -> None:
    with connection.cursor() as cursor:
        # crc32 fits the int4 second key once folded to signed.
        key = zlib.crc32(value.encode()) - 2**31
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [kind, key])


def rate_limit_check(
    *,
    user_id: int | None,
    address: str | None,
    reports: QuerySet,
    about: Project | ITSystem,
    now: datetime,
) -> None:
    """Refuse when this person, or this client address, already made `limit` of these `reports`
    within the window (per project: about this project or IT system, the reports' field of that
    name; overall: about anything). Runs inside the caller's transaction after taking an advisory
    lock per person and per address, so two concurrent requests from one reporter are counted one
    after the other."""
    if user_id is not None:
        _advisory_lock(_LOCK_PERSON, str(user_id))
    if address:
        _advisory_lock(_LOCK_ADDRESS, address)
    for rule in rate_limits():
        if rule.limit <= 0:  # 0 turns a limit off
            continue
        since = now - rule.window
        scope = reports.filter(created_at__gt=since)
        if rule.per_project:
            scope = scope.filter(**{"system" if isinstance(about, ITSystem) else "project": about})
        for field, value in (("reporter_id", user_id), ("reporter_address", address)):
            if value is None or value == "":
                continue
            recent = list(
                scope.filter(**{field: value})
                .order_by("-created_at")
                .values_list("created_at", flat=True)[: rule.limit]
            )
            if len(recent) >= rule.limit:
                # The oldest counted report leaves the window first.
                retry_after = max(1, int((recent[-1] + rule.window - now).total_seconds()) + 1)
                minutes = int(rule.window.total_seconds() // 60)
                where = f"on {about.name}" if rule.per_project else "in total"
                who = "you" if field == "reporter_id" else "your network address"
                raise RateLimited(
                    f"Too many reports: {who} already sent {rule.limit} {where} in the last "
                    f"{minutes} minutes. Nothing was stored. Try again in "
                    f"{_duration(retry_after)}.",
                    retry_after=retry_after,
                )


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


# --- submitting ---------------------------------------------------------------------------------


def _explanation(project: Project) -> tuple[Incident | None, Outage | None]:
    """The open incident on the project (newest first), else the newest unresolved IT outage
    whose snapshot touches it."""
    incident = (
        Incident.objects.filter(project=project, resolved_at__isnull=True)
        .order_by("-started_at", "-id")
        .first()
    )
    if incident is not None:
        return incident, None
    outage = (
        Outage.objects.filter(resolved_at__isnull=True, impacted__project=project)
        .order_by("-started_at", "-id")
        .first()
    )
    return None, outage


def _open_group_locked(project: Project, *, now: datetime) -> ReportGroup:
    """The project's open report group, locked FOR UPDATE; a quiet one is closed first and a new
    one opened. Two first reports at once: the partial unique index lets one INSERT through; the
    other waits on it, gets IntegrityError, and locks the winner's row."""
    group = (
        ReportGroup.objects.select_for_update()
        .filter(project=project, closed_at__isnull=True)
        .first()
    )
    if group is not None and group.last_report_at <= now - quiet_after():
        group.closed_at = now
        group.save(update_fields=["closed_at"])
        group = None
    if group is not None:
        return group
    try:
        with transaction.atomic():
            return ReportGroup.objects.create(
                project=project, opened_at=now, last_report_at=now, report_count=0
            )
    except IntegrityError:
        return ReportGroup.objects.select_for_update().get(project=project, closed_at__isnull=True)


@transaction.atomic
def report_submit(
    *,
    actor: Actor,
    project: Project,
    description: str,
    contact: str = "",
    address: str | None = None,
    now: datetime | None = None,
) -> ReportOutcome:
    """Take a problem report from a signed-in person (`address` is the client's IP address).

    Refused with ValidationError (field dict) for bad text and RateLimited past a limit; either
    way nothing is written and nobody hears. Otherwise a "me too" on what is open, or a report in
    the project's open group: the group's first report sends the on-call a notice; the report that
    brings the distinct reporters within the window to the threshold pages them (once per
    group)."""
    if not actor.is_authenticated:
        raise PermissionDenied("Sign in to report a problem.")
    now = now or timezone.now()
    description, contact = report_clean(description, contact)
    rate_limit_check(
        user_id=actor.pk,
        address=address or None,
        reports=ProblemReport.objects.all(),
        about=project,
        now=now,
    )
    report = ProblemReport(
        project=project,
        description=description,
        contact=contact,
        reporter=actor,
        reporter_address=address or None,
        created_at=now,
    )
    incident, outage = _explanation(project)
    if incident is not None or outage is not None:
        report.incident, report.outage = incident, outage
        report.save()
        count = ProblemReport.objects.filter(
            **({"incident": incident} if incident else {"outage": outage})
        ).count()
        return ReportOutcome(report, incident=incident, outage=outage, me_too_count=count)

    group = _open_group_locked(project, now=now)
    report.group = group
    report.save()
    group.report_count += 1
    group.last_report_at = now
    notified = paged = False
    if group.notified_at is None:
        delivery.notices_send(
            event=Event(instance=group),
            topic="reports.first",
            recipients=oncall_people(project, at=now),
            subject=f"Problem report on {project.name}",
            body=f"Someone reports that {project.name} is not working:\n\n{description}",
            link=_group_link(group),
            project=project,
            now=now,
        )
        group.notified_at = now
        notified = True
    if group.paged_at is None:
        # Distinct people: one person reporting five times is one voice, and pages nobody.
        in_window = (
            group.reports.filter(created_at__gt=now - page_window())
            .values("reporter_id")
            .distinct()
            .count()
        )
        if in_window >= page_threshold():
            minutes = int(page_window().total_seconds() // 60)
            delivery.pages_open(
                event=Event(instance=group),
                project=project,
                subject=f"{in_window} problem reports on {project.name} in {minutes} minutes",
                body=(
                    f"{in_window} people report that {project.name} is not working, and no "
                    f"incident or outage explains it. Latest:\n\n{description}"
                ),
                link=_group_link(group),
                now=now,
            )
            group.paged_at = now
            paged = True
    group.save(update_fields=["report_count", "last_report_at", "notified_at", "paged_at"])
    return ReportOutcome(report, group=group, notified=notified, paged=paged)


# --- owners act on a group ----------------------------------------------------------------------


def may_handle_reports(user: Actor, project: Project) -> bool:
    """Owners and maintainers of the project, IT staff and admins see and handle its reports."""
    return bool(user.is_authenticated and (is_it_staff(user) or can_edit_project(user, project)))


def _locked_open_group(group: ReportGroup) -> ReportGroup:
    locked = ReportGroup.objects.select_for_update().select_related("project").get(pk=group.pk)
    if locked.closed_at is not None:
        raise Conflict("These reports were already handled.", code="group_closed")
    return locked


@transaction.atomic
def report_group_dismiss(
    *, actor: Actor, group: ReportGroup, now: datetime | None = None
) -> ReportGroup:
    """Close the group without an incident (a false alarm); its page, if any, stops."""
    if not may_handle_reports(actor, group.project):
        raise PermissionDenied("Only the project's owners and IT staff handle its reports.")
    now = now or timezone.now()
    group = _locked_open_group(group)
    group.closed_at = now
    group.save(update_fields=["closed_at"])
    delivery.pages_stop(event=Event(instance=group), reason="dismissed", now=now)
    return group


@transaction.atomic
def report_group_escalate(
    *,
    actor: Actor,
    group: ReportGroup,
    title: str,
    impact: str = Incident.Impact.DEGRADED,
    now: datetime | None = None,
) -> Incident:
    """Turn the group into an incident (opened through the incident service, which tells the
    project's subscribers): the group closes, its reports become "me too"s of the incident and
    its page stops (the incident is now the thing being worked on)."""
    if not may_handle_reports(actor, group.project):
        raise PermissionDenied("Only the project's owners and IT staff handle its reports.")
    now = now or timezone.now()
    group = _locked_open_group(group)
    incident = incident_open(
        actor=actor,
        project=group.project,
        title=title,
        impact=impact,
        message=f"Opened from {group.report_count} problem report(s). We are investigating.",
        now=now,
    )
    group.closed_at = now
    group.incident = incident
    group.save(update_fields=["closed_at", "incident"])
    group.reports.update(incident=incident)
    delivery.pages_stop(event=Event(instance=group), reason="incident opened", now=now)
    return incident


def report_groups_close_quiet(*, now: datetime | None = None) -> int:
    """Close every open group with no report for the quiet period (periodic; also done lazily
    when the next report arrives). Returns how many closed."""
    now = now or timezone.now()
    return ReportGroup.objects.filter(
        closed_at__isnull=True, last_report_at__lte=now - quiet_after()
    ).update(closed_at=now)
