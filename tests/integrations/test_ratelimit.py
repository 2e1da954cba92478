"""Per-key rate limits on the inbound endpoints: a flood from one key does not touch others."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from incidents.models import Outage
from integrations import ratelimit, services
from integrations.models import InboundEvent
from integrations.ratelimit import rate_limit_hit

from .conftest import alertmanager, pagerduty


@pytest.fixture
def limit_three(settings, monkeypatch):
    """Three requests a minute, and the clock the limiter reads held at the start of a minute:
    requests of a slow run would otherwise straddle two windows and each get through."""
    settings.STEWARD_INBOUND_RATE_LIMIT = 3
    settings.STEWARD_INBOUND_RATE_WINDOW_SECONDS = 60
    start_of_minute = time.time() // 60 * 60 + 1
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: start_of_minute))


def enqueue(client, body):
    return client.post("/v2/enqueue", data=json.dumps(body), content_type="application/json")


def test_a_flood_from_one_routing_key_gets_429_and_other_keys_are_unaffected(
    client, world, limit_three
):
    answers = [enqueue(client, pagerduty(world.database)).status_code for _ in range(5)]

    assert answers == [202, 202, 202, 429, 429]
    throttled = enqueue(client, pagerduty(world.database))
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled.json()["status"] == "throttle event"
    # The throttled events were not stored: the sender retries them.
    assert InboundEvent.objects.filter(system=world.database).count() == 3
    # Another system's key still gets through.
    assert enqueue(client, pagerduty(world.sso)).status_code == 202
    assert Outage.objects.filter(systems=world.sso).count() == 1


def test_alertmanager_and_heartbeats_are_limited_per_key_too(client, world, limit_three):
    path = f"/integrations/alertmanager/{world.database.integration_key}/"
    codes = [
        client.post(
            path, data=json.dumps(alertmanager()), content_type="application/json"
        ).status_code
        for _ in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    beat = services.heartbeat_create(system=world.database, name="cron", interval_minutes=5)
    pings = [client.get(f"/integrations/heartbeat/{beat.key}/").status_code for _ in range(4)]
    assert pings == [200, 200, 200, 429]
    # The Events API keeps its own window for the same key.
    assert enqueue(client, pagerduty(world.database)).status_code == 202


def test_windows_roll_over(limit_three):
    start = 1_700_000_040.0  # 0 s into a 60 s window
    decisions = [rate_limit_hit(scope="t", key="k", now=start + i) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == 57
    assert rate_limit_hit(scope="t", key="k", now=start + 60).allowed


def test_an_unreachable_redis_lets_requests_through(settings, limit_three):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert all(rate_limit_hit(scope="t", key="k").allowed for _ in range(5))
