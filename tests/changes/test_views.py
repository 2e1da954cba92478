"""The change pages: forms in the author's time zone, service errors inline, the htmx impact
preview from the same URL, transitions, answers."""

import re
import zoneinfo
from datetime import datetime, timedelta

import pytest

from changes import services as change_services
from changes.models import Change, ChangeResponse

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


def test_the_preview_shows_owners_their_own_clock_not_the_viewers(graph, it_client):
    """IT in Berlin plans 22:00 on 1 July 2030 (20:00 UTC): Pia, in Los Angeles, is at 13:00."""
    graph.people_owner.time_zone = "America/Los_Angeles"
    graph.people_owner.save()

    fragment = it_client.get(
        "/it/changes/new/",
        {"systems": [graph.dc.pk], "planned_start_at": "2030-07-01T22:00"},
        **HTMX,
    )

    text = " ".join(re.sub(r"<[^>]+>", " ", fragment.content.decode()).split())
    assert "Pia Owner ( Mon 13:00 America/Los_Angeles" in text
    assert "22:00 America/Los_Angeles" not in text


def test_transition_buttons_move_the_change_and_a_refused_one_says_why(graph, it_client, it_user):
    change = change_services.change_create(
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
    change = change_services.change_create(
        actor=it_user,
        title="Patch",
        planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
        planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
        systems=[graph.dc],
    )
    change_services.change_schedule(actor=it_user, change=change)
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
    change = change_services.change_create(
        actor=it_user,
        title="Patch",
        planned_start_at=datetime(2030, 7, 1, 20, tzinfo=BERLIN),
        planned_end_at=datetime(2030, 7, 1, 21, tzinfo=BERLIN),
        systems=[graph.sso],
    )
    change_services.change_schedule(actor=it_user, change=change)
    client.force_login(graph.wiki_owner.user)
    assert client.get(f"/it/changes/{change.pk}/respond/").status_code == 403
