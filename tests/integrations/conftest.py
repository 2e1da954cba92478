"""An IT system with a project that depends on it, whose owner is paged by email, and the
payloads monitors send, in the shapes of PagerDuty's and Alertmanager's own documentation."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client

from integrations.ratelimit import PREFIX
from registry.models import ContactMethod, Dependency, ITSystem, Person, Project, ProjectRole
from steward.health import BEACON_PREFIX, redis_connection
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
)

NOW = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)

# PagerDuty's "Send an alert event" example (Events API v2), routing key filled in per test.
PAGERDUTY_TRIGGER = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "samplekeyhere",
    "dedup_key": "samplekeyhere",
    "images": [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Example Monitoring Client",
    "client_url": "https://monitoring.example.com",
}

# Alertmanager's webhook notification (version 4), as its configuration documentation gives it.
ALERTMANAGER_FIRING = {
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="ProbeFailure"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "steward",
    "groupLabels": {"alertname": "ProbeFailure"},
    "commonLabels": {"alertname": "ProbeFailure", "job": "http_checks", "severity": "critical"},
    "commonAnnotations": {"summary": "BlackBox probe failure"},
    "externalURL": "http://alertmanager.example.org:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ProbeFailure",
                "instance": "https://server.example.org",
                "job": "http_checks",
                "severity": "critical",
            },
            "annotations": {
                "description": "Instance https://server.example.org has been down for over 5m.",
                "summary": "BlackBox probe failure: https://server.example.org",
            },
            "startsAt": "2025-03-03T09:55:45.828Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0",
            "fingerprint": "1a30ba71cca2921f",
        }
    ],
}


def pagerduty(system: ITSystem, **changes) -> dict:
    event = copy.deepcopy(PAGERDUTY_TRIGGER)
    event["routing_key"] = system.integration_key
    event.update(changes)
    return event


def alertmanager(status: str = "firing", **changes) -> dict:
    notification = copy.deepcopy(ALERTMANAGER_FIRING)
    notification["status"] = status
    for alert in notification["alerts"]:
        alert["status"] = status
        if status == "resolved":
            alert["endsAt"] = "2025-03-03T10:05:45.828Z"
    notification.update(changes)
    return notification


@dataclass
class World:
    database: ITSystem
    sso: ITSystem
    wiki: Project
    people: Project
    owner: Person


@pytest.fixture
def world(db) -> World:
    """Wiki depends on the database, People on SSO; each has an owner paged by email."""
    database = SystemFactory(name="Core database", slug="core-db")
    sso = SystemFactory(name="SSO", slug="sso")
    wiki = ProjectFactory(name="Wiki", slug="wiki")
    people = ProjectFactory(name="People", slug="people")
    DependencyFactory(
        source_project=wiki, target_system=database, criticality=Dependency.Criticality.HARD
    )
    DependencyFactory(
        source_project=people, target_system=sso, criticality=Dependency.Criticality.HARD
    )
    owner = PersonFactory(display_name="Olga Owner")
    ContactMethodFactory(person=owner, kind=ContactMethod.Kind.EMAIL, address="olga@example.com")
    ProjectRoleFactory(project=wiki, person=owner, role=ProjectRole.Role.OWNER)
    other = PersonFactory(display_name="Pat People")
    ContactMethodFactory(person=other, kind=ContactMethod.Kind.EMAIL, address="pat@example.com")
    ProjectRoleFactory(project=people, person=other, role=ProjectRole.Role.OWNER)
    return World(database, sso, wiki, people, owner)


@pytest.fixture
def client() -> Client:
    # enforce_csrf_checks: the inbound endpoints must work without a CSRF token.
    return Client(enforce_csrf_checks=True)


@pytest.fixture(autouse=True)
def clean_redis_keys():
    """Rate-limit windows and health beacons are Redis keys: each test starts without them."""

    def wipe() -> None:
        connection = redis_connection()
        if connection is None:
            return
        for prefix in (PREFIX, BEACON_PREFIX):
            for key in connection.scan_iter(f"{prefix}*"):
                connection.delete(key)

    wipe()
    yield
    wipe()
