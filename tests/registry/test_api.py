"""The registry API over HTTP, against PostgreSQL: CRUD, search, support, impact, audit, and
bad input that must come back as a 400 naming the field with nothing written."""

import json
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from registry import services
from registry.models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    Team,
)
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    TeamFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

API = "/api/v1"
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def reader():
    return PersonFactory(display_name="Rita Reader").user


@pytest.fixture
def it_user():
    return it_staff_user(display_name="Ivan IT")


@pytest.fixture
def owned_project():
    """A project with its owner, returned as (project, owner user)."""
    role = ProjectRoleFactory(project__name="People app", project__slug="people-app")
    return role.project, role.person.user


# --- auth ------------------------------------------------------------------------------------


def test_token_from_username_and_password_authenticates_requests(reader):
    anonymous = APIClient()

    assert anonymous.get(f"{API}/projects/").status_code == 401
    wrong = anonymous.post(
        f"{API}/auth/token/", {"username": reader.username, "password": "nope"}, format="json"
    )
    assert wrong.status_code == 400
    response = anonymous.post(
        f"{API}/auth/token/", {"username": reader.username, "password": "pw"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(f"{API}/projects/").status_code == 200
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anonymous.get(f"{API}/projects/").status_code == 401


def test_session_auth_reads(reader):
    client = APIClient()
    client.login(username=reader.username, password="pw")

    assert client.get(f"{API}/people/").status_code == 200


def test_schema_and_docs_are_served_and_list_the_token_endpoint(reader):
    client = client_for(reader)

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/auth/token/" in paths
    assert "/api/v1/projects/{slug}/support/" in paths
    assert docs.status_code == 200


# --- people and contact methods -----------------------------------------------------------------


def test_people_list_nests_contact_methods_and_local_time(reader):
    tokyo = PersonFactory(display_name="Taro", time_zone="Asia/Tokyo")
    ContactMethodFactory(person=tokyo, kind="sms", address="+81312345678")

    response = client_for(reader).get(f"{API}/people/", {"search": "taro"})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    taro = body["results"][0]
    assert taro["time_zone"] == "Asia/Tokyo"
    assert taro["local_time"].endswith("+09:00")
    assert [m["address"] for m in taro["contact_methods"]] == ["+81312345678"]


def test_a_person_edits_their_own_record(reader):
    person = reader.person
    client = client_for(reader)

    response = client.patch(
        f"{API}/people/{person.pk}/",
        {"time_zone": "Europe/Paris", "working_hours": {"mon": [["08:00", "12:00"]]}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["time_zone"] == "Europe/Paris"
    person.refresh_from_db()
    assert person.time_zone == "Europe/Paris"
    assert person.working_hours == {"mon": [["08:00", "12:00"]]}
    assert AuditEntry.objects.filter(object_type="registry.person", actor=reader).exists()


def test_contact_methods_create_update_delete_on_own_record(reader):
    person = reader.person
    client = client_for(reader)
    url = f"{API}/people/{person.pk}/contact-methods/"

    created = client.post(url, {"kind": "sms", "address": "+14155550100"}, format="json")
    assert created.status_code == 201, created.content
    method_id = created.json()["id"]
    changed = client.patch(f"{url}{method_id}/", {"label": "mobile"}, format="json")
    assert changed.status_code == 200
    assert client.get(url).json()["results"][0]["label"] == "mobile"
    assert client.get(f"{API}/people/{person.pk}/").json()["contact_methods"][0]["label"] == (
        "mobile"
    )

    deleted = client.delete(f"{url}{method_id}/")
    assert deleted.status_code == 204
    assert not ContactMethod.objects.filter(pk=method_id).exists()


def test_contact_methods_of_another_person_are_scoped_to_that_person(reader):
    other = PersonFactory()
    mine = ContactMethodFactory(person=reader.person)

    response = client_for(reader).get(f"{API}/people/{other.pk}/contact-methods/{mine.pk}/")

    assert response.status_code == 404


# --- teams --------------------------------------------------------------------------------------


def test_it_staff_create_update_delete_a_team(it_user, reader):
    client = client_for(it_user)

    created = client.post(
        f"{API}/teams/",
        {"name": "Databases", "slug": "dba", "is_it": True, "members": [reader.person.pk]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["members"] == [reader.person.pk]
    changed = client.patch(f"{API}/teams/dba/", {"description": "Postgres"}, format="json")
    assert changed.status_code == 200
    assert Team.objects.get(slug="dba").description == "Postgres"
    assert client.delete(f"{API}/teams/dba/").status_code == 204
    assert not Team.objects.filter(slug="dba").exists()


# --- projects -----------------------------------------------------------------------------------


def test_any_signed_in_person_registers_a_project_and_becomes_its_owner(reader):
    team = TeamFactory(slug="hr")
    response = client_for(reader).post(
        f"{API}/projects/",
        {
            "name": "Leave planner",
            "slug": "leave-planner",
            "support_tier": "side_project",
            "team": "hr",
            "aliases": ["Holidays", "PTO"],
            "urls": ["https://leave.example.com/"],
            "runbook_url": "https://wiki.example.com/leave",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "leave-planner"
    assert body["team"] == "hr"
    assert body["aliases"] == ["Holidays", "PTO"]
    assert body["urls"] == ["https://leave.example.com/"]
    assert body["roles"] == [
        {"person": reader.person.pk, "display_name": "Rita Reader", "role": "owner", "order": 0}
    ]
    assert Project.objects.get(slug="leave-planner").team == team


def test_owner_updates_aliases_and_urls_as_lists_and_deletes(owned_project):
    project, owner = owned_project
    client = client_for(owner)

    response = client.patch(
        f"{API}/projects/{project.slug}/",
        {"aliases": ["Staff directory"], "urls": ["https://people.example.com/"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["aliases"] == ["Staff directory"]
    assert response.json()["urls"] == ["https://people.example.com/"]
    assert client.get(f"{API}/projects/{project.slug}/").json()["aliases"] == ["Staff directory"]
    assert client.delete(f"{API}/projects/{project.slug}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_search_finds_a_project_by_alias_and_by_a_pasted_url(reader):
    services.project_create(
        actor=None,
        name="People app",
        slug="people-app",
        aliases=["Staff directory"],
        urls=["https://people.example.com/"],
    )
    ProjectFactory(name="Other", slug="other")
    client = client_for(reader)

    def slugs(query):
        response = client.get(f"{API}/projects/", {"search": query})
        assert response.status_code == 200
        return [p["slug"] for p in response.json()["results"]]

    assert slugs("staff dir") == ["people-app"]
    assert slugs("https://PEOPLE.example.com:443/teams/42?tab=phones") == ["people-app"]
    assert slugs("nothing like it") == []


def test_projects_filter_by_support_tier_and_team(reader):
    team = TeamFactory(slug="finance")
    ProjectFactory(slug="ledger", support_tier="it_supported", team=team)
    ProjectFactory(slug="toy", support_tier="experimental")
    client = client_for(reader)

    def slugs(**params):
        return [p["slug"] for p in client.get(f"{API}/projects/", params).json()["results"]]

    assert slugs(support_tier="experimental") == ["toy"]
    assert slugs(team="finance") == ["ledger"]
    assert client.get(f"{API}/projects/", {"support_tier": "bogus"}).status_code == 400


def test_roles_are_added_and_removed_and_the_last_owner_stays(owned_project):
    project, owner = owned_project
    backup = PersonFactory(display_name="Bea Backup")
    client = client_for(owner)
    url = f"{API}/projects/{project.slug}/roles/"

    added = client.post(url, {"person": backup.pk, "role": "backup", "order": 3}, format="json")
    assert added.status_code == 201, added.content
    assert added.json() == {
        "person": backup.pk,
        "display_name": "Bea Backup",
        "role": "backup",
        "order": 3,
    }
    roles = client.get(f"{API}/projects/{project.slug}/").json()["roles"]
    assert [r["role"] for r in roles] == ["owner", "backup"]

    assert client.delete(f"{url}{backup.pk}/").status_code == 204
    assert not ProjectRole.objects.filter(project=project, person=backup).exists()

    last_owner = client.delete(f"{url}{owner.person.pk}/")
    assert last_owner.status_code == 400
    assert "role" in last_owner.json()
    assert ProjectRole.objects.filter(project=project, person=owner.person).exists()


def test_support_lists_owners_maintainers_backups_in_order_with_local_time(reader):
    project = ProjectFactory(slug="app", help_channel="#app-help", runbook_url="https://rb/x")
    tokyo = PersonFactory(display_name="Taro", time_zone="Asia/Tokyo", working_hours=ALL_DAY)
    ny = PersonFactory(display_name="Nia", time_zone="America/New_York", working_hours={})
    second = PersonFactory(display_name="Second backup")
    ProjectRoleFactory(project=project, person=second, role="backup", order=2)
    ProjectRoleFactory(project=project, person=ny, role="backup", order=1)
    ProjectRoleFactory(project=project, person=tokyo, role="owner", order=5)

    before = timezone.now()
    response = client_for(reader).get(f"{API}/projects/app/support/")

    assert response.status_code == 200
    body = response.json()
    assert body["help_channel"] == "#app-help"
    assert body["runbook_url"] == "https://rb/x"
    assert body["on_call_now"] == [] and body["on_call_next"] == []
    assert body["maintainers"] == []
    assert [s["name"] for s in body["owners"]] == ["Taro"]
    assert [s["name"] for s in body["backups"]] == ["Nia", "Second backup"]
    owner = body["owners"][0]
    assert owner["person"] == tokyo.pk
    assert owner["role"] == "owner"
    assert owner["time_zone"] == "Asia/Tokyo"
    assert owner["in_working_hours"] is True
    local = datetime.fromisoformat(owner["local_time"])
    assert local.utcoffset() == timedelta(hours=9)
    assert abs(local - before) < timedelta(minutes=1)
    assert body["backups"][0]["in_working_hours"] is False
    assert body["anyone_in_working_hours"] is True


def test_project_history_shows_the_audit_trail(owned_project):
    project, owner = owned_project
    client = client_for(owner)
    client.patch(f"{API}/projects/{project.slug}/", {"description": "v2"}, format="json")

    history = client.get(f"{API}/projects/{project.slug}/history/")

    assert history.status_code == 200
    latest = history.json()[0]
    assert latest["action"] == "update"
    assert latest["actor"] == owner.username
    assert latest["changes"]["description"] == ["", "v2"]
    # The search's upper-case copies are PostgreSQL's, derived from these fields: never audited
    # (the description's copy changed too).
    assert set(latest["changes"]) == {"description"}


# --- IT systems, dependencies, impact -----------------------------------------------------------


def test_it_staff_create_update_delete_a_system_and_only_they_see_the_key(it_user, reader):
    TeamFactory(slug="dc-ops", is_it=True)
    client = client_for(it_user)

    created = client.post(
        f"{API}/systems/",
        {
            "name": "Datacenter Austin",
            "slug": "dc-austin",
            "kind": "datacenter",
            "team": "dc-ops",
            "contacts": [it_user.person.pk],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    key = ITSystem.objects.get(slug="dc-austin").integration_key
    assert created.json()["integration_key"] == key
    assert created.json()["contacts"] == [it_user.person.pk]
    assert client_for(reader).get(f"{API}/systems/dc-austin/").json()["integration_key"] is None
    listed = client_for(reader).get(f"{API}/systems/").json()["results"]
    assert [s["integration_key"] for s in listed] == [None]

    changed = client.patch(f"{API}/systems/dc-austin/", {"kind": "network"}, format="json")
    assert changed.status_code == 200
    assert ITSystem.objects.get(slug="dc-austin").kind == "network"
    history = client.get(f"{API}/systems/dc-austin/history/").json()
    assert [h["action"] for h in history] == ["update", "create"]
    assert client.delete(f"{API}/systems/dc-austin/").status_code == 204
    assert not ITSystem.objects.filter(slug="dc-austin").exists()


def test_dependency_crud_and_filters(it_user, owned_project):
    project, owner = owned_project
    db = SystemFactory(slug="db")
    dc = SystemFactory(slug="dc")
    DependencyFactory(source_system=db, target_system=dc)
    client = client_for(owner)

    created = client.post(
        f"{API}/dependencies/",
        {"source_project": project.slug, "target_system": "db", "criticality": "soft"},
        format="json",
    )
    assert created.status_code == 201, created.content
    edge = created.json()
    assert edge["source_project"] == project.slug
    assert edge["source_system"] is None
    assert edge["target_system"] == "db"

    def ids(**params):
        return [d["id"] for d in client.get(f"{API}/dependencies/", params).json()["results"]]

    assert ids(source_project=project.slug) == [edge["id"]]
    assert len(ids(target_system="db")) == 1
    assert len(ids(source_system="db")) == 1
    assert len(ids(target_system="dc")) == 1

    changed = client.patch(
        f"{API}/dependencies/{edge['id']}/", {"criticality": "hard"}, format="json"
    )
    assert changed.status_code == 200
    assert Dependency.objects.get(pk=edge["id"]).criticality == "hard"
    assert client.delete(f"{API}/dependencies/{edge['id']}/").status_code == 204
    assert not Dependency.objects.filter(pk=edge["id"]).exists()


def test_impact_lists_projects_touched_transitively_with_their_path(reader):
    dc = SystemFactory(name="Datacenter Austin", slug="dc")
    app_server = SystemFactory(name="App server", slug="app-server")
    people = ProjectFactory(name="People", slug="people")
    wiki = ProjectFactory(name="Wiki", slug="wiki")
    DependencyFactory(source_system=app_server, target_system=dc)
    DependencyFactory(source_project=people, target_system=app_server)
    DependencyFactory(source_project=wiki, target_system=dc, criticality="soft")

    response = client_for(reader).get(f"{API}/systems/dc/impact/")

    assert response.status_code == 200
    body = response.json()
    assert body["system"] == "dc"
    assert body["count"] == 2
    by_slug = {p["slug"]: p for p in body["projects"]}
    assert by_slug["people"] == {
        "slug": "people",
        "name": "People",
        "path": ["App server", "Datacenter Austin"],
        "path_display": "People → App server → Datacenter Austin",
        "all_hard": True,
        "depth": 2,
    }
    assert by_slug["wiki"]["all_hard"] is False
    assert by_slug["wiki"]["depth"] == 1


def test_audit_list_filters_by_object(owned_project, reader):
    project, owner = owned_project
    other = ProjectFactory()
    client_for(owner).patch(f"{API}/projects/{project.slug}/", {"help_channel": "#x"}, "json")
    services.project_update(actor=None, project=other, help_channel="#y")

    response = client_for(reader).get(
        f"{API}/audit/", {"object_type": "registry.project", "object_id": str(project.pk)}
    )

    assert response.status_code == 200
    entries = response.json()["results"]
    assert len(entries) == 1
    assert entries[0]["object_repr"] == project.name
    assert entries[0]["changes"] == {"help_channel": ["", "#x"]}


# --- bad input: 400 naming the field, nothing written -------------------------------------------


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (AuditEntry, ContactMethod, Dependency, ITSystem, Person, Project, Team)
    }


@pytest.fixture
def world(it_user):
    """Systems a → b and a project, for the bad-input cases; the IT user may write all of it."""
    a, b = SystemFactory(name="Alpha", slug="a"), SystemFactory(name="Beta", slug="b")
    DependencyFactory(source_system=a, target_system=b)
    ProjectFactory(name="Taken", slug="taken")
    return it_user


LONG = "x" * 201

BAD_INPUT = [
    # (id, method, path, body, field)
    ("time zone", "patch", "/people/{me}/", {"time_zone": "Mars/Olympus"}, "time_zone"),
    ("time zone blank", "patch", "/people/{me}/", {"time_zone": ""}, "time_zone"),
    ("time zone too long", "patch", "/people/{me}/", {"time_zone": "x" * 300}, "time_zone"),
    (
        "hours end before start",
        "patch",
        "/people/{me}/",
        {"working_hours": {"mon": [["17:00", "09:00"]]}},
        "working_hours",
    ),
    (
        "hours not a weekday",
        "patch",
        "/people/{me}/",
        {"working_hours": {"funday": [["09:00", "17:00"]]}},
        "working_hours",
    ),
    ("hours not an object", "patch", "/people/{me}/", {"working_hours": "9-5"}, "working_hours"),
    (
        "hours bad time",
        "patch",
        "/people/{me}/",
        {"working_hours": {"mon": [["9am", "5pm"]]}},
        "working_hours",
    ),
    ("long display name", "patch", "/people/{me}/", {"display_name": LONG}, "display_name"),
    ("bad email", "patch", "/people/{me}/", {"email": "not-an-email"}, "email"),
    (
        "contact not a url",
        "post",
        "/people/{me}/contact-methods/",
        {"kind": "webhook", "address": "not a url"},
        "address",
    ),
    (
        "contact bad phone",
        "post",
        "/people/{me}/contact-methods/",
        {"kind": "sms", "address": "555-CALL-ME"},
        "address",
    ),
    (
        "contact bad kind",
        "post",
        "/people/{me}/contact-methods/",
        {"kind": "pigeon", "address": "x"},
        "kind",
    ),
    ("duplicate slug", "post", "/projects/", {"name": "New", "slug": "taken"}, "slug"),
    ("duplicate name", "post", "/projects/", {"name": "Taken", "slug": "new"}, "name"),
    ("long name", "post", "/projects/", {"name": LONG, "slug": "long"}, "name"),
    (
        "long description",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "description": "d" * 5001},
        "description",
    ),
    ("bad slug", "post", "/projects/", {"name": "N", "slug": "has space"}, "slug"),
    (
        "runbook not a url",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "runbook_url": "see the wiki"},
        "runbook_url",
    ),
    (
        "project url not a url",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "urls": ["ftp://files.example.com"]},
        "urls",
    ),
    (
        "aliases not a list",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "aliases": "one"},
        "aliases",
    ),
    ("long alias", "post", "/projects/", {"name": "N", "slug": "n", "aliases": [LONG]}, "aliases"),
    ("unknown team", "post", "/projects/", {"name": "N", "slug": "n", "team": "nope"}, "team"),
    (
        "bad tier",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "support_tier": "gold"},
        "support_tier",
    ),
    (
        "bad date",
        "post",
        "/projects/",
        {"name": "N", "slug": "n", "last_reviewed_on": "soon"},
        "last_reviewed_on",
    ),
    ("nul byte", "post", "/projects/", {"name": "N\x00", "slug": "n"}, "name"),
    (
        "project patch long",
        "patch",
        "/projects/taken/",
        {"help_channel": "h" * 301},
        "help_channel",
    ),
    ("duplicate system slug", "post", "/systems/", {"name": "Gamma", "slug": "a"}, "slug"),
    (
        "system unknown contact",
        "post",
        "/systems/",
        {"name": "G", "slug": "g", "contacts": [0]},
        "contacts",
    ),
    ("team long name", "post", "/teams/", {"name": LONG, "slug": "t"}, "name"),
    (
        "unknown target system",
        "post",
        "/dependencies/",
        {"source_system": "a", "target_system": "zz"},
        "target_system",
    ),
    (
        "unknown source project",
        "post",
        "/dependencies/",
        {"source_project": "zz", "target_system": "a"},
        "source_project",
    ),
    ("no source", "post", "/dependencies/", {"target_system": "a"}, "source_project"),
    (
        "both sources",
        "post",
        "/dependencies/",
        {"source_project": "taken", "source_system": "b", "target_system": "a"},
        "source_project",
    ),
    (
        "cycle",
        "post",
        "/dependencies/",
        {"source_system": "b", "target_system": "a"},
        "target_system",
    ),
    (
        "self loop",
        "post",
        "/dependencies/",
        {"source_system": "a", "target_system": "a"},
        "target_system",
    ),
    (
        "duplicate edge",
        "post",
        "/dependencies/",
        {"source_system": "a", "target_system": "b"},
        "target_system",
    ),
    (
        "bad criticality",
        "post",
        "/dependencies/",
        {"source_system": "b", "target_system": "a", "criticality": "very"},
        "criticality",
    ),
    (
        "role huge person id",
        "post",
        "/projects/taken/roles/",
        {"person": 10**30, "role": "owner"},
        "person",
    ),
    ("role bad role", "post", "/projects/taken/roles/", {"person": "{me}", "role": "boss"}, "role"),
    (
        "role order too big",
        "post",
        "/projects/taken/roles/",
        {"person": "{me}", "role": "backup", "order": 10**6},
        "order",
    ),
]


def _fill(value, me: int):
    if isinstance(value, str):
        return me if value == "{me}" else value.replace("{me}", str(me))
    if isinstance(value, dict):
        return {k: _fill(v, me) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(world, method, path, body, field):
    me = world.person.pk
    # "taken" is edited by its owners: make the IT user one, so that permission is not the issue.
    ProjectRoleFactory(project=Project.objects.get(slug="taken"), person=world.person)
    before = _counts()

    response = getattr(client_for(world), method)(
        f"{API}{_fill(path, me)}", _fill(body, me), format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _counts() == before


def test_a_cycle_is_named_in_the_error(world):
    response = client_for(world).post(
        f"{API}/dependencies/", {"source_system": "b", "target_system": "a"}, format="json"
    )

    assert response.status_code == 400
    assert "Beta → Alpha → Beta" in response.json()["target_system"][0]


def test_malformed_json_is_a_400_and_writes_nothing(world):
    before = _counts()

    response = client_for(world).generic(
        "POST", f"{API}/projects/", '{"name": "N", "slug": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert _counts() == before


@pytest.mark.parametrize(
    "body",
    ["[]", '"a string"', "42", "null"],
    ids=["list", "string", "number", "null"],
)
def test_a_json_body_that_is_not_an_object_is_a_400(world, body):
    before = _counts()

    response = client_for(world).generic(
        "POST", f"{API}/projects/", body, content_type="application/json"
    )

    assert response.status_code == 400
    assert _counts() == before


@pytest.mark.parametrize(
    "path",
    [
        "/people/99999999999999999999999/",
        "/people/99999999999999999999999/contact-methods/",
        "/dependencies/99999999999999999999999/",
        "/audit/99999999999999999999999/",
        "/projects/no-such-project/support/",
        "/systems/no-such-system/impact/",
    ],
)
def test_unknown_objects_are_404(reader, path):
    response = client_for(reader).get(f"{API}{path}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/projects/", {"search": "a\x00b"}),
        ("/people/", {"search": "a\x00b"}),
        ("/dependencies/", {"target_system": "a\x00b"}),
        ("/audit/", {"object_id": "1\x00"}),
    ],
)
def test_a_nul_byte_in_a_query_is_a_400_not_a_500(reader, path, params):
    response = client_for(reader).get(f"{API}{path}", params)

    assert response.status_code == 400


# --- no 5xx under generated bad input -----------------------------------------------------------

NASTY_VALUES = [
    None,
    "",
    "\x00",
    "x" * 10_000,
    -1,
    10**30,
    3.5,
    True,
    [],
    ["\x00"],
    {},
    {"nested": {"deep": [1, 2]}},
    "💥" * 300,
    "../../etc/passwd",
    "<script>alert(1)</script>",
]

WRITE_SHAPES = {
    "/projects/": [
        "name",
        "slug",
        "description",
        "support_tier",
        "help_channel",
        "runbook_url",
        "last_reviewed_on",
        "team",
        "aliases",
        "urls",
    ],
    "/projects/taken/": ["name", "aliases", "urls", "team", "last_reviewed_on"],
    "/projects/taken/roles/": ["person", "role", "order"],
    "/people/{me}/": ["display_name", "email", "time_zone", "working_hours"],
    "/people/{me}/contact-methods/": ["kind", "address", "label", "for_pages", "order"],
    "/teams/": ["name", "slug", "description", "is_it", "members"],
    "/systems/": ["name", "slug", "kind", "team", "contacts"],
    "/dependencies/": ["source_project", "source_system", "target_system", "criticality", "note"],
}

VALID = {
    "/projects/": {"name": "Fuzz", "slug": "fuzz"},
    "/projects/taken/": {},
    "/projects/taken/roles/": {"person": "{me}", "role": "backup"},
    "/people/{me}/": {},
    "/people/{me}/contact-methods/": {"kind": "email", "address": "fuzz@example.com"},
    "/teams/": {"name": "Fuzz", "slug": "fuzz"},
    "/systems/": {"name": "Fuzz", "slug": "fuzz"},
    "/dependencies/": {"source_system": "b", "target_system": "a"},
}


@pytest.mark.parametrize("path", list(WRITE_SHAPES))
def test_generated_bad_input_never_gives_a_5xx(world, path):
    """Every field of every write endpoint, with values of the wrong type, size and content."""
    user = world
    user.is_superuser = True
    user.save()
    me = user.person.pk
    client = client_for(user)
    method = "patch" if path in {"/projects/taken/", "/people/{me}/"} else "post"
    failures = []
    for field in WRITE_SHAPES[path]:
        for value in NASTY_VALUES:
            body = {**_fill(VALID[path], me), field: value}
            response = getattr(client, method)(f"{API}{_fill(path, me)}", body, format="json")
            if response.status_code >= 500:
                failures.append((field, value, response.status_code))
    assert failures == []


# --- a fixed number of queries ------------------------------------------------------------------


def _project_with_people(n: int) -> None:
    project = ProjectFactory()
    for i in range(3):
        ProjectRoleFactory(project=project, order=i)
    project.aliases.create(alias=f"alias {n}")
    project.urls.create(url=f"https://p{n}.example.com/")


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/projects/", _project_with_people),
        ("/people/", lambda n: ContactMethodFactory()),
        ("/systems/", lambda n: SystemFactory(team=TeamFactory())),
        ("/dependencies/", lambda n: DependencyFactory(source_project=ProjectFactory())),
        ("/teams/", lambda n: TeamFactory().members.add(PersonFactory())),
    ],
)
def test_lists_take_a_fixed_number_of_queries(reader, path, make):
    client = client_for(reader)
    make(0)
    client.get(f"{API}{path}")  # warm up what is cached per user (the IT-group check)
    with CaptureQueriesContext(connection) as small:
        assert client.get(f"{API}{path}").status_code == 200
    for n in range(1, 8):
        make(n)
    with CaptureQueriesContext(connection) as large:
        assert client.get(f"{API}{path}").status_code == 200

    assert len(large) == len(small)


@pytest.mark.parametrize(
    "path", ["/projects/", "/people/", "/systems/", "/dependencies/", "/audit/"]
)
@pytest.mark.parametrize(
    "params",
    [
        {"limit": "1" + "0" * 30},
        {"offset": "1" + "0" * 30},
        {"limit": "-5", "offset": "-1"},
        {"limit": "many"},
        {"ordering": "nope,-id"},
    ],
)
def test_paging_and_ordering_parameters_never_give_a_5xx(reader, path, params):
    ProjectFactory()

    response = client_for(reader).get(f"{API}{path}", params)

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/projects/app/", "/projects/app/support/", "/people/{me}/"])
def test_details_take_a_fixed_number_of_queries_whatever_the_people(reader, path):
    project = ProjectFactory(slug="app")
    client = client_for(reader)
    url = f"{API}{path.format(me=reader.person.pk)}"

    def add_people(n):
        for _ in range(n):
            role = ProjectRoleFactory(project=project, role="backup")
            ContactMethodFactory(person=reader.person, address=f"{role.pk}@example.com")

    add_people(1)
    client.get(url)  # warms what a process keeps (the on-call rules: `oncall.cache`)
    add_people(1)  # a write: an answer kept whole (`steward.fragments`) is worked out again
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    add_people(6)
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200

    assert len(large) == len(small) <= 5
