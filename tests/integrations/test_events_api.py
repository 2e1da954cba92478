"""`POST /v2/enqueue`, PagerDuty's Events API v2, with the payloads of PagerDuty's documentation."""

from __future__ import annotations

import json

import pytest

from incidents.models import Outage
from integrations.models import InboundEvent
from notifications.models import Notification, Page

from .conftest import pagerduty

URL = "/v2/enqueue"


def post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def nothing_written() -> bool:
    return (
        not InboundEvent.objects.exists()
        and not Outage.objects.exists()
        and not Notification.objects.exists()
    )


def test_a_trigger_opens_an_outage_on_the_system_and_pages_its_dependents(client, world):
    response = post(client, pagerduty(world.database))

    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    outage = Outage.objects.get()
    assert outage.title == "Example alert on host1.example.com"
    assert list(outage.systems.all()) == [world.database]
    assert outage.severity == Outage.Severity.SEV4  # "info"
    assert outage.opened_by is None
    assert outage.dedup_key == f"events:{world.database.pk}:samplekeyhere"
    # The event's own timestamp is when it started.
    assert outage.started_at.isoformat() == "2015-07-17T08:42:58.315000+00:00"
    assert "Component: postgres" in outage.description
    assert '"ping time": "1500ms"' in outage.description
    page = Page.objects.get()
    assert page.project == world.wiki and page.state == Page.State.OPEN
    assert list(
        Notification.objects.filter(page=page).values_list("recipient", "address", "kind")
    ) == [(world.owner.pk, "olga@example.com", "page")]
    event = InboundEvent.objects.get()
    assert (event.source, event.action, event.outcome, event.outage) == (
        "events_api",
        "trigger",
        "opened",
        outage,
    )
    assert event.system == world.database
    assert event.payload["payload"]["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert event.processed_at is not None


def test_a_second_trigger_with_the_same_dedup_key_joins_the_open_outage(client, world):
    post(client, pagerduty(world.database))
    again = pagerduty(world.database)
    again["payload"]["summary"] = "Still failing on host1.example.com"

    response = post(client, again)

    assert response.status_code == 202
    outage = Outage.objects.get()
    assert outage.title == "Example alert on host1.example.com"
    assert Page.objects.count() == 1
    assert Notification.objects.count() == 1
    assert list(InboundEvent.objects.order_by("id").values_list("outcome", "outage")) == [
        ("opened", outage.pk),
        ("joined", outage.pk),
    ]


def test_the_same_dedup_key_on_two_systems_is_two_outages(client, world):
    post(client, pagerduty(world.database))
    post(client, pagerduty(world.sso))
    assert Outage.objects.count() == 2
    assert set(Page.objects.values_list("project__slug", flat=True)) == {"wiki", "people"}


def test_a_trigger_without_a_dedup_key_gets_one_and_resolve_uses_it(client, world):
    body = pagerduty(world.database)
    del body["dedup_key"]

    first = post(client, body)
    second = post(client, body)

    key = first.json()["dedup_key"]
    assert key and key != second.json()["dedup_key"]
    assert Outage.objects.count() == 2
    resolve = post(
        client,
        {
            "routing_key": world.database.integration_key,
            "event_action": "resolve",
            "dedup_key": key,
        },
    )
    assert resolve.status_code == 202
    assert Outage.objects.filter(resolved_at__isnull=False).count() == 1


def test_resolve_resolves_the_outage_and_stops_its_escalation(client, world):
    post(client, pagerduty(world.database))
    page = Page.objects.get()
    assert page.next_escalation_at is not None

    response = post(
        client,
        {
            "routing_key": world.database.integration_key,
            "dedup_key": "samplekeyhere",
            "event_action": "resolve",
        },
    )

    assert response.status_code == 202
    assert response.json()["dedup_key"] == "samplekeyhere"
    outage = Outage.objects.get()
    assert outage.status == Outage.Status.RESOLVED and outage.resolved_at is not None
    assert "Events API" in outage.updates.last().message
    page.refresh_from_db()
    assert page.state == Page.State.STOPPED and page.next_escalation_at is None
    # The page's email was never sent (no worker here): it is cancelled, not sent late.
    assert set(Notification.objects.filter(page=page).values_list("state", flat=True)) == {
        "cancelled"
    }
    assert InboundEvent.objects.order_by("-id").first().outcome == "resolved"

    # A trigger after the resolve is a new problem: a new outage.
    post(client, pagerduty(world.database))
    assert Outage.objects.filter(resolved_at__isnull=True).count() == 1
    assert Outage.objects.count() == 2


def test_acknowledge_acknowledges_the_outages_pages(client, world):
    post(client, pagerduty(world.database))

    response = post(
        client,
        {
            "routing_key": world.database.integration_key,
            "dedup_key": "samplekeyhere",
            "event_action": "acknowledge",
        },
    )

    assert response.status_code == 202
    page = Page.objects.get()
    assert page.state == Page.State.ACKNOWLEDGED
    assert page.acknowledged_via == "events-api" and page.acknowledged_at is not None
    assert page.next_escalation_at is None
    assert Outage.objects.get().is_open  # acknowledged, not resolved
    event = InboundEvent.objects.order_by("-id").first()
    assert (event.outcome, event.detail) == ("acknowledged", "1 open page(s) acknowledged.")


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_with_nothing_open_is_stored_and_changes_nothing(
    client, world, action
):
    response = post(
        client,
        {
            "routing_key": world.database.integration_key,
            "dedup_key": "nope",
            "event_action": action,
        },
    )
    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert (event.outcome, event.outage) == ("ignored", None)
    assert not Outage.objects.exists()


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "sev1"), ("error", "sev2"), ("warning", "sev3"), ("info", "sev4")],
)
def test_severity_maps_to_the_outage_severity(client, world, severity, expected):
    body = pagerduty(world.database)
    body["payload"]["severity"] = severity
    assert post(client, body).status_code == 202
    assert Outage.objects.get().severity == expected


def test_an_unknown_routing_key_is_a_400_naming_routing_key(client, world):
    response = post(client, pagerduty(world.database, routing_key="0" * 32))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert body["errors"] == [
        "'routing_key' is not the integration key of any IT system in Steward."
    ]
    assert nothing_written()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b'{"routing_key": "x",}'],
    ids=["broken", "empty", "not-utf8", "trailing-comma"],
)
def test_malformed_json_is_a_400_and_nothing_is_written(client, world, body):
    response = post(client, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert "JSON" in error or "UTF-8" in error or "empty" in error
    assert nothing_written()


def test_missing_and_wrong_fields_are_each_named_in_one_answer(client, world):
    body = {
        "routing_key": world.database.integration_key,
        "event_action": "trigger",
        "payload": {"severity": "catastrophic", "timestamp": "yesterday", "group": 7},
        "links": [{"text": "no href"}],
    }
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'payload.summary' is missing or blank.",
        "'payload.source' is missing or blank.",
        "'payload.severity' must be one of critical, error, warning, info (got 'catastrophic').",
        "'payload.timestamp' must be an ISO 8601 date and time with an offset, between the years 1 "
        "and 9999 (got 'yesterday').",
        "'payload.group' must be a string.",
        "'links[0].href' is missing or blank.",
    ]
    assert nothing_written()


def test_every_problem_is_named_even_with_an_unknown_key(client, world):
    response = post(client, {"routing_key": "f" * 32, "event_action": "explode"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'event_action' must be one of trigger, acknowledge, resolve (got 'explode').",
        "'routing_key' is not the integration key of any IT system in Steward.",
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([1, 2], "The body must be a JSON object (an event)."),
        ({"event_action": "trigger"}, "'routing_key' is missing or blank."),
        ({"event_action": "resolve", "routing_key": "{key}"}, "'dedup_key' is missing or blank."),
        (
            {"event_action": "trigger", "routing_key": "{key}"},
            "'payload' is missing or not an object.",
        ),
        ({"routing_key": "{key}"}, "'event_action' is missing or blank."),
        (
            {"event_action": "resolve", "routing_key": "{key}", "dedup_key": "k" * 256},
            "'dedup_key' is 256 characters; the limit is 255.",
        ),
    ],
)
def test_each_missing_field_is_named(client, world, body, error):
    if isinstance(body, dict) and body.get("routing_key") == "{key}":
        body["routing_key"] = world.database.integration_key
    response = post(client, body)
    assert response.status_code == 400
    assert error in response.json()["errors"]
    assert nothing_written()


def test_an_oversized_event_is_refused_with_its_size_and_nothing_is_written(client, world):
    body = pagerduty(world.database)
    body["payload"]["custom_details"] = {"log": "x" * (512 * 1024)}
    response = post(client, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert "the limit is 524288 bytes (512 KB)" in error
    assert nothing_written()


def test_the_endpoint_takes_no_get_and_needs_no_csrf_token(client, world):
    assert client.get(URL).status_code == 405
    # `client` enforces CSRF checks: a POST without a token still works (a key authenticates).
    assert post(client, pagerduty(world.database)).status_code == 202


def test_a_nul_character_postgresql_cannot_hold_is_replaced_and_the_event_kept(client, world):
    body = pagerduty(world.database)
    body["payload"]["summary"] = "disk\u0000full"
    assert post(client, body).status_code == 202
    assert Outage.objects.get().title == "disk\ufffdfull"
    assert InboundEvent.objects.get().payload["payload"]["summary"] == "disk\ufffdfull"
