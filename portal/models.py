"""The end user's side of the portal: problem reports ("this is not working", "me too") gathered
in report groups. Subscriptions to a project's status live with the status pages in `incidents`."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Incident, Outage
from registry.models import Project


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
