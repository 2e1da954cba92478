"""Every write endpoint of the registry API × every role: who may, who is refused, and that a
refused write leaves nothing behind (not even an audit entry)."""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

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
ROLES = ("anonymous", "reader", "other_owner", "owner", "it_staff", "admin")
SIGNED_IN = set(ROLES) - {"anonymous"}


@dataclass
class World:
    users: dict
    owner_person: Person
    backup: Person
    newcomer: Person
    contact: ContactMethod
    project_edge: Dependency
    system_edge: Dependency


@pytest.fixture
def world() -> World:
    owner = PersonFactory(display_name="Olga Owner")
    other_owner = PersonFactory(display_name="Otto Other")
    admin = PersonFactory(display_name="Ada Admin", user__is_superuser=True, user__is_staff=True)
    app = ProjectFactory(name="App", slug="app")
    other = ProjectFactory(name="Other", slug="other")
    ProjectRoleFactory(project=app, person=owner, role="owner")
    ProjectRoleFactory(project=other, person=other_owner, role="owner")
    backup = PersonFactory(display_name="Bea Backup")
    ProjectRoleFactory(project=app, person=backup, role="backup", order=1)
    TeamFactory(name="Ops", slug="ops", is_it=True)
    db, dc = SystemFactory(name="DB", slug="db"), SystemFactory(name="DC", slug="dc")
    SystemFactory(name="Cache", slug="cache")
    return World(
        users={
            "anonymous": None,
            "reader": PersonFactory(display_name="Rita Reader").user,
            "other_owner": other_owner.user,
            "owner": owner.user,
            "it_staff": it_staff_user(display_name="Ivan IT"),
            "admin": admin.user,
        },
        owner_person=owner,
        backup=backup,
        newcomer=PersonFactory(display_name="Nick New"),
        contact=ContactMethodFactory(person=owner, kind="email", address="olga@example.com"),
        project_edge=DependencyFactory(source_project=app, target_system=db),
        system_edge=DependencyFactory(source_system=db, target_system=dc),
    )


@dataclass(frozen=True)
class Write:
    name: str
    method: str
    path: str
    body: dict | None
    allowed: frozenset
    ok: int


def _write(name, method, path, body, allowed, ok):
    return Write(name, method, path, body, frozenset(allowed), ok)


OWNER_ADMIN = {"owner", "admin"}
IT_ADMIN = {"it_staff", "admin"}
EDGE_FROM_PROJECT = {"owner", "it_staff", "admin"}

WRITES = [
    _write(
        "person update",
        "patch",
        "/people/{owner_person}/",
        {"display_name": "O."},
        OWNER_ADMIN,
        200,
    ),
    _write(
        "contact add",
        "post",
        "/people/{owner_person}/contact-methods/",
        {"kind": "sms", "address": "+14155550100"},
        OWNER_ADMIN,
        201,
    ),
    _write(
        "contact update",
        "patch",
        "/people/{owner_person}/contact-methods/{contact}/",
        {"address": "olga@work.example.com"},
        OWNER_ADMIN,
        200,
    ),
    _write(
        "contact delete",
        "delete",
        "/people/{owner_person}/contact-methods/{contact}/",
        None,
        OWNER_ADMIN,
        204,
    ),
    _write("team create", "post", "/teams/", {"name": "DBA", "slug": "dba"}, IT_ADMIN, 201),
    _write("team update", "patch", "/teams/ops/", {"description": "on call"}, IT_ADMIN, 200),
    _write("team delete", "delete", "/teams/ops/", None, IT_ADMIN, 204),
    _write("project create", "post", "/projects/", {"name": "New", "slug": "new"}, SIGNED_IN, 201),
    _write("project update", "patch", "/projects/app/", {"help_channel": "#app"}, OWNER_ADMIN, 200),
    _write("project delete", "delete", "/projects/app/", None, OWNER_ADMIN, 204),
    _write(
        "role set",
        "post",
        "/projects/app/roles/",
        {"person": "{newcomer}", "role": "backup"},
        OWNER_ADMIN,
        201,
    ),
    _write("role remove", "delete", "/projects/app/roles/{backup}/", None, OWNER_ADMIN, 204),
    _write("system create", "post", "/systems/", {"name": "SSO", "slug": "sso"}, IT_ADMIN, 201),
    _write("system update", "patch", "/systems/db/", {"kind": "database"}, IT_ADMIN, 200),
    _write("system delete", "delete", "/systems/db/", None, IT_ADMIN, 204),
    _write(
        "edge from project add",
        "post",
        "/dependencies/",
        {"source_project": "app", "target_system": "dc"},
        EDGE_FROM_PROJECT,
        201,
    ),
    _write(
        "edge from project update",
        "patch",
        "/dependencies/{project_edge}/",
        {"criticality": "soft"},
        EDGE_FROM_PROJECT,
        200,
    ),
    _write(
        "edge from project remove",
        "delete",
        "/dependencies/{project_edge}/",
        None,
        EDGE_FROM_PROJECT,
        204,
    ),
    _write(
        "edge from system add",
        "post",
        "/dependencies/",
        {"source_system": "cache", "target_system": "db"},
        IT_ADMIN,
        201,
    ),
    _write(
        "edge from system update",
        "patch",
        "/dependencies/{system_edge}/",
        {"note": "replica too"},
        IT_ADMIN,
        200,
    ),
    _write(
        "edge from system remove", "delete", "/dependencies/{system_edge}/", None, IT_ADMIN, 204
    ),
]


def _ids(world: World) -> dict[str, int]:
    return {
        "owner_person": world.owner_person.pk,
        "contact": world.contact.pk,
        "newcomer": world.newcomer.pk,
        "backup": world.backup.pk,
        "project_edge": world.project_edge.pk,
        "system_edge": world.system_edge.pk,
    }


def _fill(value, ids):
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _state() -> dict:
    """Everything a write could touch, compared before and after a refused one."""
    return {
        "audit": AuditEntry.objects.count(),
        "people": list(Person.objects.order_by("pk").values()),
        "contacts": list(ContactMethod.objects.order_by("pk").values()),
        "teams": list(Team.objects.order_by("pk").values()),
        "projects": list(Project.objects.order_by("pk").values()),
        "roles": list(ProjectRole.objects.order_by("pk").values()),
        "systems": list(ITSystem.objects.order_by("pk").values()),
        "edges": list(Dependency.objects.order_by("pk").values()),
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_every_write_endpoint_for_every_role(world, write, role):
    client = APIClient()
    user = world.users[role]
    if user is not None:
        client.force_authenticate(user)
    ids = _ids(world)
    before = _state()

    response = getattr(client, write.method)(
        f"{API}{_fill(write.path, ids)}", _fill(write.body, ids), format="json"
    )

    if role in write.allowed:
        assert response.status_code == write.ok, response.content
        assert AuditEntry.objects.count() > before["audit"]
    else:
        assert response.status_code == (401 if role == "anonymous" else 403), response.content
        assert _state() == before


READS = [
    "/people/",
    "/people/{owner_person}/",
    "/people/{owner_person}/contact-methods/",
    "/teams/",
    "/projects/",
    "/projects/app/",
    "/projects/app/support/",
    "/projects/app/history/",
    "/systems/",
    "/systems/db/",
    "/systems/db/impact/",
    "/systems/db/history/",
    "/dependencies/",
    "/audit/",
]


@pytest.mark.parametrize("path", READS)
def test_reading_needs_a_signed_in_user(world, path):
    url = f"{API}{_fill(path, _ids(world))}"
    signed_in = APIClient()
    signed_in.force_authenticate(world.users["reader"])

    assert APIClient().get(url).status_code == 401
    assert signed_in.get(url).status_code == 200


def test_the_integration_key_is_shown_to_it_staff_and_admin_only(world):
    key = ITSystem.objects.get(slug="db").integration_key
    seen = {}
    for role in SIGNED_IN:
        client = APIClient()
        client.force_authenticate(world.users[role])
        seen[role] = client.get(f"{API}/systems/db/").json()["integration_key"]

    assert seen == {role: key if role in IT_ADMIN else None for role in SIGNED_IN}


def test_token_auth_carries_the_role(world):
    client = APIClient()
    owner = world.users["owner"]
    token = client.post(
        f"{API}/auth/token/", {"username": owner.username, "password": "pw"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert (
        client.patch(f"{API}/projects/app/", {"help_channel": "#a"}, format="json").status_code
        == 200
    )
    assert (
        client.patch(f"{API}/projects/other/", {"help_channel": "#o"}, format="json").status_code
        == 403
    )
    assert client.patch(f"{API}/systems/db/", {"kind": "other"}, format="json").status_code == 403


def test_a_session_write_without_a_csrf_token_is_refused(world):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username=world.users["owner"].username, password="pw")
    before = _state()

    response = client.patch(f"{API}/projects/app/", {"help_channel": "#a"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert _state() == before
