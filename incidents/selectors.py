"""Reads of IT outages: lists and pages, each in a fixed number of queries."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from changes.models import ImpactedProject

from .models import Outage, OutageUpdate


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
