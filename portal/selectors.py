"""Reads for problem reports (the pages and the API), end users' on projects and owners' on IT
systems."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from notifications.models import Page
from registry.models import ITSystem, Project, ProjectRole
from registry.permissions import EDITING_ROLES, is_it_staff
from registry.selectors import impacted_projects_for

from .models import ProblemReport, ReportGroup, SystemProblem, SystemProblemReport
from .services.reports import quiet_after


def open_report_groups(project: Project, *, now: datetime | None = None) -> list[ReportGroup]:
    """The project's open group (at most one) unless it has gone quiet, with its reports and
    their reporters: two queries whatever the number of reports."""
    now = now or timezone.now()
    return list(
        ReportGroup.objects.filter(
            project=project, closed_at__isnull=True, last_report_at__gt=now - quiet_after()
        ).prefetch_related(
            Prefetch(
                "reports",
                queryset=ProblemReport.objects.select_related("reporter__person").order_by(
                    "-created_at", "-id"
                ),
            )
        )
    )


def reports_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ProblemReport]:
    """IT staff and admins: every report. Owners and maintainers: their projects' reports.
    Anyone else signed in: their own reports only."""
    reports = ProblemReport.objects.select_related("project", "reporter").order_by(
        "-created_at", "-id"
    )
    if not user.is_authenticated:
        return reports.none()
    if is_it_staff(user):
        return reports
    edited = ProjectRole.objects.filter(person__user=user, role__in=EDITING_ROLES).values(
        "project_id"
    )
    return reports.filter(Q(reporter=user) | Q(project_id__in=edited))


# --- owners' reports on IT systems ----------------------------------------------------------------

# The reports an owner sees of their own on a system page; IT staff see the open problem's all.
RECENT_SYSTEM_REPORTS = 20


def _edited_projects(user: AbstractBaseUser) -> QuerySet:
    return ProjectRole.objects.filter(person__user=user, role__in=EDITING_ROLES).values(
        "project_id"
    )


def reportable_projects(user: AbstractBaseUser | AnonymousUser, system: ITSystem) -> list[Project]:
    """The projects this person may report a problem with the system for: those they own or
    maintain (any, for an admin) that depend on it, directly or through other systems. Two
    queries."""
    if not user.is_authenticated:
        return []
    ids = [i.project_id for i in impacted_projects_for([system])]
    projects = Project.objects.filter(pk__in=ids).order_by("name")
    if not user.is_superuser:
        projects = projects.filter(pk__in=_edited_projects(user))
    return list(projects.only("id", "name", "slug"))


@dataclass
class SystemProblems:
    """What a system page shows of owners' reports to this viewer. The problem and the reports
    carry their page for IT's on-call as `it_page`, acknowledged or not ("someone is on it")."""

    # IT staff: the system's open problem (if any), with its reports.
    open_problem: SystemProblem | None = None
    # Everyone else: their own reports (made by them, or for a project they own or maintain).
    own_reports: list[SystemProblemReport] = field(default_factory=list)


def _reports_queryset() -> QuerySet[SystemProblemReport]:
    return SystemProblemReport.objects.select_related(
        "project", "reporter__person", "problem", "outage"
    ).order_by("-created_at", "-id")


def system_problems_for(user: AbstractBaseUser | AnonymousUser, system: ITSystem) -> SystemProblems:
    """Owners' reports on the system as this viewer may see them, with their pages: a fixed
    number of queries whatever the number of reports."""
    result = SystemProblems()
    if not user.is_authenticated:
        return result
    if is_it_staff(user):
        result.open_problem = (
            SystemProblem.objects.filter(system=system, closed_at__isnull=True)
            .prefetch_related(Prefetch("reports", queryset=_reports_queryset()))
            .first()
        )
        problem_ids = [result.open_problem.pk] if result.open_problem else []
    else:
        result.own_reports = list(
            system_reports_visible_to(user).filter(system=system)[:RECENT_SYSTEM_REPORTS]
        )
        problem_ids = sorted({r.problem_id for r in result.own_reports if r.problem_id})
    pages = {}
    if problem_ids:
        pages = {
            page.event_id: page
            for page in Page.objects.filter(
                event_type=ContentType.objects.get_for_model(SystemProblem),
                event_id__in=problem_ids,
            ).select_related("acknowledged_by")
        }
    # Each problem and report carries its problem's page as `it_page` (None when none).
    if result.open_problem is not None:
        result.open_problem.it_page = pages.get(result.open_problem.pk)
    for report in result.own_reports:
        report.it_page = pages.get(report.problem_id)
    return result


def system_reports_visible_to(
    user: AbstractBaseUser | AnonymousUser,
) -> QuerySet[SystemProblemReport]:
    """IT staff and admins: every owner's report on IT systems. Anyone else signed in: the ones
    they made and those for the projects they own or maintain."""
    reports = _reports_queryset().select_related("system")
    if not user.is_authenticated:
        return reports.none()
    if is_it_staff(user):
        return reports
    return reports.filter(Q(reporter=user) | Q(project_id__in=_edited_projects(user)))
