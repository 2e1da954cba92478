"""IT outages and project incidents, each with its timeline of updates, and the status
subscriptions that hear about them."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from changes.models import Change, Release
from registry.models import ITSystem, Person, Project

# What anonymous status readers see of an outage or incident given no public summary: IT's and
# owners' titles are internal wording (system names, suspicions, people).
PUBLIC_SUMMARY_DEFAULT = "Service disruption"
# And of a scheduled IT change, which has no public wording of its own.
PLANNED_CHANGE_SUMMARY = "Planned IT maintenance"
PUBLIC_SUMMARY_HELP = (
    "What anonymous status readers see instead of the title; empty: “Service disruption”."
)


class PublicWording(models.Model):
    """An internal `title` for the people who work on it, and an optional `public_summary` for
    the public status pages and the status API."""

    public_summary = models.CharField(max_length=200, blank=True, help_text=PUBLIC_SUMMARY_HELP)

    class Meta:
        abstract = True

    @property
    def public_title(self) -> str:
        return self.public_summary or PUBLIC_SUMMARY_DEFAULT


class Outage(PublicWording):
    class Severity(models.TextChoices):
        SEV1 = "sev1", "SEV1 — critical"
        SEV2 = "sev2", "SEV2 — major"
        SEV3 = "sev3", "SEV3 — minor"
        SEV4 = "sev4", "SEV4 — low"

    class Status(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(10000)])
    systems = models.ManyToManyField(ITSystem, related_name="outages")
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.SEV2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INVESTIGATING)
    started_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opened_outages",
    )
    # The IT change IT found to have caused it (the history of a change's systems counts it).
    cause_change = models.ForeignKey(
        Change, on_delete=models.SET_NULL, null=True, blank=True, related_name="caused_outages"
    )
    # Inbound alerts for the same problem carry the same key; one open outage per key.
    dedup_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 (NULL: no key)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(resolved_at__isnull=True) & Q(dedup_key__isnull=False),
                name="outage_one_open_per_dedup_key",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("started_at")),
                name="outage_resolved_after_start",
            ),
            models.CheckConstraint(
                condition=(Q(status="resolved") & Q(resolved_at__isnull=False))
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="outage_resolved_iff_resolved_at",
            ),
        ]
        indexes = [models.Index(fields=["status", "-started_at"], name="outage_status_idx")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("incidents:outage-detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class OutageUpdate(models.Model):
    """One entry of an outage's timeline: the status at that moment and what was said."""

    outage = models.ForeignKey(Outage, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=Outage.Status.choices)
    message = models.TextField(validators=[MaxLengthValidator(10000)])
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.outage}: {self.get_status_display()}"


# --- project incidents ---------------------------------------------------------------------------


class Incident(PublicWording):
    """Something wrong with one project, run by its owners, with public updates."""

    class Impact(models.TextChoices):
        DEGRADED = "degraded", "Degraded performance"
        PARTIAL = "partial", "Partial outage"
        MAJOR = "major", "Major outage"

    Status = Outage.Status

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="incidents")
    title = models.CharField(max_length=200)
    impact = models.CharField(max_length=8, choices=Impact.choices, default=Impact.DEGRADED)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INVESTIGATING)
    started_at = models.DateTimeField(default=timezone.now)
    # When a responder first said they are on it (an acknowledged page or the first update).
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The IT event or the release named as the cause, at most one.
    cause_change = models.ForeignKey(
        Change, on_delete=models.SET_NULL, null=True, blank=True, related_name="caused_incidents"
    )
    cause_outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="caused_incidents"
    )
    cause_release = models.ForeignKey(
        Release, on_delete=models.SET_NULL, null=True, blank=True, related_name="caused_incidents"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opened_incidents",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(cause_change__isnull=True) | Q(cause_outage__isnull=True))
                & (
                    Q(cause_release__isnull=True)
                    | (Q(cause_change__isnull=True) & Q(cause_outage__isnull=True))
                ),
                name="incident_at_most_one_cause",
            ),
            models.CheckConstraint(
                condition=(Q(status="resolved") & Q(resolved_at__isnull=False))
                | (~Q(status="resolved") & Q(resolved_at__isnull=True)),
                name="incident_resolved_iff_resolved_at",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=F("started_at")),
                name="incident_resolved_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-started_at"], name="incident_project_idx"),
            models.Index(
                fields=["project"], condition=Q(resolved_at__isnull=True), name="incident_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class IncidentUpdate(models.Model):
    """A public, timestamped entry of an incident's timeline."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=Outage.Status.choices)
    message = models.TextField(validators=[MaxLengthValidator(10000)])
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident}: {self.get_status_display()}"


class MaintenanceNotice(models.Model):
    """That a scheduled IT change's window (its revision) was announced to the status subscribers
    of the projects it touches: the sweep announces each window once, and its cancellation
    once."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="maintenance_notices")
    revision = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)
    # When the same subscribers were told that the change was cancelled (set on every notice of
    # the change at once): they are told once, and only if they had been told it would happen.
    cancellation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["change", "revision"], name="maintenance_notice_once_per_revision"
            )
        ]

    def __str__(self) -> str:
        return f"{self.change} r{self.revision}"


class Subscription(models.Model):
    """Someone following a project's status: a signed-in person, an email address (confirmed by
    double opt-in when anonymous) or a webhook. Unsubscribing keeps the row, stamped."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="subscriptions")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="subscriptions"
    )
    # The email address or webhook URL messages go to.
    address = models.CharField(max_length=500)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Notices of planned IT maintenance ahead of time; outages and incidents are always sent.
    maintenance_notices = models.BooleanField(
        default=True, help_text="Also tell me of planned maintenance ahead of time."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "channel", "address"],
                condition=Q(unsubscribed_at__isnull=True),
                name="subscription_once_per_address",
            )
        ]
        indexes = [
            models.Index(
                fields=["project"],
                condition=Q(unsubscribed_at__isnull=True, confirmed_at__isnull=False),
                name="subscription_active_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.address} → {self.project}"

    @property
    def is_active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class ServiceLevel(models.Model):
    """A project's own service-level targets, each overriding its support tier's default
    (`STEWARD_SERVICE_LEVELS`); NULL keeps the default."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="service_level")
    ack_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolve_minutes = models.PositiveIntegerField(null=True, blank=True)
    availability = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(availability__isnull=True)
                | (Q(availability__gte=0) & Q(availability__lte=100)),
                name="service_level_availability_percent",
            )
        ]

    def __str__(self) -> str:
        return f"Service level of {self.project}"
