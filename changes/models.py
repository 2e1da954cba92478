"""IT changes: planned work on IT systems, the reminders and owners' answers around it, and the
snapshot of the projects an IT event (a change, or an outage of `incidents`) touches."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator, URLValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from registry.models import ITSystem, Person, Project

DEFAULT_REMINDER_LEAD_MINUTES = [1440, 60]


def default_reminder_lead_minutes() -> list[int]:
    """Minutes before the planned start at which owners get a reminder (24 h and 1 h)."""
    return list(
        getattr(settings, "STEWARD_CHANGE_REMINDER_LEAD_MINUTES", DEFAULT_REMINDER_LEAD_MINUTES)
    )


class Change(models.Model):
    class Type(models.TextChoices):
        STANDARD = "standard", "Standard"
        NORMAL = "normal", "Normal"
        EMERGENCY = "emergency", "Emergency"

    class Risk(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(10000)])
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.NORMAL)
    planned_start_at = models.DateTimeField()
    planned_end_at = models.DateTimeField()
    systems = models.ManyToManyField(
        ITSystem, related_name="changes", db_table="incidents_change_systems"
    )
    risk = models.CharField(max_length=8, choices=Risk.choices, default=Risk.LOW)
    rollback_plan = models.TextField(blank=True, validators=[MaxLengthValidator(10000)])
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="authored_changes",
    )
    # Empty is a choice (no reminders), so not "blank" to validation.
    reminder_lead_minutes = models.JSONField(default=default_reminder_lead_minutes, blank=True)
    # How many times a scheduled change's window or systems moved; owners are told each time.
    revision = models.PositiveIntegerField(default=0)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Set when the change ended by rolling back (completed, but undone): its history counts it.
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "incidents_change"
        ordering = ["-planned_start_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end_at__gt=F("planned_start_at")),
                name="change_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=Q(rolled_back_at__isnull=True) | Q(state="completed"),
                name="change_rolled_back_only_when_completed",
            ),
        ]
        indexes = [models.Index(fields=["state", "planned_start_at"], name="change_state_idx")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("incidents:change-detail", args=[self.pk])

    def get_respond_url(self) -> str:
        return reverse("incidents:change-respond", args=[self.pk])


class ChangeReminder(models.Model):
    """A reminder row with a due time; the periodic task sends what is due (never a countdown)."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="reminders")
    lead_minutes = models.PositiveIntegerField()
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "incidents_changereminder"
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change", "lead_minutes"], name="change_reminder_one_per_lead"
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(sent_at__isnull=True), name="change_reminder_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.change} − {self.lead_minutes} min"

    @property
    def label(self) -> str:
        if self.lead_minutes % 1440 == 0:
            return f"{self.lead_minutes // 1440 * 24}h"
        if self.lead_minutes % 60 == 0:
            return f"{self.lead_minutes // 60}h"
        return f"{self.lead_minutes}m"


class ChangeResponse(models.Model):
    """A touched project's owner answers a change: fine, or a concern. Answering again updates."""

    class Answer(models.TextChoices):
        FINE = "fine", "Fine"
        CONCERN = "concern", "Concern"

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="responses")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="change_responses")
    answer = models.CharField(max_length=8, choices=Answer.choices)
    comment = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "incidents_changeresponse"
        ordering = ["project__name", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["change", "project", "person"], name="change_response_one_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} on {self.change}: {self.answer}"


class ImpactedProject(models.Model):
    """The snapshot, per change or outage, of a touched project and the path that touches it."""

    change = models.ForeignKey(
        Change, on_delete=models.CASCADE, null=True, blank=True, related_name="impacted"
    )
    # An outage lives in `incidents`, above this app: named by label, never imported.
    outage = models.ForeignKey(
        "incidents.Outage", on_delete=models.CASCADE, null=True, blank=True, related_name="impacted"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="impacts")
    # System names from the one the project depends on directly to the affected system.
    path = models.JSONField(default=list)
    all_hard = models.BooleanField(default=True)
    depth = models.PositiveSmallIntegerField(default=1)

    class Meta:
        db_table = "incidents_impactedproject"
        ordering = ["project__name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(change__isnull=False) & Q(outage__isnull=True))
                | (Q(change__isnull=True) & Q(outage__isnull=False)),
                name="impacted_project_exactly_one_event",
            ),
            models.UniqueConstraint(
                fields=["change", "project"], name="impacted_project_once_per_change"
            ),
            models.UniqueConstraint(
                fields=["outage", "project"], name="impacted_project_once_per_outage"
            ),
        ]

    def __str__(self) -> str:
        return self.path_display

    @property
    def path_display(self) -> str:
        return " → ".join((self.project.name, *self.path))


class Release(models.Model):
    """A deployment or release that already happened: of a project, recorded by its owners or
    their CI, or of an IT system, sent by IT's tools as a change event with its integration key.
    Unlike a `Change`, nobody is told in advance; it is what incidents list as a suspect."""

    class Via(models.TextChoices):
        PAGE = "page", "The project page"
        API = "api", "The API"
        CHANGE_EVENT = "change_event", "A change event (integration key)"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="releases"
    )
    system = models.ForeignKey(
        ITSystem, on_delete=models.CASCADE, null=True, blank=True, related_name="releases"
    )
    summary = models.CharField(max_length=1024)
    url = models.CharField(
        max_length=1000, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    # Where it happened, as the sender names it (a pipeline, a host).
    source = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    happened_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="recorded_releases",
    )
    via = models.CharField(max_length=16, choices=Via.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-happened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(system__isnull=True))
                | (Q(project__isnull=True) & Q(system__isnull=False)),
                name="release_of_exactly_one",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-happened_at"], name="release_project_idx"),
            models.Index(fields=["system", "-happened_at"], name="release_system_idx"),
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def of(self) -> Project | ITSystem:
        return self.project or self.system

    @property
    def title(self) -> str:
        """What lists of IT events (suspects) show as a change's or an outage's title."""
        return self.summary
