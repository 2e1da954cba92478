""" "Someone is on it": who acknowledged what is open on a project and when, on the project page
(names for signed-in readers), the report confirmation, and the status page and API (public:
that it was acknowledged and when, never a name or an internal title)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from incidents.models import Incident
from incidents.services import incidents as incident_services
from incidents.services import outages as outage_services
from notifications.selectors import pages_for_event
from notifications.services import page_ack
from tests.factories import PersonFactory, ProjectFactory

pytestmark = pytest.mark.django_db

ACK_AT = datetime(2026, 3, 5, 21, 40, tzinfo=UTC)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acknowledged_outage(graph, it_user):
    """An outage on SSO, which People depends on; People's page acknowledged by Bo Backup."""
    outage = outage_services.outage_open(
        actor=it_user, title="SSO LDAP bind storm", systems=[graph.sso], public_summary=""
    )
    [page] = [p for p in pages_for_event(outage) if p.project == graph.people]
    page_ack(page=page, person=graph.people_backup, via="web", now=ACK_AT)
    return outage


def test_the_project_page_says_who_acknowledged_the_outage_and_when_in_the_viewers_zone(
    graph, acknowledged_outage
):
    viewer = PersonFactory(display_name="Kim Reader", time_zone="Asia/Kolkata")
    body = signed_in(viewer.user).get("/projects/people/").content.decode()
    banner = body[body.index("status-banner") : body.index("Status page")]
    assert "Someone is on it" in banner and "acknowledged by Bo Backup" in banner
    # 21:40 UTC is 03:10 the next day in Kolkata (+05:30), the zone named by its IANA name.
    local = ACK_AT.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    assert local.strftime("%a %-d %b, %H:%M") == "Fri 6 Mar, 03:10"
    assert "Fri 6 Mar, 03:10 Asia/Kolkata" in banner
    assert "SSO LDAP bind storm" in banner  # signed in: IT's own title


def test_an_outage_nobody_acknowledged_says_so(graph, it_user, reader):
    outage_services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
    body = signed_in(reader).get("/projects/people/").content.decode()
    assert "Not acknowledged yet" in body and "Someone is on it" not in body


def test_the_public_status_page_says_that_it_was_acknowledged_and_when_without_names(
    client, graph, acknowledged_outage, settings
):
    settings.STEWARD_STATUS_PUBLIC = True
    body = client.get("/status/people/").content.decode()
    assert "Someone is on it" in body
    assert "Thu 5 Mar, 21:40 UTC" in body  # anonymous: UTC, named
    assert "Bo Backup" not in body and "SSO LDAP bind storm" not in body
    assert "IT outage: Service disruption" in body


def test_the_anonymous_status_api_has_the_acknowledgement_and_never_the_internal_title(
    graph, acknowledged_outage, settings
):
    settings.STEWARD_STATUS_PUBLIC = True
    incident_services.incident_open(
        actor=graph.people_owner.user,
        project=graph.people,
        title="Pia thinks the cache is stale",
        public_summary="Slow pages",
    )
    anonymous = APIClient()
    for url in ("/api/v1/status/people/", "/api/v1/status/"):
        response = anonymous.get(url)
        raw = response.content.decode()
        assert response.status_code == 200
        assert "SSO LDAP bind storm" not in raw and "cache is stale" not in raw, url
        assert "Bo Backup" not in raw and "Pia" not in raw, url
    detail = anonymous.get("/api/v1/status/people/").json()
    items = {i["kind"]: i for i in detail["open"]}
    assert items["outage"]["summary"] == "Service disruption" and items["outage"]["title"] is None
    assert items["outage"]["acknowledged"] is True
    assert datetime.fromisoformat(items["outage"]["acknowledged_at"]) == ACK_AT
    assert items["incident"]["summary"] == "Slow pages" and items["incident"]["title"] is None
    assert items["incident"]["acknowledged"] is False

    staff = APIClient()
    staff.force_authenticate(graph.people_owner.user)
    titles = {i["title"] for i in staff.get("/api/v1/status/people/").json()["open"]}
    assert titles == {"SSO LDAP bind storm", "Pia thinks the cache is stale"}


def test_an_incident_is_acknowledged_by_whoever_first_posts_an_update(graph, reader, it_user):
    incident = incident_services.incident_open(
        actor=graph.people_owner.user, project=graph.people, title="Slow"
    )
    body = signed_in(reader).get("/projects/people/").content.decode()
    assert "Not acknowledged yet" in body
    incident_services.incident_update_post(
        actor=it_user, incident=incident, message="Looking at the cache."
    )
    body = signed_in(reader).get("/projects/people/").content.decode()
    assert "acknowledged by Ivan IT" in body  # not Pia, who opened it
    assert Incident.objects.get().acknowledged_at is not None


def test_the_report_confirmation_says_someone_is_on_the_outage(graph, acknowledged_outage):
    user = PersonFactory(display_name="Uma User").user
    response = signed_in(user).post(
        "/projects/people/report/", {"description": "I cannot sign in."}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "already known" in body
    assert "Someone is on it" in body and "acknowledged by Bo Backup" in body


def _rows_read_from(plan: dict, table: str) -> float:
    """Rows a plan read from `table` (returned and filtered out, every loop), from EXPLAIN's
    JSON."""
    read = 0.0
    if plan.get("Relation Name") == table:
        rows = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        read += rows * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", []):
        read += _rows_read_from(child, table)
    return read


def test_what_is_open_reads_only_the_pages_of_what_it_shows(graph, acknowledged_outage):
    """Who acknowledged an open outage on a project is its page for that outage, found by the
    page's unique key: the read never goes through the pages of every other outage (2,000 here,
    millions in a company's years), whatever plan PostgreSQL would pick for a join."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from incidents.models import Outage
    from incidents.status import _OPEN_SQL, open_issues_for
    from notifications.models import Page

    outage_type = ContentType.objects.get_for_model(Outage)
    others = [ProjectFactory() for _ in range(20)]

    def pages(event_type, first_id):
        Page.objects.bulk_create(
            Page(
                event_type=event_type,
                event_id=first_id + i,
                project=others[i % len(others)],
                subject="Old",
                opened_at=ACK_AT,
                acknowledged_at=ACK_AT,
            )
            for i in range(2000)
        )

    # Statistics that say outages' pages are rare (taken when most pages were incidents'), then
    # a burst of outages' pages autovacuum has not analyzed yet: what the portal meets during a
    # storm. The plan must not depend on the statistics being fresh.
    pages(ContentType.objects.get_for_model(Incident), 10_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_page")
    pages(outage_type, 20_000)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _OPEN_SQL, {"ids": [graph.people.pk]})
        [[plan]] = cursor.fetchone()
    [item] = [i for i in open_issues_for([graph.people.pk])[graph.people.pk].items]
    assert item.acknowledged_by == "Bo Backup"
    assert _rows_read_from(plan["Plan"], "notifications_page") <= 1
