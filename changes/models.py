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
    # Why IT schedules it despite the conflicts it had when scheduled (required then), and those
    # conflicts' reasons as they were: owners' notices and the calendar show both.
    conflict_justification = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    conflicts_noted = models.JSONField(default=list, blank=True)
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


class MaintenanceWindow(models.Model):
    """IT systems in maintenance from `starts_at` to `ends_at`: what monitors send about them
    meanwhile is held (stored, shown, paging nobody); what still fires at the end pages then.

    A change has one, kept in step with its planned window and its systems (plus the downstream
    systems IT names); it holds alerts only while the change is scheduled or in progress. IT can
    also open a bare one, without a change."""

    change = models.OneToOneField(
        Change, on_delete=models.CASCADE, null=True, blank=True, related_name="maintenance"
    )
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    systems = models.ManyToManyField(ITSystem, related_name="maintenance_windows")
    # Of a change's window: the systems IT added besides the change's own (downstream ones).
    extra_systems = models.ManyToManyField(ITSystem, related_name="+", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the end's re-evaluation ran (still-firing alerts paged); cleared if it moves later.
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="maintenance_ends_after_it_starts"
            ),
        ]
        indexes = [
            models.Index(fields=["starts_at", "ends_at"], name="maintenance_window_idx"),
            models.Index(
                fields=["ends_at"],
                condition=Q(released_at__isnull=True),
                name="maintenance_unreleased_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class HeldAlert(models.Model):
    """One alert (per monitor key) a maintenance window held: the outage it would have opened,
    not opened. `cleared_at` when the monitor said it is over; `released_at` when the window
    ended with it still firing and the outage opened (`outage`), paging as usual, once."""

    window = models.ForeignKey(MaintenanceWindow, on_delete=models.CASCADE, related_name="held")
    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+")
    # The outage's dedup key the alert would have had (integrations names it).
    key = models.CharField(max_length=200)
    source = models.CharField(max_length=16)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=8)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    events = models.PositiveIntegerField(default=1)
    cleared_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    # An outage lives in `incidents`, above this app: named by label, never imported.
    outage = models.ForeignKey(
        "incidents.Outage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["window", "key"], name="held_alert_once_per_window"),
        ]
        indexes = [
            models.Index(
                fields=["key"],
                condition=Q(cleared_at__isnull=True, released_at__isnull=True),
                name="held_alert_firing_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def firing(self) -> bool:
        return self.cleared_at is None and self.released_at is None


class Blackout(models.Model):
    """A change freeze: company-wide (no system) or on one IT system; once, or recurring.

    Times are wall-clock in `time_zone`: the first occurrence runs from `start_date start_time`
    to `end_date end_time` there, and `rrule` (an RFC 5545 RRULE, without DTSTART) repeats it from
    that local start. Each occurrence keeps its local times across DST changes
    (`changes.conflicts.blackout_intervals` turns them into UTC). `first_start_at` and
    `last_end_at` (empty: no end) bound every occurrence in UTC, for the database to filter."""

    title = models.CharField(max_length=200)
    reason = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    system = models.ForeignKey(
        ITSystem, on_delete=models.CASCADE, null=True, blank=True, related_name="blackouts"
    )
    time_zone = models.CharField(max_length=64)
    start_date = models.DateField()
    start_time = models.TimeField()
    end_date = models.DateField()
    end_time = models.TimeField()
    rrule = models.CharField(max_length=500, blank=True)
    first_start_at = models.DateTimeField()
    last_end_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["first_start_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date"))
                | Q(end_date=F("start_date"), end_time__gt=F("start_time")),
                name="blackout_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def recurring(self) -> bool:
        return bool(self.rrule)
