"""Writes for owners reaching IT: "this IT system is failing for my app".

An owner or maintainer of a project that depends on an IT system (directly or through other
systems) reports a problem with it, naming their project. The report joins what already explains
it: an open outage of the system ("me too", nobody paged: IT is on it), else the system's one open
`SystemProblem`. The first report of a problem pages the system's own on-call through the
delivery pipeline (its escalation policy, else on call → its IT contacts), with acknowledge
links; later reports join it and page nobody again. Owners never open or edit an outage: only IT
staff turn a problem into one (`system_problem_to_outage`) or dismiss it.

Bad text is a ValidationError naming the field and a reporter past the rate limits is refused
with `RateLimited`, counted like end users' reports (`reports.rate_limit_check`); either way
nothing is written and nobody is paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from incidents.models import Outage
from incidents.services.outages import outage_open
from notifications import services as delivery
from notifications.events import Event
from registry.models import AuditEntry, ITSystem, Project
from registry.permissions import can_edit_project, is_it_staff
from registry.selectors import impacted_projects_for
from registry.services import audit_record
from steward.errors import Conflict

from ..models import SystemProblem, SystemProblemReport
from .reports import Actor, quiet_after, rate_limit_check, report_clean


@dataclass(frozen=True)
class SystemReportOutcome:
    report: SystemProblemReport
    # The open outage of the system that the report joined ("me too"), if any.
    outage: Outage | None = None
    problem: SystemProblem | None = None
    # Reports on what it joined, this one included.
    count: int = 1
    paged: bool = False

    @property
    def is_me_too(self) -> bool:
        return self.count > 1 or self.outage is not None


def depends_on(project: Project, system: ITSystem) -> bool:
    """Whether the project depends on the system, directly or through other systems."""
    return any(i.project_id == project.pk for i in impacted_projects_for([system]))


def _system_link(system: ITSystem) -> str:
    path = reverse("registry:system_detail", args=[system.slug])
    return f"{settings.SITE_URL}{path}#it-problems"


def _open_problem_locked(system: ITSystem, *, now: datetime) -> tuple[SystemProblem, bool]:
    """The system's open problem, locked FOR UPDATE, and whether it is new. One gone quiet (no
    report for the quiet period) is closed first, so that a problem weeks later pages again. Two
    first reports at once: the partial unique index lets one INSERT through; the other waits on
    it, gets IntegrityError, and joins the winner's problem."""
    problem = (
        SystemProblem.objects.select_for_update()
        .filter(system=system, closed_at__isnull=True)
        .first()
    )
    if problem is not None and problem.last_report_at <= now - quiet_after():
        problem.closed_at = now
        problem.save(update_fields=["closed_at"])
        problem = None
    if problem is not None:
        return problem, False
    try:
        with transaction.atomic():
            return SystemProblem.objects.create(
                system=system, opened_at=now, last_report_at=now
            ), True
    except IntegrityError:
        locked = SystemProblem.objects.select_for_update().get(
            system=system, closed_at__isnull=True
        )
        return locked, False


def _page(problem: SystemProblem, report: SystemProblemReport, *, now: datetime) -> None:
    """Page the system's on-call about the first report of a problem, naming the app."""
    system, project = problem.system, report.project
    delivery.pages_open(
        event=Event(instance=problem, systems=(system,)),
        project=project,
        subject=f"{system.name} is failing for {project.name}",
        body=(
            f"An owner of {project.name} reports that the IT system {system.name} is failing "
            f"for their app:\n\n{report.description}"
        ),
        link=_system_link(system),
        escalation=delivery.escalation_for_system(system, now),
        now=now,
    )
    problem.paged_at = now


@transaction.atomic
def system_problem_report(
    *,
    actor: Actor,
    system: ITSystem,
    project: Project,
    description: str,
    address: str | None = None,
    now: datetime | None = None,
) -> SystemReportOutcome:
    """Take an owner's report that `system` is failing for `project` (`address`: the client's IP
    address). Only the project's owners and maintainers report for it (PermissionDenied), and
    only about a system it depends on (ValidationError on `project`)."""
    if not (actor.is_authenticated and can_edit_project(actor, project)):
        raise PermissionDenied(
            f"Only the owners and maintainers of {project.name} report problems for it."
        )
    now = now or timezone.now()
    description, _contact = report_clean(description)
    if not depends_on(project, system):
        raise ValidationError(
            {"project": f"{project.name} does not depend on {system.name}, even indirectly."}
        )
    rate_limit_check(
        user_id=actor.pk,
        address=address or None,
        reports=SystemProblemReport.objects.all(),
        about=system,
        now=now,
    )
    report = SystemProblemReport(
        system=system,
        project=project,
        description=description,
        reporter=actor,
        reporter_address=address or None,
        created_at=now,
    )
    outage = (
        Outage.objects.filter(resolved_at__isnull=True, systems=system)
        .order_by("-started_at", "-id")
        .first()
    )
    if outage is not None:
        report.outage = outage
        report.save()
        count = outage.system_reports.count()
        return SystemReportOutcome(report, outage=outage, count=count)
    problem, is_new = _open_problem_locked(system, now=now)
    report.problem = problem
    report.save()
    problem.last_report_at = now
    if is_new:
        _page(problem, report, now=now)
    problem.save(update_fields=["last_report_at", "paged_at"])
    return SystemReportOutcome(report, problem=problem, count=problem.reports.count(), paged=is_new)


# --- IT acts on a problem -------------------------------------------------------------------------


def require_it_staff(actor: Actor) -> None:
    """Only IT staff handle owners' reports: open an outage from them, or dismiss them."""
    if not is_it_staff(actor):
        raise PermissionDenied("Only IT staff handle problems reported with IT systems.")


def _locked_open(actor: Actor, problem: SystemProblem) -> SystemProblem:
    require_it_staff(actor)
    locked = SystemProblem.objects.select_for_update().select_related("system").get(pk=problem.pk)
    if locked.closed_at is not None:
        raise Conflict("This problem was already handled.", code="problem_closed")
    return locked


def _close(actor: Actor, problem: SystemProblem, *, reason: str, now: datetime) -> None:
    before = {"closed_at": None, "outage": None}
    problem.closed_at, problem.closed_by = now, actor
    problem.save(update_fields=["closed_at", "closed_by", "outage"])
    delivery.pages_stop(event=Event(instance=problem), reason=reason, now=now)
    audit_record(
        actor=actor,
        action=AuditEntry.Action.UPDATE,
        instance=problem,
        before=before,
        after={"closed_at": now.isoformat(), "outage": problem.outage_id},
    )


@transaction.atomic
def system_problem_to_outage(
    *,
    actor: Actor,
    problem: SystemProblem,
    title: str,
    severity: str = Outage.Severity.SEV2,
    now: datetime | None = None,
) -> Outage:
    """IT turns the owners' reports into an outage of the system, in one action: the outage is
    opened through the outage service (which pages every touched project and tells subscribers),
    the problem closes linked to it, its reports become the outage's, and its page stops."""
    now = now or timezone.now()
    problem = _locked_open(actor, problem)
    apps = sorted({r.project.name for r in problem.reports.select_related("project")})
    outage = outage_open(
        actor=actor,
        title=title,
        systems=[problem.system],
        severity=severity,
        description=f"Opened from owners' reports: {problem.system.name} fails for "
        f"{', '.join(apps)}.",
        now=now,
    )
    problem.outage = outage
    problem.reports.update(outage=outage)
    _close(actor, problem, reason="outage opened", now=now)
    return outage


@transaction.atomic
def system_problem_dismiss(
    *, actor: Actor, problem: SystemProblem, now: datetime | None = None
) -> SystemProblem:
    """IT closes the problem without an outage (not the system's fault); its page stops."""
    now = now or timezone.now()
    problem = _locked_open(actor, problem)
    _close(actor, problem, reason="dismissed", now=now)
    return problem
