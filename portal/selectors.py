"""Reads for problem reports (the pages and the API)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import Project, ProjectRole
from registry.permissions import EDITING_ROLES, is_it_staff

from .models import ProblemReport, ReportGroup
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
