"""Inbound events are kept STEWARD_INBOUND_RETENTION_DAYS, except those of outages still open."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents.services.outages import outage_open, outage_resolve
from integrations import services
from integrations.models import InboundEvent
from tests.factories import it_staff_user

from .conftest import NOW

pytestmark = pytest.mark.django_db


def event(world, *, days_ago: float, outage=None) -> InboundEvent:
    return InboundEvent.objects.create(
        source=InboundEvent.Source.EVENTS_API,
        system=world.database,
        routing_key=world.database.integration_key,
        action="trigger",
        received_at=NOW - dt.timedelta(days=days_ago),
        outage=outage,
    )


def test_old_events_go_in_batches_and_an_open_outages_stay(world, settings):
    settings.STEWARD_INBOUND_RETENTION_DAYS = 30
    it = it_staff_user()
    still_open = outage_open(actor=it, title="Disk", systems=[world.database], now=NOW)
    closed = outage_open(actor=it, title="Net", systems=[world.sso], now=NOW)
    outage_resolve(actor=it, outage=closed, now=NOW)
    recent = event(world, days_ago=29)
    of_open = event(world, days_ago=40, outage=still_open)
    old = [event(world, days_ago=31 + n) for n in range(3)]
    of_closed = event(world, days_ago=45, outage=closed)

    assert services.inbound_events_prune(now=NOW, batch=2) == 2
    assert services.inbound_events_prune(now=NOW, batch=2) == 2
    assert services.inbound_events_prune(now=NOW, batch=2) == 0

    kept = set(InboundEvent.objects.values_list("pk", flat=True))
    assert kept == {recent.pk, of_open.pk}
    assert not kept & {e.pk for e in [*old, of_closed]}
