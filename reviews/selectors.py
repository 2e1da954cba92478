"""Reads of reviews: a review's page, the open action items of a project, the lists."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from registry.models import Project

from .models import ActionItem, Review


def reviews_queryset() -> QuerySet[Review]:
    return Review.objects.select_related(
        "outage__opened_by__person",
        "incident__project",
        "incident__opened_by__person",
        "incident__cause_change",
        "incident__cause_outage",
        "incident__cause_release",
        "project",
    ).prefetch_related(
        "outage__systems",
        Prefetch(
            "action_items",
            queryset=ActionItem.objects.select_related("owner").order_by("due_on", "id"),
        ),
    )


def review_for_page(pk: int) -> Review:
    return reviews_queryset().get(pk=pk)


def open_action_items_of(project: Project, *, limit: int = 50) -> list[ActionItem]:
    """A project's action items not done yet, soonest due first: one query."""
    return list(
        ActionItem.objects.filter(project=project, done_at__isnull=True)
        .select_related("owner", "review")
        .order_by("due_on", "id")[:limit]
    )
