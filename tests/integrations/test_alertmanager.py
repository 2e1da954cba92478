"""Alertmanager's webhook receiver, with the notification shape of Alertmanager's documentation."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from incidents.models import Outage
from integrations.models import InboundEvent
from notifications.models import Notification, Page

from .conftest import alertmanager


def url(system=None) -> str:
    return (
        f"/integrations/alertmanager/{system.integration_key}/"
        if system
        else ("/integrations/alertmanager/")
    )


def post(client, body, path, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


def test_a_firing_group_opens_an_outage_on_the_keys_system(client, world):
    response = post(client, alertmanager(), url(world.database))

    assert response.status_code == 202
    outage = Outage.objects.get()
    assert response.json() == {
        "status": "success",
        "outcome": "opened",
        "outage": outage.pk,
        "event": InboundEvent.objects.get().pk,
        "accepted": [0],
        "rejected": [],
    }
    assert outage.title == "BlackBox probe failure"
    assert outage.severity == Outage.Severity.SEV1  # severity="critical"
    assert list(outage.systems.all()) == [world.database]
    assert outage.started_at.isoformat() == "2025-03-03T09:55:45.828000+00:00"
    assert "has been down for over 5m" in outage.description
    assert "http://alertmanager.example.org:9093" in outage.description
    assert Page.objects.get().project == world.wiki
    assert Notification.objects.filter(kind="page").count() == 1
    event = InboundEvent.objects.get()
    assert (event.source, event.action, event.outcome, event.outage) == (
        "alertmanager",
        "firing",
        "opened",
        outage,
    )
    assert event.dedup_key == '{}/{severity="critical"}:{alertname="ProbeFailure"}'


def test_repeated_notifications_of_the_group_join_the_same_outage(client, world):
    post(client, alertmanager(), url(world.database))
    more = alertmanager()
    second = copy.deepcopy(more["alerts"][0])
    second["labels"]["instance"] = "https://other.example.org"
    second["fingerprint"] = "2b41cb82ddb3a320"
    more["alerts"].append(second)

    response = post(client, more, url(world.database))

    assert response.json()["outcome"] == "joined"
    assert Outage.objects.count() == 1
    assert Page.objects.count() == 1
    assert list(InboundEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "opened",
        "joined",
    ]


def test_a_resolved_group_resolves_its_outage_and_stops_the_pages(client, world):
    post(client, alertmanager(), url(world.database))

    response = post(client, alertmanager("resolved"), url(world.database))

    assert response.status_code == 202
    assert response.json()["outcome"] == "resolved"
    outage = Outage.objects.get()
    assert outage.status == Outage.Status.RESOLVED
    assert Page.objects.get().state == Page.State.STOPPED
    # A resolved notification for a group with nothing open changes nothing, and says so.
    again = post(client, alertmanager("resolved"), url(world.database))
    assert again.json()["outcome"] == "ignored"


def test_alerts_name_their_system_by_label_and_each_system_gets_its_outage(client, world):
    body = alertmanager()
    sso_alert = copy.deepcopy(body["alerts"][0])
    sso_alert["labels"]["steward_system"] = "sso"
    sso_alert["labels"]["severity"] = "warning"
    body["alerts"].append(sso_alert)

    post(client, body, url(world.database))

    by_system = {o.systems.get().slug: o for o in Outage.objects.all()}
    assert set(by_system) == {"core-db", "sso"}
    assert by_system["sso"].severity == Outage.Severity.SEV3
    assert set(Page.objects.values_list("project__slug", flat=True)) == {"wiki", "people"}

    # Later the SSO alert is gone from the group (resolved) while the database one still fires.
    body["alerts"][1]["status"] = "resolved"
    response = post(client, body, url(world.database))
    assert response.status_code == 202
    assert Outage.objects.get(systems=world.sso).status == Outage.Status.RESOLVED
    assert Outage.objects.get(systems=world.database).is_open


def test_a_truncated_group_does_not_resolve_what_it_may_have_left_out(client, world):
    body = alertmanager()
    sso_alert = copy.deepcopy(body["alerts"][0])
    sso_alert["labels"]["steward_system"] = "sso"
    body["alerts"].append(sso_alert)
    post(client, body, url(world.database))

    del body["alerts"][1]
    body["truncatedAlerts"] = 1
    post(client, body, url(world.database))

    assert Outage.objects.filter(resolved_at__isnull=True).count() == 2


def test_the_key_may_come_as_alertmanagers_bearer_credential_or_basic_password(client, world):
    bearer = post(
        client,
        alertmanager(),
        url(),
        HTTP_AUTHORIZATION=f"Bearer {world.database.integration_key}",
    )
    assert bearer.status_code == 202
    basic = base64.b64encode(f"alertmanager:{world.database.integration_key}".encode()).decode()
    again = post(client, alertmanager("resolved"), url(), HTTP_AUTHORIZATION=f"Basic {basic}")
    assert again.status_code == 202
    assert Outage.objects.get().status == Outage.Status.RESOLVED


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/integrations/alertmanager/", {}),
        ("/integrations/alertmanager/", {"HTTP_AUTHORIZATION": "Bearer nope"}),
        ("/integrations/alertmanager/nope/", {}),
    ],
)
def test_a_missing_or_unknown_key_is_refused_and_nothing_is_written(client, world, path, headers):
    response = post(client, alertmanager(), path, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not InboundEvent.objects.exists() and not Outage.objects.exists()


def test_a_label_naming_no_system_is_reported_and_recorded_not_refused(client, world):
    body = alertmanager()
    body["alerts"][0]["labels"]["steward_system"] = "mainframe"
    response = post(client, body, url(world.database))
    # A 4xx would make Alertmanager drop the notification: a 2xx that names the alert.
    assert response.status_code == 202
    assert response.json()["status"] == "partial"
    assert response.json()["outcome"] == "rejected"
    assert response.json()["rejected"] == [
        {
            "alert": 0,
            "fingerprint": "1a30ba71cca2921f",
            "alertname": "ProbeFailure",
            "errors": ["'alerts[0].labels.steward_system' names no IT system (got 'mainframe')."],
        }
    ]
    assert not Outage.objects.exists()
    event = InboundEvent.objects.get()
    assert (event.system, event.outcome) == (world.database, "rejected")
    assert event.rejected == response.json()["rejected"]


def test_bad_notifications_name_each_problem_and_write_nothing(client, world):
    body = alertmanager()
    body["version"] = "3"
    del body["groupKey"]
    body["alerts"][0]["status"] = "burning"
    body["alerts"][0]["startsAt"] = "soon"
    body["alerts"][0]["labels"] = {"severity": 1}

    response = post(client, body, url(world.database))

    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'version' must be \"4\" (Alertmanager's webhook format); got '3'.",
        "'groupKey' is missing or blank.",
        "'alerts[0].status' must be firing or resolved (got 'burning').",
        "'alerts[0].labels' must be an object of strings.",
        "'alerts[0].startsAt' must be an RFC 3339 date and time between the years 1 and 9999 "
        "(got 'soon').",
    ]
    assert not InboundEvent.objects.exists() and not Outage.objects.exists()


def test_malformed_and_oversized_bodies_are_refused(client, world):
    broken = post(client, b"{", url(world.database))
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["errors"][0]
    big = alertmanager(commonAnnotations={"description": "x" * (600 * 1024)})
    oversized = post(client, big, url(world.database))
    assert oversized.status_code == 413
    assert "512 KB" in oversized.json()["errors"][0]
    assert not InboundEvent.objects.exists()
