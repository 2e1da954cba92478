"""Outgoing webhook endpoints: where a project's or an IT system's events are POSTed. Their
deliveries are rows of the notification pipeline (`notifications.Notification.webhook_endpoint`)."""

import base64
import secrets

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q

from registry.models import ITSystem, Project


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """Where a project's or an IT system's events are POSTed, signed with the endpoint's own
    secret (the Standard Webhooks scheme). `events` empty means every event type."""

    class Event(models.TextChoices):
        OUTAGE_OPENED = "outage.opened", "Outage opened"
        OUTAGE_ACKNOWLEDGED = "outage.acknowledged", "Outage acknowledged"
        OUTAGE_UPDATED = "outage.updated", "Outage updated"
        OUTAGE_RESOLVED = "outage.resolved", "Outage resolved"
        CHANGE_SCHEDULED = "change.scheduled", "Change scheduled"
        CHANGE_MOVED = "change.moved", "Change moved"
        CHANGE_STARTED = "change.started", "Change started"
        CHANGE_COMPLETED = "change.completed", "Change completed"
        CHANGE_CANCELLED = "change.cancelled", "Change cancelled"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    system = models.ForeignKey(
        ITSystem, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks"
    )
    url = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, blank=True, help_text="Event types; empty: all.")
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table the model had when it lived in notifications.
        db_table = "notifications_webhookendpoint"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(system__isnull=True))
                | (Q(project__isnull=True) & Q(system__isnull=False)),
                name="webhook_endpoint_exactly_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook {self.pk} of {self.owner}: {self.url}"

    @property
    def owner(self) -> "Project | ITSystem":
        return self.project or self.system

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events
