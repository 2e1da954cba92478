"""The portal API: `incidents/` with updates, resolve and cause, and `status/` as JSON. Every write
refuses every role that may not use it; bad input names the field; a resolved incident takes no
update (409)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Incident, IncidentUpdate
from incidents.services import outages as it_services
from tests.factories import IncidentFactory, PersonFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def owner(graph):
    return graph.people_owner.user


def test_an_owner_runs_an_incident_through_the_api(graph, owner):
    client = api(owner)
    created = client.post(
        "/api/v1/incidents/",
        {"project": "people", "title": "Login loops", "impact": "major", "message": "Looking"},
        format="json",
    )
    assert created.status_code == 201, created.data
    pk = created.data["id"]
    assert created.data["project"] == "people" and created.data["status"] == "investigating"
    assert [u["message"] for u in created.data["updates"]] == ["Looking"]

    update = client.post(
        f"/api/v1/incidents/{pk}/updates/",
        {"message": "Found it", "status": "identified"},
        format="json",
    )
    assert update.status_code == 201 and update.data["status"] == "identified"
    listed = client.get(f"/api/v1/incidents/{pk}/updates/")
    assert [u["status"] for u in listed.data] == ["investigating", "identified"]

    edited = client.patch(f"/api/v1/incidents/{pk}/", {"impact": "partial"}, format="json")
    assert edited.status_code == 200 and edited.data["impact"] == "partial"

    resolved = client.post(f"/api/v1/incidents/{pk}/resolve/", {"message": "Done"}, format="json")
    assert resolved.status_code == 200 and resolved.data["status"] == "resolved"
    assert resolved.data["resolved_at"] and resolved.data["acknowledged_at"]

    late = client.post(f"/api/v1/incidents/{pk}/updates/", {"message": "again"}, format="json")
    assert late.status_code == 409
    assert late.data["code"] == "incident_resolved" and "resolved" in late.data["detail"]
    assert IncidentUpdate.objects.filter(incident_id=pk).count() == 3


def test_the_list_filters_by_project_and_status(graph, reader):
    IncidentFactory(project=graph.people, title="A")
    IncidentFactory(project=graph.wiki, title="B")
    IncidentFactory(
        project=graph.people,
        title="C",
        status="resolved",
        resolved_at=timezone.now() + timedelta(hours=1),
    )
    client = api(reader)
    everything = client.get("/api/v1/incidents/")
    assert everything.status_code == 200 and everything.data["count"] == 3
    people = client.get("/api/v1/incidents/", {"project__slug": "people"})
    assert {i["title"] for i in people.data["results"]} == {"A", "C"}
    open_people = client.get(
        "/api/v1/incidents/", {"project__slug": "people", "status": "investigating"}
    )
    assert [i["title"] for i in open_people.data["results"]] == ["A"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": "people"}, "title"),
        ({"project": "nope", "title": "x"}, "project"),
        ({"project": "people", "title": "x", "impact": "doom"}, "impact"),
        ({"project": "people", "title": "x" * 201}, "title"),
        ({"project": "people", "title": "x", "started_at": "yesterday-ish"}, "started_at"),
        ({"project": "people", "title": "   "}, "title"),
        ({"project": "people", "title": "x", "message": "m" * 10001}, "message"),
    ],
)
def test_bad_input_names_the_field(graph, owner, body, field):
    response = api(owner).post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400 and field in response.data, response.data
    assert not Incident.objects.exists()


def test_an_incident_starting_in_the_future_is_refused(graph, owner):
    response = api(owner).post(
        "/api/v1/incidents/",
        {"project": "people", "title": "x", "started_at": timezone.now() + timedelta(days=1)},
        format="json",
    )
    assert response.status_code == 400 and "started_at" in response.data


def test_every_write_refuses_who_may_not_run_the_projects_incidents(graph, reader):
    incident = IncidentFactory(project=graph.people)
    stranger = graph.wiki_owner.user
    backup = graph.people_backup.user
    for user in (reader, stranger, backup):
        client = api(user)
        assert (
            client.post(
                "/api/v1/incidents/", {"project": "people", "title": "x"}, format="json"
            ).status_code
            == 403
        )
        assert (
            client.patch(
                f"/api/v1/incidents/{incident.pk}/", {"title": "y"}, format="json"
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"/api/v1/incidents/{incident.pk}/updates/", {"message": "m"}, format="json"
            ).status_code
            == 403
        )
        assert (
            client.post(f"/api/v1/incidents/{incident.pk}/resolve/", {}, format="json").status_code
            == 403
        )
        assert (
            client.post(f"/api/v1/incidents/{incident.pk}/cause/", {}, format="json").status_code
            == 403
        )
        # Reading is fine.
        assert client.get(f"/api/v1/incidents/{incident.pk}/").status_code == 200
    anonymous = api()
    assert anonymous.get("/api/v1/incidents/").status_code in (401, 403)
    assert anonymous.post(
        "/api/v1/incidents/", {"project": "people", "title": "x"}, format="json"
    ).status_code in (401, 403)
    incident.refresh_from_db()
    assert incident.status == "investigating" and Incident.objects.count() == 1


def test_it_staff_and_admins_may_write(graph, it_user):
    admin = PersonFactory().user
    admin.is_superuser = True
    admin.save()
    for user in (it_user, admin):
        response = api(user).post(
            "/api/v1/incidents/", {"project": "wiki", "title": "x"}, format="json"
        )
        assert response.status_code == 201


def test_the_cause_action(graph, owner, it_user):
    incident = IncidentFactory(project=graph.people)
    outage = it_services.outage_open(
        actor=it_user,
        title="SSO",
        systems=[graph.sso],
        started_at=incident.started_at - timedelta(minutes=10),
    )
    client = api(owner)
    response = client.post(
        f"/api/v1/incidents/{incident.pk}/cause/", {"outage": outage.pk}, format="json"
    )
    assert response.status_code == 200 and response.data["cause_outage"] == outage.pk
    both = client.post(
        f"/api/v1/incidents/{incident.pk}/cause/",
        {"outage": outage.pk, "change": 123456},
        format="json",
    )
    assert both.status_code == 400 and "change" in both.data  # no such change
    cleared = client.post(f"/api/v1/incidents/{incident.pk}/cause/", {}, format="json")
    assert cleared.status_code == 200 and cleared.data["cause_outage"] is None


def test_project_status_as_json(graph, it_user, settings):
    settings.STEWARD_STATUS_PUBLIC = True
    IncidentFactory(project=graph.people, impact="degraded", title="Slow", public_summary="Slow")
    it_services.outage_open(actor=it_user, title="SSO", systems=[graph.sso], severity="sev3")
    response = api().get("/api/v1/status/people/")
    assert response.status_code == 200
    data = response.data
    assert data["project"] == "people" and data["state"] == "partial"
    # Anonymous: public wording only, no internal title.
    assert {(i["kind"], i["title"], i["summary"], i["state"]) for i in data["open"]} == {
        ("incident", None, "Slow", "degraded"),
        ("outage", None, "Service disruption", "partial"),
    }
    assert len(data["days"]) == 90 and data["days"][-1]["state"] == "partial"
    assert 0 <= data["uptime_90"] <= 100

    listed = api().get("/api/v1/status/")
    assert listed.status_code == 200
    states = {row["project"]: row["state"] for row in listed.data["results"]}
    assert states == {"connect": "operational", "people": "partial", "wiki": "operational"}
    assert api().get("/api/v1/status/nope/").status_code == 404


def test_status_json_is_signed_in_only_when_the_setting_says_so(graph, reader, settings):
    settings.STEWARD_STATUS_PUBLIC = False
    assert api().get("/api/v1/status/people/").status_code in (401, 403)
    assert api().get("/api/v1/status/").status_code in (401, 403)
    assert api(reader).get("/api/v1/status/people/").status_code == 200


def test_the_schema_describes_every_portal_endpoint(graph, reader):
    schema = api(reader).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/incidents/", "post"),
        ("/api/v1/incidents/{id}/", "patch"),
        ("/api/v1/incidents/{id}/updates/", "post"),
        ("/api/v1/incidents/{id}/resolve/", "post"),
        ("/api/v1/incidents/{id}/cause/", "post"),
        ("/api/v1/status/{slug}/", "get"),
    ]:
        operation = paths[path][method]
        assert "200" in operation["responses"] or "201" in operation["responses"]
        if method != "get":
            assert "requestBody" in operation and "403" in operation["responses"]
    assert "409" in paths["/api/v1/incidents/{id}/updates/"]["post"]["responses"]
    status_ref = paths["/api/v1/status/{slug}/"]["get"]["responses"]["200"]["content"]
    assert "ProjectStatusOut" in str(status_ref)


def test_status_json_runs_a_fixed_number_of_queries(graph, it_user):
    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert api().get(url).status_code == 200
        return len(queries)

    # One of each first: an empty prefetch skips its query.
    IncidentFactory(project=graph.people)
    small = (count("/api/v1/status/people/"), count("/api/v1/status/"))
    for i in range(10):
        IncidentFactory(project=graph.people)
        IncidentFactory(
            project=graph.wiki,
            started_at=timezone.now() - timedelta(days=i + 1),
            resolved_at=timezone.now() - timedelta(days=i),
            status="resolved",
        )
        it_services.outage_open(actor=it_user, title=f"DC {i}", systems=[graph.dc])
    ProjectFactory(support_tier="retired", slug="old")
    assert (count("/api/v1/status/people/"), count("/api/v1/status/")) == small
    listed = api().get("/api/v1/status/").data["results"]
    assert "old" not in {row["project"] for row in listed}
    assert api().get("/api/v1/status/old/").status_code == 200
