"""SCIM 2.0 provisioning (issue 15): checked for conformance by scim2-tester against a live
Steward, and the provisioning that matters told apart: `active: false` deactivates the person
through the leaver service, groups become teams (and IT staff), errors are SCIM errors."""

from __future__ import annotations

import json

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from registry import permissions
from registry.models import Person, ProjectRole, Team
from tests.factories import ProjectFactory, ProjectRoleFactory, it_staff_user

TOKEN = "scim-test-token-0123456789"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(settings):
    settings.STEWARD_SCIM_TOKEN = TOKEN
    settings.STEWARD_SCIM_IT_GROUPS = ["Steward IT"]


@pytest.mark.django_db(transaction=True)
def test_scim2_tester_finds_the_server_conformant(scim, live_server):
    it_staff_user(user__username="it")  # someone to tell if a provisioned owner leaves
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    results = check_server(SyncSCIMClient(http), raise_exceptions=False)
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    assert results and not failed, "\n".join(f"{r.title}: {r.reason}" for r in failed)
    assert sum(r.status == Status.SUCCESS for r in results) >= 20


def _client(client, method, path, body=None, token=TOKEN):
    return getattr(client, method)(
        f"/scim/v2{path}",
        data=None if body is None else json.dumps(body),
        content_type="application/scim+json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.django_db
def test_provisioning_deactivates_through_the_leaver_service_and_groups_make_teams(scim, client):
    it_staff_user(user__username="ita")
    made = _client(client, "post", "/Users", {
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ann@example.com", "externalId": "okta-1", "displayName": "Ann Example",
        "name": {"givenName": "Ann", "familyName": "Example"}, "title": "Engineer",
        "emails": [{"value": "ann@example.com", "primary": True, "type": "work"}],
        "active": True,
    })  # fmt: skip
    assert made.status_code == 201, made.content
    ann = Person.objects.get(pk=made.json()["id"])
    assert ann.display_name == "Ann Example" and ann.email == "ann@example.com"
    wiki = ProjectFactory(slug="wiki")
    ProjectRoleFactory(project=wiki, person=ann, role=ProjectRole.Role.OWNER)

    # A group is a team; the group named in STEWARD_SCIM_IT_GROUPS makes IT staff.
    group = _client(client, "post", "/Groups", {
        "schemas": [GROUP], "displayName": "Steward IT", "members": [{"value": str(ann.pk)}]
    })  # fmt: skip
    assert group.status_code == 201, group.content
    team = Team.objects.get(name="Steward IT")
    assert list(team.members.all()) == [ann]
    ann.user.refresh_from_db()
    assert permissions.is_it_staff(ann.user)

    # Entra ID's PATCH, as it sends it: a new address, a title Steward ignores, and `active`
    # as a string; deactivating goes through person_deactivate.
    gone = _client(client, "patch", f"/Users/{ann.pk}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ann@corp.example"},
        {"op": "Replace", "path": "title", "value": "Manager"},
        {"op": "Replace", "path": "active", "value": "False"},
    ]})  # fmt: skip
    assert gone.json()["emails"] == [{"value": "ann@corp.example"}]
    assert gone.status_code == 200 and gone.json()["active"] is False
    ann.refresh_from_db()
    assert ann.deactivated_at is not None and not ann.user.is_active
    wiki.refresh_from_db()
    assert wiki.orphaned_at is not None
    # Filtering finds them still (nothing is deleted).
    found = _client(client, "get", '/Users?filter=userName eq "ann@example.com"').json()
    assert _client(client, "get", '/Users?filter=userName eq "nobody"').json()["totalResults"] == 0
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False

    # SCIM errors, in SCIM's format.
    bad_filter = _client(client, "get", "/Users?filter=userName eq")
    assert bad_filter.status_code == 400 and bad_filter.json()["scimType"] == "invalidFilter"
    assert "urn:ietf:params:scim:api:messages:2.0:Error" in bad_filter.json()["schemas"]
    unknown = _client(client, "post", "/Users", {"schemas": [USER], "userName": "x", "shoeSize": 9})
    assert unknown.status_code == 400 and unknown.json()["scimType"] == "invalidSyntax"
    assert "shoeSize" in unknown.json()["detail"]
    assert _client(client, "get", "/Users", token="wrong").status_code == 401
    assert _client(client, "get", "/Users/999999").status_code == 404
