"""Done means: a CI tool's change event, sent with PagerDuty's official Python client (`pagerduty`,
`EventsApiV2Client.send_change_event`) to a live Steward, is a suspect change of a later incident
of the project itself (its key) and of a project depending on the IT system (the system's key),
on the incident's page and in the API; and the client hears PagerDuty's answers.

The client only speaks HTTPS, so the live server here serves TLS with a certificate from a
throwaway CA (trustme) that the client is told to trust: nothing in the client is patched.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta

import pagerduty
import pytest
import trustme
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test import Client
from django.test.testcases import LiveServerThread
from django.utils import timezone
from rest_framework.test import APIClient

from changes.models import Release

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class TLSLiveServerThread(LiveServerThread):
    """Django's live server, its listening socket wrapped in TLS."""

    def __init__(self, *args, context: ssl.SSLContext, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def _create_server(self, connections_override=None):
        server = super()._create_server(connections_override=connections_override)
        server.socket = self.context.wrap_socket(server.socket, server_side=True)
        return server


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def steward_https(ca) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    thread = TLSLiveServerThread("localhost", StaticFilesHandler, port=0, context=context)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"https://localhost:{thread.port}"
    finally:
        thread.terminate()


def ci_client(base_url: str, routing_key: str, ca: trustme.CA) -> pagerduty.EventsApiV2Client:
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    return pagerduty.EventsApiV2Client(routing_key, base_url=base_url, verify=trust)


def pagerduty_time(at) -> str:
    """A timestamp as PagerDuty's documentation writes them: 2020-07-17T08:42:58.315+0000."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def test_a_ci_change_event_is_a_suspect_of_later_incidents(steward_https, ca, world):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    # Wiki's CI, with Wiki's key; the database team's deploy tool, with the database's key.
    with ci_client(steward_https, world.wiki.integration_key, ca) as wiki_ci:
        wiki_ci.send_change_event(
            payload={
                "summary": "Wiki v5.2.0 deployed",
                "source": "github-actions/wiki/deploy#812",
                "timestamp": pagerduty_time(an_hour_ago),
                "custom_details": {"commit": "9f3c2e1", "environment": "production"},
            },
            links=[{"href": "https://git.example.com/wiki/releases/v5.2.0", "text": "v5.2.0"}],
        )
    with ci_client(steward_https, world.database.integration_key, ca) as database_tool:
        database_tool.send_change_event(
            payload={
                "summary": "PostgreSQL minor upgrade on db1",
                "source": "ansible",
                "timestamp": pagerduty_time(an_hour_ago - timedelta(minutes=30)),
            },
        )
    assert Release.objects.count() == 2

    # Later, Wiki's owner opens an incident.
    owner = APIClient()
    owner.force_authenticate(world.owner.user)
    opened = owner.post(
        "/api/v1/incidents/",
        {"project": "wiki", "title": "Pages fail to save", "impact": "partial"},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    incident = opened.json()["id"]

    suspects = owner.get(f"/api/v1/incidents/{incident}/suspects/").json()
    assert [(s["kind"], s["title"], s["system"], s["path_display"]) for s in suspects] == [
        ("release", "Wiki v5.2.0 deployed", None, "Wiki"),
        ("release", "PostgreSQL minor upgrade on db1", "core-db", "Wiki → Core database"),
    ]
    assert suspects[0]["url"] == "https://git.example.com/wiki/releases/v5.2.0"
    assert suspects[0]["hours_before"] == 1.0

    page = Client()
    page.force_login(world.owner.user)
    body = page.get(f"/incidents/{incident}/").content.decode()
    assert "Release of Wiki:</strong>" in body and "Wiki v5.2.0 deployed" in body
    assert "Release of Core database:</strong>" in body
    assert "PostgreSQL minor upgrade on db1" in body

    # People depends on neither: its incident has no suspect from them.
    people_owner = APIClient()
    people_owner.force_authenticate(world.people.roles.get().person.user)
    other = people_owner.post(
        "/api/v1/incidents/",
        {"project": "people", "title": "Slow", "impact": "degraded"},
        format="json",
    ).json()["id"]
    assert people_owner.get(f"/api/v1/incidents/{other}/suspects/").json() == []


def test_the_client_hears_a_refusal_as_pagerduty_gives_it(steward_https, ca, world):
    with (
        ci_client(steward_https, "0" * 32, ca) as stranger,
        pytest.raises(pagerduty.HttpError) as refused,
    ):
        stranger.send_change_event(payload={"summary": "v1"})
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["status"] == "invalid event"
    with (
        ci_client(steward_https, world.wiki.integration_key, ca) as wiki_ci,
        pytest.raises(pagerduty.HttpError) as no_summary,
    ):
        wiki_ci.send_change_event(payload={"source": "ci"})
    assert "'payload.summary' is missing or blank." in no_summary.value.response.json()["errors"]
    assert not Release.objects.exists()
