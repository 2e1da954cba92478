"""The end user's side of the portal: problem reports ("this is not working", "me too") gathered
in report groups. Subscriptions to a project's status live with the status pages in `incidents`."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, Outage
from registry.models import ITSystem, Project


class ReportGroup(models.Model):
    """Problem reports on one project that nothing open explained, gathered so that the on-call
    hears once (a notice on the first, a page past the threshold), never once per report."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="report_groups")
    opened_at = models.DateTimeField(default=timezone.now)
    last_report_at = models.DateTimeField(default=timezone.now)
    report_count = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    paged_at = models.DateTimeField(null=True, blank=True)
    # Closed when an owner turns it into an incident, dismisses it, or it goes quiet.
    closed_at = models.DateTimeField(null=True, blank=True)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="report_groups"
    )

    class Meta:
        db_table = "incidents_reportgroup"
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(closed_at__isnull=True),
                name="report_group_one_open_per_project",
            )
        ]

    def __str__(self) -> str:
        return f"{self.report_count} report(s) on {self.project}"


class ProblemReport(models.Model):
    """An end user's "this is not working": a "me too" on an open incident or outage, or else
    part of the project's open report group."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problem_reports")
    description = models.TextField(validators=[MaxLengthValidator(2000)])
    contact = models.CharField(max_length=254, blank=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="problem_reports",
    )
    reporter_address = models.GenericIPAddressField(null=True, blank=True)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    group = models.ForeignKey(
        ReportGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "incidents_problemreport"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["project", "-created_at"], name="report_project_idx"),
            models.Index(fields=["reporter", "-created_at"], name="report_reporter_idx"),
            models.Index(fields=["reporter_address", "-created_at"], name="report_address_idx"),
        ]

    def __str__(self) -> str:
        return f"Report on {self.project} at {self.created_at:%Y-%m-%d %H:%M}"


# --- owners telling IT -----------------------------------------------------------------------------


class SystemProblem(models.Model):
    """Owners telling IT that one of its systems is failing for their apps: one open per system,
    which pages the system's on-call once. Further reports while it is open join it ("me too")
    and page nobody again. Only IT closes it: dismissed, or turned into an outage (`outage`)."""

    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="problems")
    opened_at = models.DateTimeField(default=timezone.now)
    last_report_at = models.DateTimeField(default=timezone.now)
    paged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="system_problems"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system"],
                condition=Q(closed_at__isnull=True),
                name="system_problem_one_open_per_system",
            )
        ]

    def __str__(self) -> str:
        return f"Problem with {self.system} reported {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class SystemProblemReport(models.Model):
    """One owner's "this IT system is failing for my app": the app named, what they see. Part of
    the system's open problem, or a "me too" on an open outage of the system that explains it."""

    problem = models.ForeignKey(
        SystemProblem, on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="system_reports"
    )
    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="problem_reports")
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="system_problem_reports"
    )
    description = models.TextField(validators=[MaxLengthValidator(2000)])
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="system_problem_reports",
    )
    reporter_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["reporter", "-created_at"], name="system_report_reporter_idx"),
            models.Index(
                fields=["reporter_address", "-created_at"], name="system_report_address_idx"
            ),
            models.Index(fields=["system", "-created_at"], name="system_report_system_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} reports {self.system} at {self.created_at:%Y-%m-%d %H:%M}"
