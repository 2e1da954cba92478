"""Owners' releases: recorded by the project's owners and maintainers (the service, the API with a
session or a token, the form on the project page), refused to everyone else with nothing written,
bad input answered 400 naming the field."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from changes import services
from changes.models import Release
from registry.models import AuditEntry, ProjectRole
from tests.factories import PersonFactory, ProjectRoleFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def maintainer(graph):
    person = PersonFactory(display_name="Mo Maintainer")
    ProjectRoleFactory(project=graph.people, person=person, role=ProjectRole.Role.MAINTAINER)
    return person.user


def api_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# --- the service -------------------------------------------------------------------------------


def test_an_owner_records_a_release_that_happened_now_by_default(graph):
    owner = graph.people_owner.user
    before = timezone.now()
    release = services.release_record(
        actor=owner, project=graph.people, summary=" v2.4.1 ", url="https://git.example.com/t/2.4.1"
    )
    assert release.summary == "v2.4.1"
    assert release.recorded_by == owner and release.via == Release.Via.API
    assert before <= release.happened_at <= timezone.now()
    entry = AuditEntry.objects.get(object_type="changes.release", object_id=str(release.pk))
    assert entry.actor == owner and entry.changes["summary"] == [None, "v2.4.1"]


def test_a_maintainer_records_one_in_the_past(graph, maintainer):
    at = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    release = services.release_record(
        actor=maintainer, project=graph.people, summary="v1", happened_at=at
    )
    assert release.happened_at == at


@pytest.mark.parametrize("who", ["backup", "reader", "other_owner", "it", "anonymous"])
def test_only_the_projects_editors_record_its_releases(graph, reader, it_user, who):
    actor = {
        "backup": graph.people_backup.user,
        "reader": reader,
        "other_owner": graph.wiki_owner.user,
        "it": it_user,
        "anonymous": AnonymousUser(),
    }[who]
    with pytest.raises(PermissionDenied):
        services.release_record(actor=actor, project=graph.people, summary="v1")
    assert not Release.objects.exists()


def test_a_release_ahead_of_now_or_with_a_bad_link_is_refused_naming_the_field(graph):
    owner = graph.people_owner.user
    with pytest.raises(ValidationError) as ahead:
        services.release_record(
            actor=owner,
            project=graph.people,
            summary="v1",
            happened_at=timezone.now() + timedelta(hours=1),
        )
    assert "happened_at" in ahead.value.message_dict
    with pytest.raises(ValidationError) as link:
        services.release_record(
            actor=owner, project=graph.people, summary="v1", url="javascript:alert(1)"
        )
    assert "url" in link.value.message_dict
    assert not Release.objects.exists()
    assert not AuditEntry.objects.filter(object_type="changes.release").exists()


# --- the API -----------------------------------------------------------------------------------


def test_an_owner_records_with_a_token_and_everyone_reads_the_list(graph, reader):
    token = Token.objects.create(user=graph.people_owner.user)
    ci = APIClient()
    ci.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = ci.post(
        f"{API}/projects/people/releases/",
        {
            "summary": "v3.0.0",
            "url": "https://git.example.com/people/releases/v3.0.0",
            "happened_at": "2025-03-03T10:00:00+01:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["recorded_by"] == graph.people_owner.user.username
    assert response.json()["happened_at"] == "2025-03-03T09:00:00Z"
    services.release_record(actor=graph.people_owner.user, project=graph.people, summary="v3.0.1")

    listed = api_for(reader).get(f"{API}/projects/people/releases/").json()["results"]
    assert [r["summary"] for r in listed] == ["v3.0.1", "v3.0.0"]
    assert listed[1]["project"] == "people" and listed[1]["via"] == "api"


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("reader", 403), ("other_owner", 403), ("backup", 403), ("it", 403)],
)
def test_the_api_refuses_everyone_but_the_editors(graph, reader, it_user, who, status):
    user = {
        "anonymous": None,
        "reader": reader,
        "other_owner": graph.wiki_owner.user,
        "backup": graph.people_backup.user,
        "it": it_user,
    }[who]
    response = api_for(user).post(
        f"{API}/projects/people/releases/", {"summary": "v1"}, format="json"
    )
    assert response.status_code == status
    assert not Release.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "summary"),
        ({"summary": ""}, "summary"),
        ({"summary": "x" * 1025}, "summary"),
        ({"summary": "v1", "url": "not a url"}, "url"),
        ({"summary": "v1", "happened_at": "yesterday"}, "happened_at"),
        ({"summary": "v1", "happened_at": "2999-01-01T00:00:00Z"}, "happened_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(graph, body, field):
    response = api_for(graph.people_owner.user).post(
        f"{API}/projects/people/releases/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Release.objects.exists()


def test_an_unknown_project_is_a_404(graph):
    response = api_for(graph.people_owner.user).post(
        f"{API}/projects/nope/releases/", {"summary": "v1"}, format="json"
    )
    assert response.status_code == 404


# --- the project page --------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_owner_records_one_on_the_page_with_htmx_in_their_own_time_zone(graph):
    owner = graph.people_owner
    owner.time_zone = "America/Los_Angeles"
    owner.save()
    response = page_client(owner.user).post(
        "/projects/people/releases/",
        {"summary": "v4 <b>bold</b>", "url": "", "happened_at": "2025-03-03T07:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="releases"')
    assert "v4 &lt;b&gt;bold&lt;/b&gt;" in body
    assert "Your time, America/Los_Angeles; empty for now." in body
    release = Release.objects.get()
    # 07:00 in Los Angeles (PST, UTC−8) is 15:00 UTC.
    assert release.happened_at == datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    assert release.via == Release.Via.PAGE


def test_the_page_form_shows_errors_beside_the_field_and_writes_nothing(graph):
    response = page_client(graph.people_owner.user).post(
        "/projects/people/releases/", {"summary": "", "url": "nope"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert "This field is required." in body and "Enter a valid URL." in body
    assert not Release.objects.exists()


def test_without_javascript_the_form_redirects_to_the_list(graph):
    response = page_client(graph.people_owner.user).post(
        "/projects/people/releases/", {"summary": "v5"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/people/#releases"


def test_readers_see_the_list_but_neither_the_form_nor_the_key(graph, reader):
    services.release_record(actor=graph.people_owner.user, project=graph.people, summary="v6")
    body = page_client(reader).get("/projects/people/").content.decode()
    assert "v6" in body and "by " + graph.people_owner.user.username in body
    assert "Record a release" not in body
    assert graph.people.integration_key not in body
    owner_page = page_client(graph.people_owner.user).get("/projects/people/").content.decode()
    assert "Record a release" in owner_page and graph.people.integration_key in owner_page
    assert "/v2/change/enqueue" in owner_page


@pytest.mark.parametrize("who", ["reader", "other_owner", "backup"])
def test_the_page_refuses_others(graph, reader, who):
    user = {
        "reader": reader,
        "other_owner": graph.wiki_owner.user,
        "backup": graph.people_backup.user,
    }[who]
    response = page_client(user).post("/projects/people/releases/", {"summary": "v1"})
    assert response.status_code == 403
    assert not Release.objects.exists()
