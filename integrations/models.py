"""What monitors send in: every accepted inbound event as a row, and the heartbeats Steward expects.

"Accepted means stored": an `InboundEvent` row is written in the same transaction as its effect
(the outage opened, joined, acknowledged or resolved, and the pages that go with it), and the
sender hears 202 only after that transaction committed. If anything fails, nothing is stored and
the sender gets a 5xx, which PagerDuty clients and Alertmanager both retry.

A heartbeat ping is stored as its heartbeat's `last_ping_at` (a row per ping would grow by one a
minute per cron job); a heartbeat going down or coming back is an `InboundEvent`.
"""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from incidents.models import Outage
from registry.models import ITSystem


def new_heartbeat_key() -> str:
    return secrets.token_hex(16)


class InboundEvent(models.Model):
    class Source(models.TextChoices):
        EVENTS_API = "events_api", "Events API (PagerDuty v2)"
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        HEARTBEAT = "heartbeat", "Heartbeat"

    class Outcome(models.TextChoices):
        OPENED = "opened", "Opened an outage"
        JOINED = "joined", "Joined the open outage"
        ACKNOWLEDGED = "acknowledged", "Acknowledged the outage's pages"
        RESOLVED = "resolved", "Resolved the outage"
        IGNORED = "ignored", "Nothing open to act on"
        REJECTED = "rejected", "No alert could be stored"
        HELD = "held", "Held: the system is in maintenance"
        CLEARED = "cleared", "Cleared an alert held in maintenance"

    source = models.CharField(max_length=16, choices=Source.choices)
    system = models.ForeignKey(
        ITSystem, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_events"
    )
    # The key the sender presented (an integration key or a heartbeat key).
    routing_key = models.CharField(max_length=64)
    # The sender's own key (PagerDuty dedup_key, Alertmanager groupKey); the outage's own
    # dedup key is derived from it and namespaced per system (see services._outage_key).
    dedup_key = models.TextField(blank=True)
    action = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # Why an event changed nothing, or what else it did (one line per outage it touched).
    detail = models.TextField(blank=True)
    outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_events"
    )
    # Alerts of an Alertmanager notification that could not be stored, each
    # `{alert, fingerprint, alertname, errors}`: the rest of the group was, and IT sees these.
    rejected = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["system", "-received_at"], name="inbound_system_idx"),
            models.Index(fields=["outage"], name="inbound_outage_idx"),
            # What retention scans, oldest first.
            models.Index(fields=["received_at"], name="inbound_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.action} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class Heartbeat(models.Model):
    """A ping Steward expects every `interval_minutes`; `grace_minutes` later without one, an
    outage opens on the system (once), and the next ping resolves it. `down_since` is the state:
    set when the outage opened, cleared by a ping, so a missed ping opens one outage, not one per
    check, even when IT resolves that outage by hand while the pings are still missing."""

    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="heartbeats")
    name = models.CharField(
        max_length=100, help_text="What pings: “nightly backup”, “cron on db1”."
    )
    key = models.CharField(max_length=64, unique=True, default=new_heartbeat_key)
    interval_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 31)]
    )
    grace_minutes = models.PositiveIntegerField(
        default=5, validators=[MaxValueValidator(60 * 24 * 7)]
    )
    severity = models.CharField(
        max_length=8, choices=Outage.Severity.choices, default=Outage.Severity.SEV2
    )
    last_ping_at = models.DateTimeField(null=True, blank=True)
    down_since = models.DateTimeField(null=True, blank=True)
    outage = models.ForeignKey(
        Outage, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["system__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name"], name="heartbeat_name_per_system"),
            models.CheckConstraint(
                condition=Q(interval_minutes__gte=1), name="heartbeat_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.system})"

    def get_ping_path(self) -> str:
        return reverse("integrations:heartbeat", args=[self.key])

    @property
    def is_down(self) -> bool:
        return self.down_since is not None
