"""The outage pages (and the change and outage lists together): the htmx impact preview, paging
on open, updates and resolution, who may see the forms, a fixed number of queries."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes import services as change_services
from incidents.models import Outage
from incidents.services import outages as outage_services
from tests.changes.notified import notification_count, paged_projects

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "impact-preview"}


@pytest.fixture
def it_client(client, it_user):
    it_user.person.time_zone = "Europe/Berlin"
    it_user.person.save()
    client.force_login(it_user)
    return client


def test_the_outage_form_previews_too_and_opening_pages_each_touched_project(graph, it_client):
    fragment = it_client.get("/it/outages/new/", {"systems": [graph.sso.pk]}, **HTMX)
    assert "1 project</strong> touched" in fragment.content.decode()

    response = it_client.post(
        "/it/outages/new/",
        {"title": "SSO down", "severity": "sev1", "systems": [graph.sso.pk], "description": ""},
    )

    outage = Outage.objects.get()
    assert response.status_code == 302
    assert paged_projects(outage) == {graph.people.pk}


def test_an_outage_form_without_systems_says_so_and_pages_nobody(graph, it_client):
    response = it_client.post("/it/outages/new/", {"title": "Down", "severity": "sev1"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Outage.objects.exists()
    assert notification_count() == 0


def test_readers_see_the_lists_but_not_the_forms(graph, client, reader, it_user):
    outage_services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
    client.force_login(reader)

    assert client.get("/it/changes/").status_code == 200
    assert "SSO down" in client.get("/it/outages/").content.decode()
    assert client.get("/it/changes/new/").status_code == 403
    assert client.get("/it/outages/new/").status_code == 403
    assert (
        client.post("/it/outages/new/", {"title": "X", "systems": [graph.sso.pk]}).status_code
        == 403
    )
    assert Outage.objects.count() == 1
    client.logout()
    assert client.get("/it/changes/").status_code == 302  # to sign in


def test_outage_page_posts_updates_and_resolves(graph, it_client, it_user):
    outage = outage_services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
    it_client.post(
        f"/it/outages/{outage.pk}/update/", {"status": "identified", "message": "Cert expired"}
    )
    it_client.post(f"/it/outages/{outage.pk}/resolve/", {"message": "Renewed"})

    page = it_client.get(f"/it/outages/{outage.pk}/").content.decode()
    outage.refresh_from_db()
    assert outage.status == "resolved"
    assert "Cert expired" in page and "Renewed" in page
    again = it_client.post(f"/it/outages/{outage.pk}/resolve/", follow=True)
    assert "A resolved outage cannot be resolved." in again.content.decode()


def test_list_pages_make_a_fixed_number_of_queries(graph, it_client, it_user):
    def make(n):
        for i in range(n):
            change = change_services.change_create(
                actor=it_user,
                title=f"C{i}",
                planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
                planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
                systems=[graph.dc, graph.database],
                conflict_justification="Same window on purpose.",
            )
            change_services.change_schedule(actor=it_user, change=change)
            outage_services.outage_open(actor=it_user, title=f"O{i}", systems=[graph.sso])

    make(2)
    counts = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            it_client.get("/it/changes/")
            it_client.get("/it/outages/")
        counts.append(len(queries))
        make(3)
    assert counts[0] == counts[1]


def test_detail_pages_make_a_fixed_number_of_queries(graph, it_client, it_user):
    start = datetime(2030, 7, 1, 20, tzinfo=BERLIN)
    change = change_services.change_create(
        actor=it_user,
        title="C",
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=1),
        systems=[graph.sso],
    )
    change_services.change_schedule(actor=it_user, change=change)
    outage = outage_services.outage_open(actor=it_user, title="O", systems=[graph.sso])

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert it_client.get(f"/it/changes/{change.pk}/").status_code == 200
            assert it_client.get(f"/it/outages/{outage.pk}/").status_code == 200
        return len(queries)

    before = count()
    # More touched projects, answers and updates: the same number of queries.
    systems = [graph.sso]
    for person, system in ((graph.connect_owner, graph.mail), (graph.wiki_owner, graph.database)):
        systems.append(system)
        change_services.change_update(actor=it_user, change=change, systems=systems)
        change_services.change_respond(actor=person.user, change=change, answer="fine")
        outage_services.outage_update(actor=it_user, outage=outage, message=f"still down {system}")
    assert change.impacted.count() == 3 and change.responses.count() == 2
    assert count() == before
