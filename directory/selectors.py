"""Reads of the directory: IT's people page (who has left, what they left orphaned)."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from registry.models import Person, Project

ORPHANED_SHOWN = 200


def people_for_it(query: str = "") -> QuerySet[Person]:
    """People, those who left first (most recent first), then by name; searched by name or
    email."""
    people = Person.objects.select_related("user").order_by(
        F("deactivated_at").desc(nulls_last=True), "display_name", "pk"
    )
    if query:
        people = people.filter(Q(display_name__icontains=query) | Q(email__icontains=query))
    return people


def orphaned_projects() -> list[Project]:
    """The projects no active owner answers for, longest orphaned first."""
    return list(
        Project.objects.filter(orphaned_at__isnull=False)
        .select_related("team")
        .order_by("orphaned_at", "pk")[:ORPHANED_SHOWN]
    )


def orphaned_count() -> int:
    return Project.objects.filter(orphaned_at__isnull=False).count()


def registry_health() -> dict:
    """The registry's part of /healthz: how many projects no active owner answers for. It is
    news for IT, not an outage: the status stays "ok"."""
    return {"status": "ok", "orphaned_projects": orphaned_count()}
