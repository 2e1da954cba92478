"""An outage as the delivery pipeline and the outgoing webhooks see it: the description
(`notifications.events.Event`) incidents hands them, with the document webhooks send."""

from __future__ import annotations

from collections.abc import Iterable

from changes.events import absolute
from notifications.events import Event
from registry.models import ITSystem
from webhooks.services import iso, system_document

from .models import Outage


def outage_document(outage: Outage, systems: Iterable[ITSystem]) -> dict:
    """What a webhook says about an outage: the same fields as the API's."""
    return {
        "outage": {
            "id": outage.pk,
            "title": outage.title,
            "description": outage.description,
            "severity": outage.severity,
            "status": outage.status,
            "started_at": iso(outage.started_at),
            "resolved_at": iso(outage.resolved_at),
            "systems": [system_document(s) for s in systems],
            "url": absolute(outage.get_absolute_url()),
        }
    }


def outage_event(outage: Outage) -> Event:
    """The outage as it is now: build it once per write, after the write."""
    systems = tuple(outage.systems.all())
    return Event(instance=outage, systems=systems, document=outage_document(outage, systems))
