"""The change and outage pages: forms in the author's time zone, service errors inline, the htmx
impact preview from the same URL, transitions, answers, and who may see the forms."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import Change, ChangeResponse, Outage

from .notified import notification_count, paged_projects

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "impact-preview"}


@pytest.fixture
def it_client(client, it_user):
    it_user.person.time_zone = "Europe/Berlin"
    it_user.person.save()
    client.force_login(it_user)
    return client


def form_data(graph, **overrides):
    data = {
        "title": "Patch SSO",
        "type": "normal",
        "risk": "low",
        "planned_start_at": "2030-07-01T22:00",
        "planned_end_at": "2030-07-01T23:30",
        "systems": [graph.dc.pk],
        "description": "",
        "rollback_plan": "",
        "reminder_lead_minutes": "1440, 60",
    }
    data.update(overrides)
    return data


def test_a_change_is_entered_in_the_authors_time_zone_and_stored_in_utc(graph, it_client):
    response = it_client.post("/it/changes/new/", form_data(graph))

    change = Change.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/it/changes/{change.pk}/"
    assert change.planned_start_at == datetime(2030, 7, 1, 22, 0, tzinfo=BERLIN)
    assert change.planned_start_at.utcoffset() == timedelta(0)  # read back in UTC
    assert change.planned_start_at.hour == 20
    assert change.state == "draft"
    edit = it_client.get(f"/it/changes/{change.pk}/edit/")
    assert 'value="2030-07-01T22:00"' in edit.content.decode()


def test_service_errors_show_inline_on_the_form_and_nothing_is_written(graph, it_client):
    response = it_client.post(
        "/it/changes/new/", form_data(graph, planned_end_at="2030-07-01T21:00")
    )

    assert response.status_code == 200
    assert "The change must end after it starts." in response.content.decode()
    assert not Change.objects.exists()


def test_the_preview_fragment_comes_from_the_same_url_for_htmx(graph, it_client):
    full = it_client.get("/it/changes/new/")
    assert "<html" in full.content.decode()
    assert 'hx-target="#impact-preview"' in full.content.decode()

    fragment = it_client.get(
        "/it/changes/new/",
        {"systems": [graph.dc.pk], "planned_start_at": "2030-07-01T22:00"},
        **HTMX,
    )

    html = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in html
    assert "2 projects</strong> touched" in html
    assert "SSO → Datacenter Austin" in html
    assert "<strong>1</strong> outside working hours" in html
    assert "Cai Owner" in html


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


def test_transition_buttons_move_the_change_and_a_refused_one_says_why(graph, it_client, it_user):
    change = services.change_create(
        actor=it_user,
        title="Patch",
        planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
        planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
        systems=[graph.dc],
    )
    refused = it_client.post(f"/it/changes/{change.pk}/complete/", follow=True)
    assert "A draft change cannot be completed." in refused.content.decode()

    it_client.post(f"/it/changes/{change.pk}/schedule/")

    change.refresh_from_db()
    assert change.state == "scheduled"
    page = it_client.get(f"/it/changes/{change.pk}/").content.decode()
    assert "People → SSO → Datacenter Austin" in page
    assert "No answers yet." in page


def test_an_owner_answers_from_the_email_link_and_it_sees_the_answer(
    graph, client, it_client, it_user
):
    change = services.change_create(
        actor=it_user,
        title="Patch",
        planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
        planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
        systems=[graph.dc],
    )
    services.change_schedule(actor=it_user, change=change)
    from django.test import Client

    owner = Client()
    owner.force_login(graph.people_owner.user)

    page = owner.get(f"/it/changes/{change.pk}/respond/")
    assert page.status_code == 200
    missing = owner.post(
        f"/it/changes/{change.pk}/respond/", {"project": graph.people.pk, "answer": "concern"}
    )
    assert "Say what the concern is." in missing.content.decode()
    owner.post(
        f"/it/changes/{change.pk}/respond/",
        {"project": graph.people.pk, "answer": "concern", "comment": "Payroll night"},
    )

    assert ChangeResponse.objects.get().comment == "Payroll night"
    assert "Payroll night" in it_client.get(f"/it/changes/{change.pk}/").content.decode()


def test_people_not_on_a_touched_project_cannot_open_the_respond_page(graph, client, it_user):
    change = services.change_create(
        actor=it_user,
        title="Patch",
        planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
        planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
        systems=[graph.sso],
    )
    services.change_schedule(actor=it_user, change=change)
    client.force_login(graph.wiki_owner.user)
    assert client.get(f"/it/changes/{change.pk}/respond/").status_code == 403


def test_readers_see_the_lists_but_not_the_forms(graph, client, reader, it_user):
    services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
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
    outage = services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
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
            change = services.change_create(
                actor=it_user,
                title=f"C{i}",
                planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
                planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
                systems=[graph.dc, graph.database],
            )
            services.change_schedule(actor=it_user, change=change)
            services.outage_open(actor=it_user, title=f"O{i}", systems=[graph.sso])

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
    change = services.change_create(
        actor=it_user,
        title="C",
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=1),
        systems=[graph.sso],
    )
    services.change_schedule(actor=it_user, change=change)
    outage = services.outage_open(actor=it_user, title="O", systems=[graph.sso])

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
        services.change_update(actor=it_user, change=change, systems=systems)
        services.change_respond(actor=person.user, change=change, answer="fine")
        services.outage_update(actor=it_user, outage=outage, message=f"still down {system}")
    assert change.impacted.count() == 3 and change.responses.count() == 2
    assert count() == before
