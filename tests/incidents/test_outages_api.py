"""The outages API over HTTP: opening, updates and resolution, bad input that must come back as
400/409 naming the reason with nothing written and nothing sent, and who may do what."""

import pytest
from rest_framework.test import APIClient

from changes.models import Change, ChangeResponse, ImpactedProject
from incidents.models import Outage, OutageUpdate
from incidents.services import outages as outage_services
from tests.changes.notified import notice_recipients, notification_count, paged_projects

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def written():
    """Everything that a refused request must leave untouched."""
    return (
        Change.objects.count(),
        Outage.objects.count(),
        OutageUpdate.objects.count(),
        ImpactedProject.objects.count(),
        ChangeResponse.objects.count(),
        notification_count(),
    )


# --- changes -----------------------------------------------------------------------------------


def test_opening_an_outage_through_the_api_pages_each_touched_project(graph, it_user):
    response = client_for(it_user).post(
        f"{API}/outages/",
        {"title": "DC power", "severity": "sev1", "systems": ["dc-austin"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "investigating"
    assert {i["project"] for i in body["impacted"]} == {"people", "connect"}
    assert paged_projects(Outage.objects.get()) == {graph.people.pk, graph.connect.pk}


def test_outage_updates_and_resolution_through_the_api(graph, it_user, reader):
    api = client_for(it_user)
    outage_id = api.post(
        f"{API}/outages/", {"title": "SSO down", "systems": ["sso"]}, format="json"
    ).json()["id"]
    url = f"{API}/outages/{outage_id}"

    update = api.post(
        f"{url}/updates/", {"status": "identified", "message": "Cert expired"}, format="json"
    )
    assert update.status_code == 201 and update.json()["status"] == "identified"
    assert [u["message"] for u in client_for(reader).get(f"{url}/updates/").json()] == [
        "Outage opened.",
        "Cert expired",
    ]
    resolved = api.post(f"{url}/resolve/", {"message": "Renewed"}, format="json")
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    outage = Outage.objects.get()
    assert notice_recipients(outage, "outage.resolved") == {graph.people_owner.pk}

    before = written()
    again = api.post(f"{url}/resolve/")
    assert again.status_code == 409
    assert again.json()["detail"] == "A resolved outage cannot be resolved."
    late = api.post(f"{url}/updates/", {"message": "More"}, format="json")
    assert late.status_code == 409
    assert written() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Down", "systems": []}, "systems"),
        ({"title": "Down", "systems": ["atlantis"]}, "systems"),
        ({"title": "Down", "systems": ["sso"], "severity": "sev9"}, "severity"),
        ({"title": "", "systems": ["sso"]}, "title"),
        ({"systems": ["sso"]}, "title"),
    ],
)
def test_bad_outage_input_is_a_400_naming_the_field_and_pages_nobody(graph, it_user, body, field):
    before = written()

    response = client_for(it_user).post(f"{API}/outages/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert written() == before


@pytest.mark.parametrize("who", ["reader", "owner"])
def test_readers_and_owners_cannot_open_update_or_resolve_outages(graph, it_user, reader, who):
    user = reader if who == "reader" else graph.people_owner.user
    outage = outage_services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
    api = client_for(user)
    before = written()

    assert (
        api.post(f"{API}/outages/", {"title": "X", "systems": ["sso"]}, format="json").status_code
        == 403
    )
    assert (
        api.post(
            f"{API}/outages/{outage.pk}/updates/", {"message": "hi"}, format="json"
        ).status_code
        == 403
    )
    assert api.post(f"{API}/outages/{outage.pk}/resolve/").status_code == 403
    assert api.get(f"{API}/outages/{outage.pk}/").status_code == 200
    assert written() == before


def test_outage_preview(graph, reader):
    response = client_for(reader).post(
        f"{API}/outages/preview/", {"systems": ["sso", "database"]}, format="json"
    )
    assert response.status_code == 200
    assert {p["project"] for p in response.json()["projects"]} == {"people", "wiki"}


def test_a_second_open_outage_with_the_same_dedup_key_is_a_409(graph, it_user):
    api = client_for(it_user)
    body = {"title": "Alert", "systems": ["sso"], "dedup_key": "mon-42"}
    assert api.post(f"{API}/outages/", body, format="json").status_code == 201
    before = written()
    again = api.post(f"{API}/outages/", body, format="json")
    assert again.status_code == 409 and "dedup key" in again.json()["detail"]
    assert written() == before
