"""Generated bad input: every field of the documented payloads replaced by values of every wrong
kind. The endpoints answer 202 or 400, never a 5xx, and a 400 writes nothing."""

from __future__ import annotations

import base64
import copy
import json

from integrations.models import InboundEvent

from .conftest import alertmanager, pagerduty

ODD_VALUES = [None, 0, -1, 1.5, True, "", " ", "x" * 2000, [], [1], {}, {"a": {"b": []}}, "\u0000"]


def mutations(document: dict, path: tuple = ()):
    """(path, mutated document) for every field at any depth and every odd value."""
    node = document
    for step in path:
        node = node[step]
    for key, value in node.items():
        for odd in ODD_VALUES:
            mutated = copy.deepcopy(document)
            target = mutated
            for step in path:
                target = target[step]
            target[key] = odd
            yield (*path, key), mutated
        if isinstance(value, dict):
            yield from mutations(document, (*path, key))


def first_alert_mutations(notification: dict):
    for path, alert in mutations(notification["alerts"][0]):
        mutated = copy.deepcopy(notification)
        mutated["alerts"][0] = alert
        yield ("alerts", 0, *path), mutated


def test_the_events_api_never_answers_5xx_to_mangled_events(client, world, settings):
    settings.STEWARD_INBOUND_RATE_LIMIT = 0  # no limit: this sends hundreds
    for path, body in mutations(pagerduty(world.database)):
        before = InboundEvent.objects.count()
        response = client.post(
            "/v2/enqueue", data=json.dumps(body), content_type="application/json"
        )
        assert response.status_code in (202, 400), (path, body, response.content[:300])
        if response.status_code == 400:
            assert response.json()["errors"], path
            assert InboundEvent.objects.count() == before, path


def test_the_alertmanager_receiver_never_answers_5xx_to_mangled_notifications(
    client, world, settings
):
    settings.STEWARD_INBOUND_RATE_LIMIT = 0
    url = f"/integrations/alertmanager/{world.database.integration_key}/"
    cases = [*mutations(alertmanager()), *first_alert_mutations(alertmanager())]
    for path, body in cases:
        before = InboundEvent.objects.count()
        response = client.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code in (202, 400), (path, response.content[:300])
        if response.status_code == 400:
            assert response.json()["errors"], path
            assert InboundEvent.objects.count() == before, path


def test_keys_in_urls_that_postgresql_cannot_compare_are_misses_not_errors(client, world):
    assert client.get("/integrations/heartbeat/a%00b/").status_code == 404
    assert client.post("/integrations/heartbeat/" + "k" * 300 + "/").status_code == 404
    response = client.post(
        "/integrations/alertmanager/a%00b/",
        data=json.dumps(alertmanager()),
        content_type="application/json",
    )
    assert response.status_code == 401
    bearer = client.post(
        "/integrations/alertmanager/",
        data=json.dumps(alertmanager()),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"u:\x00").decode(),
    )
    assert bearer.status_code == 401
    assert not InboundEvent.objects.exists()
