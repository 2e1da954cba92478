"""Reads of the delivery pipeline: delivery logs per event and per person, pages awaiting me."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Prefetch, Q, QuerySet

from registry.models import ContactMethod, Person

from .models import DeliveryAttempt, Notification, Page

RECENT = 50


def _with_log(notifications: QuerySet[Notification]) -> QuerySet[Notification]:
    return notifications.select_related("recipient", "project").prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at", "id"))
    )


def notifications_for_event(event: models.Model, *, limit: int = 500) -> list[Notification]:
    """Every notification of an event with its attempts: a fixed number of queries."""
    event_type = ContentType.objects.get_for_model(event)
    return list(
        _with_log(
            Notification.objects.filter(event_type=event_type, event_id=event.pk).order_by(
                "created_at", "id"
            )
        )[:limit]
    )


def pages_for_event(event: models.Model) -> list[Page]:
    event_type = ContentType.objects.get_for_model(event)
    return list(
        Page.objects.filter(event_type=event_type, event_id=event.pk)
        .select_related("project", "acknowledged_by")
        .order_by("project__name")
    )


def notifications_of(person: Person) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=person)


def recent_notifications_of(person: Person, *, limit: int = RECENT) -> list[Notification]:
    return list(_with_log(notifications_of(person).order_by("-created_at", "-id"))[:limit])


def pages_awaiting(person: Person) -> list[Page]:
    """Open pages that have paged this person (any level reached so far)."""
    return list(
        Page.objects.filter(state=Page.State.OPEN)
        .filter(Q(notifications__recipient=person))
        .distinct()
        .select_related("project")
        .order_by("-opened_at")
    )


def undeliverable_methods_of(person: Person) -> list[ContactMethod]:
    """The person's contact methods whose provider is not configured here: nothing sent to them
    arrives, so "My pages" says so."""
    return [m for m in person.contact_methods.all() if m.undeliverable_reason]
