"""Reads for the inbound integrations."""

from __future__ import annotations

from django.db.models import Count

from incidents.models import Outage
from registry.models import ITSystem, Project

from .models import Heartbeat, InboundEvent


def _plausible(key: str) -> bool:
    # Keys are short tokens; a NUL would be an error in PostgreSQL rather than a miss.
    return bool(key) and len(key) <= 64 and "\x00" not in key


def system_for_integration_key(key: str) -> ITSystem | None:
    if not _plausible(key):
        return None
    return ITSystem.objects.filter(integration_key=key).first()


def key_holder(key: str) -> Project | ITSystem | None:
    """The IT system or the project whose integration key this is: change events take both."""
    if not _plausible(key):
        return None
    return (
        ITSystem.objects.filter(integration_key=key).first()
        or Project.objects.filter(integration_key=key).first()
    )


def heartbeat_for_key(key: str) -> Heartbeat | None:
    if not _plausible(key):
        return None
    return Heartbeat.objects.filter(key=key).first()


def heartbeats_for_system(system: ITSystem) -> list[Heartbeat]:
    return list(Heartbeat.objects.filter(system=system).order_by("name"))


def inbound_events_for_system(system: ITSystem, *, limit: int = 10) -> list[InboundEvent]:
    return list(
        InboundEvent.objects.filter(system=system)
        .select_related("outage")
        .order_by("-received_at", "-id")[:limit]
    )


def outage_event_counts(outages: list[Outage]) -> dict[int, int]:
    """Inbound events per outage (how many times monitors reported it), by outage id."""
    return dict(
        InboundEvent.objects.filter(outage__in=outages)
        .values("outage")
        .annotate(n=Count("pk"))
        .values_list("outage", "n")
    )
