"""Reads of IT outages (lists and pages, each in a fixed number of queries) and of status
subscriptions."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Prefetch, QuerySet

from changes.models import ImpactedProject

from .models import Outage, OutageUpdate, Subscription


def outages_for_list(*, open_only: bool = False) -> QuerySet[Outage]:
    outages = (
        Outage.objects.select_related("opened_by")
        .prefetch_related("systems")
        .annotate(impacted_count=Count("impacted", distinct=True))
    )
    if open_only:
        outages = outages.filter(resolved_at__isnull=True)
    return outages


def outage_for_page(pk: int) -> Outage:
    return (
        Outage.objects.select_related("opened_by")
        .prefetch_related(
            "systems",
            Prefetch(
                "impacted",
                queryset=ImpactedProject.objects.select_related("project").order_by(
                    "depth", "project__name"
                ),
            ),
            Prefetch(
                "updates",
                queryset=OutageUpdate.objects.select_related("author__person").order_by(
                    "-created_at", "-id"
                ),
            ),
        )
        .get(pk=pk)
    )


def subscriptions_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Subscription]:
    """A signed-in person's own subscriptions still in force, by project."""
    if not user.is_authenticated:
        return Subscription.objects.none()
    return (
        Subscription.objects.filter(person__user=user, unsubscribed_at__isnull=True)
        .select_related("project", "person")
        .order_by("project__name", "channel", "address")
    )
