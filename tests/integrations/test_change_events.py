"""PagerDuty change events (`POST /v2/change/enqueue`): a project's integration key records a
release of the project, an IT system's a release of the system; answers as PagerDuty's; bad
events are 400s naming the field with nothing stored; one key's flood is its own."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from changes.models import Release
from integrations.payloads import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db

# PagerDuty's "Send a Change Event" example, routing key filled in per test.
PAGERDUTY_CHANGE = {
    "routing_key": "samplekeyhere",
    "payload": {
        "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
        "timestamp": "2020-07-17T08:42:58.315+0000",
        "source": "acme-build-pipeline-tool-default-i-9999",
        "custom_details": {"build_state": "passed", "build_number": "2", "run_time": "1236s"},
    },
    "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details in Acme!"}],
}


def change_event(key: str, **payload) -> dict:
    event = copy.deepcopy(PAGERDUTY_CHANGE)
    event["routing_key"] = key
    event["payload"].update(payload)
    return event


def send(client, body):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/v2/change/enqueue", data=data, content_type="application/json")


def test_a_project_key_records_a_release_of_the_project(client, world):
    response = send(client, change_event(world.wiki.integration_key))

    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    release = Release.objects.get()
    assert release.project == world.wiki and release.system is None
    assert release.summary == PAGERDUTY_CHANGE["payload"]["summary"]
    assert release.happened_at == datetime(2020, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert release.source == "acme-build-pipeline-tool-default-i-9999"
    assert release.url == "https://acme.pagerduty.dev/build/2"
    assert release.details["custom_details"]["build_number"] == "2"
    assert release.via == Release.Via.CHANGE_EVENT and release.recorded_by is None


def test_a_system_key_records_a_release_of_the_system_dated_now_by_default(client, world):
    before = timezone.now()
    event = change_event(world.database.integration_key)
    del event["payload"]["timestamp"]
    del event["links"]

    assert send(client, event).status_code == 202

    release = Release.objects.get()
    assert release.system == world.database and release.project is None
    assert before <= release.happened_at <= timezone.now()
    assert release.url == ""


@pytest.mark.parametrize(
    ("mangle", "named"),
    [
        (lambda e: e["payload"].pop("summary"), "'payload.summary' is missing"),
        (lambda e: e["payload"].update(summary="   "), "'payload.summary' is missing"),
        (lambda e: e["payload"].update(summary="x" * 1025), "'payload.summary' is 1025"),
        (lambda e: e["payload"].update(timestamp="yesterday"), "'payload.timestamp'"),
        (lambda e: e["payload"].update(timestamp="2020-07-17T08:42:58"), "'payload.timestamp'"),
        (lambda e: e["payload"].update(timestamp="9999-12-31T23:59:59Z"), "'payload.timestamp'"),
        (lambda e: e["payload"].update(custom_details=[1, 2]), "'payload.custom_details'"),
        (lambda e: e["payload"].update(source=7), "'payload.source' must be a string"),
        (lambda e: e.update(links=[{"href": "javascript:alert(1)"}]), "'links[0].href'"),
        (lambda e: e.update(links=[{"text": "no href"}]), "'links[0].href' is missing"),
        (lambda e: e.update(links="https://x.example.com"), "'links' must be a list"),
        (lambda e: e.pop("payload"), "'payload' is missing"),
        (lambda e: e.pop("routing_key"), "'routing_key' is missing"),
    ],
)
def test_a_bad_event_is_a_400_naming_the_field_and_stores_nothing(client, world, mangle, named):
    event = change_event(world.wiki.integration_key)
    mangle(event)

    response = send(client, event)

    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(named in error for error in body["errors"]), body["errors"]
    assert not Release.objects.exists()


def test_a_timestamp_in_the_future_is_refused(client, world):
    ahead = (timezone.now() + timedelta(days=2)).isoformat()
    response = send(client, change_event(world.wiki.integration_key, timestamp=ahead))
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("'payload.timestamp': ")
    assert not Release.objects.exists()


def test_an_unknown_routing_key_is_a_400(client, world):
    response = send(client, change_event("0" * 32))
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'routing_key' is not the integration key of any project or IT system in Steward."
    ]
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[1, 2]", b'{"routing_key": NaN}', b'{"a": "\\ud800"}', b"\xff\xfe"],
)
def test_what_is_not_a_usable_json_object_is_a_400(client, world, body):
    response = send(client, body)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"


def test_an_oversized_event_is_refused_before_it_is_read(client, world):
    event = change_event(world.wiki.integration_key)
    event["payload"]["custom_details"] = {"log": "x" * MAX_BODY_BYTES}
    response = send(client, event)
    assert response.status_code == 400
    assert "the limit is 524288 bytes" in response.json()["errors"][0]
    assert not Release.objects.exists()


def test_a_nul_in_the_summary_is_kept_visible_not_a_500(client, world):
    response = send(client, change_event(world.wiki.integration_key, summary="v1\u0000"))
    assert response.status_code == 202
    assert Release.objects.get().summary == "v1\ufffd"


def test_only_post_is_answered(client, world):
    assert client.get("/v2/change/enqueue").status_code == 405


def test_a_flood_from_one_key_is_throttled_and_other_keys_get_through(client, world, settings):
    settings.STEWARD_INBOUND_RATE_LIMIT = 3
    settings.STEWARD_INBOUND_RATE_WINDOW_SECONDS = 60
    codes = [send(client, change_event(world.wiki.integration_key)).status_code for _ in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    throttled = send(client, change_event(world.wiki.integration_key))
    assert throttled.json()["status"] == "throttle event"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert Release.objects.count() == 3
    assert send(client, change_event(world.people.integration_key)).status_code == 202
    # The alerts of the same key keep their own window.
    alert = {
        "routing_key": world.database.integration_key,
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "db1", "severity": "info"},
    }
    for _ in range(3):
        send(client, change_event(world.database.integration_key))
    response = client.post("/v2/enqueue", data=json.dumps(alert), content_type="application/json")
    assert response.status_code == 202
