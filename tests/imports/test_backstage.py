"""Backstage catalog import and export, against PostgreSQL: the mapping, idempotent re-import,
removed dependencies, every problem listed with nothing written, round trips, API and commands."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from imports.backstage.apply import catalog_import
from imports.backstage.export import catalog_export
from imports.backstage.format import CatalogRejected
from imports.backstage.plan import catalog_plan
from registry.models import (
    AuditEntry,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    ProjectURL,
    Team,
)
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: alice
  annotations:
    steward/time-zone: Europe/Paris
spec:
  profile:
    displayName: Alice Martin
    email: alice@example.com
  memberOf: [group:platform]
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: bob
spec:
  profile:
    displayName: Bob Chen
    email: bob@example.com
  memberOf: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: carol
spec:
  profile:
    displayName: Carol Diaz
  memberOf: [finance]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: platform
  description: Runs the shared infrastructure.
  annotations:
    steward/it-team: "true"
spec:
  type: team
  profile:
    displayName: Platform team
  children: []
  members: [bob]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: finance
spec:
  type: business-unit
  profile:
    displayName: Finance
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: dc-austin
  title: Datacenter Austin
spec:
  type: datacenter
  owner: group:platform
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: pg-main
  title: Main PostgreSQL
  description: The shared database cluster.
spec:
  type: postgres
  owner: platform
  dependsOn: [resource:dc-austin]
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: sso
  title: Single sign-on
spec:
  type: identity-provider
  owner: group:default/platform
  dependsOn:
    - resource:default/dc-austin
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: queue
spec:
  type: message-queue
  owner: user:bob
  dependsOn: [resource:pg-main]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: expenses
  title: Expenses
  description: Expense claims.
  links:
    - url: https://expenses.example.com
      title: App
spec:
  type: website
  lifecycle: production
  owner: user:carol
  dependsOn: [resource:pg-main, resource:sso, component:ledger]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  title: Ledger
  annotations:
    steward/owners: alice, carol
    steward/soft-dependencies: resource:queue
spec:
  type: service
  lifecycle: experimental
  owner: group:finance
  dependsOn: [resource:queue, resource:sso]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: ledger-api
spec:
  type: openapi
"""


def _state() -> dict:
    """Everything an import may touch: row counts, updated_at values, audit entries."""
    return {
        "users": get_user_model().objects.count(),
        "people": sorted(Person.objects.values_list("pk", "updated_at")),
        "teams": sorted(Team.objects.values_list("pk", "name", "description", "is_it")),
        "members": sorted(Team.members.through.objects.values_list("team_id", "person_id")),
        "systems": sorted(ITSystem.objects.values_list("pk", "updated_at")),
        "contacts": sorted(ITSystem.contacts.through.objects.values_list("pk", flat=True)),
        "projects": sorted(Project.objects.values_list("pk", "updated_at")),
        "roles": sorted(ProjectRole.objects.values_list("pk", "role", "order")),
        "urls": sorted(ProjectURL.objects.values_list("pk", flat=True)),
        "edges": sorted(Dependency.objects.values_list("pk", "criticality")),
        "audit": AuditEntry.objects.count(),
    }


def _edges() -> set[tuple[str, str, str]]:
    return {
        ((d.source_project or d.source_system).slug, d.target_system.slug, d.criticality)
        for d in Dependency.objects.select_related(
            "source_project", "source_system", "target_system"
        )
    }


@pytest.fixture
def it_user():
    return it_staff_user(user__username="ivy")


def test_a_realistic_catalog_creates_the_right_rows(it_user) -> None:
    summary = catalog_import(actor=it_user, text=CATALOG)

    assert summary["counts"]["User"]["created"] == 3
    assert summary["counts"]["Group"]["created"] == 2
    assert summary["counts"]["Resource"]["created"] == 4
    assert summary["counts"]["Component"]["created"] == 2
    assert summary["counts"]["Dependency"]["created"] == 7
    skipped = {(w["entity"], w["field"]) for w in summary["warnings"]}
    assert ("api:default/ledger-api", "kind") in skipped
    assert ("component:default/expenses", "spec.dependsOn[2]") in skipped

    alice = Person.objects.get(user__username="alice")
    assert (alice.display_name, alice.email, alice.time_zone) == (
        "Alice Martin",
        "alice@example.com",
        "Europe/Paris",
    )
    assert not alice.user.has_usable_password()
    assert Person.objects.get(user__username="carol").time_zone == "UTC"

    platform = Team.objects.get(slug="platform")
    assert platform.name == "Platform team" and platform.is_it
    assert platform.description == "Runs the shared infrastructure."
    assert set(platform.members.values_list("user__username", flat=True)) == {"alice", "bob"}
    finance = Team.objects.get(slug="finance")
    assert set(finance.members.values_list("user__username", flat=True)) == {"carol"}
    assert not finance.is_it

    pg = ITSystem.objects.get(slug="pg-main")
    assert (pg.name, pg.kind, pg.team, pg.description) == (
        "Main PostgreSQL",
        "database",
        platform,
        "The shared database cluster.",
    )
    assert ITSystem.objects.get(slug="sso").kind == "sso"
    assert ITSystem.objects.get(slug="dc-austin").kind == "datacenter"
    queue = ITSystem.objects.get(slug="queue")
    assert queue.kind == "other" and queue.team is None
    assert list(queue.contacts.values_list("user__username", flat=True)) == ["bob"]

    expenses = Project.objects.get(slug="expenses")
    assert (expenses.name, expenses.support_tier, expenses.team) == (
        "Expenses",
        "it_supported",
        None,
    )
    assert list(expenses.urls.values_list("url", flat=True)) == ["https://expenses.example.com"]
    assert [(r.person.user.username, r.role) for r in expenses.roles.all()] == [("carol", "owner")]
    ledger = Project.objects.get(slug="ledger")
    assert (ledger.support_tier, ledger.team) == ("experimental", finance)
    assert [r.person.user.username for r in ledger.roles.order_by("order")] == ["alice", "carol"]

    assert _edges() == {
        ("pg-main", "dc-austin", "hard"),
        ("sso", "dc-austin", "hard"),
        ("queue", "pg-main", "hard"),
        ("expenses", "pg-main", "hard"),
        ("expenses", "sso", "hard"),
        ("ledger", "queue", "soft"),
        ("ledger", "sso", "hard"),
    }
    # Each created record is audited, with the importing actor.
    assert AuditEntry.objects.filter(actor=it_user, action="create").count() == 3 + 2 + 4 + 2 + 7


def test_importing_the_same_file_twice_changes_nothing_the_second_time(it_user) -> None:
    catalog_import(actor=it_user, text=CATALOG)
    before = _state()

    summary = catalog_import(actor=it_user, text=CATALOG)

    assert _state() == before
    for kind, counts in summary["counts"].items():
        assert counts["created"] == counts["updated"] == counts["removed"] == 0, kind
    assert summary["counts"]["Component"]["unchanged"] == 2
    assert summary["counts"]["Dependency"]["unchanged"] == 7


def test_a_dependency_left_out_is_removed_and_only_that_changes(it_user) -> None:
    catalog_import(actor=it_user, text=CATALOG)
    outside = SystemFactory(slug="mail", name="Mail")
    kept_outside = DependencyFactory(
        source_system=outside, target_system=ITSystem.objects.get(slug="sso")
    )
    audit_before = AuditEntry.objects.count()
    edited = CATALOG.replace(
        "dependsOn: [resource:pg-main, resource:sso, component:ledger]",
        "dependsOn: [resource:pg-main]",
    ).replace("  owner: user:bob\n  dependsOn: [resource:pg-main]\n", "  owner: user:bob\n")

    summary = catalog_import(actor=it_user, text=edited)

    assert summary["counts"]["Dependency"]["removed"] == 2
    assert ("expenses", "sso", "hard") not in _edges()
    assert ("queue", "pg-main", "hard") not in _edges()
    assert ("expenses", "pg-main", "hard") in _edges()
    assert Dependency.objects.filter(pk=kept_outside.pk).exists()  # not in the file: untouched
    deletes = AuditEntry.objects.filter(action="delete", object_type="registry.dependency")
    assert deletes.count() == 2
    assert AuditEntry.objects.count() == audit_before + 2


def test_a_changed_field_updates_only_that_record(it_user) -> None:
    catalog_import(actor=it_user, text=CATALOG)
    before = _state()
    summary = catalog_import(
        actor=it_user, text=CATALOG.replace("description: Expense claims.", "description: Claims.")
    )
    assert summary["counts"]["Component"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 1,
        "removed": 0,
    }
    assert Project.objects.get(slug="expenses").description == "Claims."
    after = _state()
    assert after["audit"] == before["audit"] + 1
    assert after["systems"] == before["systems"] and after["people"] == before["people"]
    entry = AuditEntry.objects.first()
    assert entry.changes["description"] == ["Expense claims.", "Claims."]


def test_dangling_references_and_a_cycle_are_refused_with_every_problem_and_nothing_written(
    it_user,
) -> None:
    SystemFactory(slug="storage", name="Storage")
    DependencyFactory(
        source_system=ITSystem.objects.get(slug="storage"),
        target_system=SystemFactory(slug="network", name="Network"),
    )
    before = _state()
    bad = (
        CATALOG.replace("owner: user:carol", "owner: user:nobody")
        .replace("members: [bob]", "members: [bob, ghost]")
        .replace("  type: datacenter\n", "  type: datacenter\n  dependsOn: [resource:queue]\n")
        + """---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: network
spec:
  type: network
  dependsOn: [resource:storage]
"""
    )

    with pytest.raises(CatalogRejected) as caught:
        catalog_import(actor=it_user, text=bad)

    problems = [p.as_dict() for p in caught.value.problems]
    reasons = " | ".join(f"{p['entity']} {p['field']}: {p['reason']}" for p in problems)
    assert any(
        p["entity"] == "component:default/expenses"
        and p["field"] == "spec.owner"
        and "user:nobody" in p["reason"]
        and p["document"] == 10
        for p in problems
    ), reasons
    assert any(
        p["entity"] == "group:default/platform" and p["field"] == "spec.members[1]"
        for p in problems
    ), reasons
    cycles = [p["reason"] for p in problems if "cycle" in p["reason"]]
    # dc-austin → queue → pg-main → dc-austin (all in the file) and network → storage → network
    # (storage's edge is already in Steward).
    assert any("dc-austin" in r and "queue" in r and "pg-main" in r for r in cycles), reasons
    assert any("network" in r and "storage" in r for r in cycles), reasons
    assert _state() == before


def test_a_removed_edge_can_break_a_cycle_that_the_file_would_otherwise_close(it_user) -> None:
    catalog_import(actor=it_user, text=CATALOG)
    # pg-main no longer depends on the datacenter, so the datacenter may depend on the queue.
    text = CATALOG.replace(
        "  owner: platform\n  dependsOn: [resource:dc-austin]\n", "  owner: platform\n"
    ).replace("  type: datacenter\n", "  type: datacenter\n  dependsOn: [resource:queue]\n")
    catalog_import(actor=it_user, text=text)
    assert ("dc-austin", "queue", "hard") in _edges()
    assert ("pg-main", "dc-austin", "hard") not in _edges()


def test_malformed_yaml_names_the_line() -> None:
    text = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: [unclosed\n"
    plan = catalog_plan(text)
    assert len(plan.problems) == 1
    problem = plan.problems[0]
    assert problem.line is not None and problem.line >= 4
    assert "line" in problem.reason and "YAML" in problem.reason


def test_field_problems_are_all_listed() -> None:
    text = """\
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: dave
  annotations: {steward/time-zone: Mars/Olympus}
spec:
  profile: {email: not-an-email}
---
apiVersion: v1
kind: Component
metadata:
  name: has.dots
spec:
  lifecycle: someday
  owner: user:dave
---
apiVersion: backstage.io/v1alpha1
kind: Widget
metadata: {name: x}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {title: No name}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: dave}
"""
    problems = {(p.document, p.field) for p in catalog_plan(text).problems}
    assert {
        (1, "metadata.annotations.steward/time-zone"),
        (1, "spec.profile.email"),
        (2, "apiVersion"),
        (2, "metadata.name"),
        (2, "spec.lifecycle"),
        (3, "kind"),
        (4, "metadata.name"),
        (5, "metadata.name"),
    } <= problems


def test_oversized_input_is_refused() -> None:
    plan = catalog_plan("# " + "x" * (2 * 1024 * 1024))
    assert plan.problems and "larger" in plan.problems[0].reason


def test_only_it_staff_may_import() -> None:
    reader = PersonFactory().user
    with pytest.raises(PermissionDenied):
        catalog_import(actor=reader, text=CATALOG)
    assert not Project.objects.exists()


def test_export_imports_into_an_empty_database_and_exports_the_same_text() -> None:
    catalog_import(actor=None, text=CATALOG)
    Project.objects.filter(slug="expenses").update(support_tier="side_project")
    first = catalog_export()

    # Import of the export into the same database changes nothing.
    before = _state()
    catalog_import(actor=None, text=first)
    assert _state() == before

    # Into an empty database, and out again: the same text.
    for model in (Dependency, Project, ITSystem, Team, Person, AuditEntry):
        model.objects.all().delete()
    get_user_model().objects.all().delete()
    catalog_import(actor=None, text=first)
    assert catalog_export() == first
    assert Project.objects.get(slug="expenses").support_tier == "side_project"
    assert ("ledger", "queue", "soft") in _edges()


# --- HTTP -----------------------------------------------------------------------------------


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_import_as_yaml_body_and_as_json(it_user) -> None:
    client = _api(it_user)
    response = client.post(
        "/api/v1/catalog/import/?dry_run=1", CATALOG, content_type="application/yaml"
    )
    assert response.status_code == 200, response.content
    assert response.json()["dry_run"] is True
    assert response.json()["counts"]["Component"]["created"] == 2
    assert not Project.objects.exists()  # a dry run writes nothing

    response = client.post(
        "/api/v1/catalog/import/",
        json.dumps({"text": CATALOG, "dry_run": False}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert Project.objects.count() == 2

    response = client.post("/api/v1/catalog/import/", CATALOG, content_type="text/plain")
    assert response.status_code == 200
    assert all(c["created"] == c["updated"] == 0 for c in response.json()["counts"].values())


def test_api_lists_every_problem_with_400_and_refuses_readers(it_user) -> None:
    bad = CATALOG.replace("owner: user:carol", "owner: user:nobody").replace(
        "members: [bob]", "members: [ghost]"
    )
    response = _api(it_user).post("/api/v1/catalog/import/", bad, content_type="application/yaml")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert {p["field"] for p in problems} >= {"spec.owner", "spec.members[0]"}
    assert not Project.objects.exists() and not Person.objects.exclude(user=it_user).exists()

    response = _api(it_user).post(
        "/api/v1/catalog/import/", json.dumps({"dry_run": True}), content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["problems"][0]["field"] == "text"

    reader = PersonFactory().user
    response = _api(reader).post(
        "/api/v1/catalog/import/", CATALOG, content_type="application/yaml"
    )
    assert response.status_code == 403
    assert not Project.objects.exists()


def test_api_export_is_yaml_for_any_signed_in_person(it_user) -> None:
    catalog_import(actor=it_user, text=CATALOG)
    response = _api(PersonFactory().user).get("/api/v1/catalog/export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    assert response.content.decode() == catalog_export()
    assert APIClient().get("/api/v1/catalog/export/").status_code == 401


def test_catalog_page_checks_then_imports(it_user) -> None:
    client = Client()
    client.force_login(it_user)
    response = client.post("/catalog/", {"text": CATALOG, "action": "check"})
    assert response.status_code == 200
    assert b"Checked" in response.content
    assert not Project.objects.exists()

    response = client.post("/catalog/", {"text": CATALOG, "action": "import"})
    assert response.status_code == 302
    assert Project.objects.count() == 2

    bad = CATALOG.replace("owner: user:carol", "owner: user:nobody")
    response = client.post(
        "/catalog/", {"file": io.BytesIO(bad.encode()), "action": "import"}, format="multipart"
    )
    assert response.status_code == 200
    assert "user:nobody" in response.content.decode()

    assert client.get("/catalog/export.yaml").status_code == 200
    reader = Client()
    reader.force_login(PersonFactory().user)
    assert reader.get("/catalog/").status_code == 403
    assert reader.get("/catalog/export.yaml").status_code == 200
    assert Client().get("/catalog/").status_code == 302


# --- commands -------------------------------------------------------------------------------


def test_commands_import_and_export(tmp_path, it_user) -> None:
    path = tmp_path / "catalog-info.yaml"
    path.write_text(CATALOG)
    out = io.StringIO()
    call_command("catalog_import", str(path), "--dry-run", stdout=out)
    assert "Component: 2 created" in out.getvalue()
    assert not Project.objects.exists()

    out = io.StringIO()
    call_command("catalog_import", str(path), "--actor", "ivy", stdout=out)
    assert Project.objects.count() == 2
    assert AuditEntry.objects.filter(actor=it_user).exists()

    target = tmp_path / "out.yaml"
    call_command("catalog_export", "-o", str(target))
    assert target.read_text() == catalog_export()

    path.write_text(CATALOG.replace("owner: user:carol", "owner: user:nobody"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("catalog_import", str(path), stderr=err)
    assert "user:nobody" in err.getvalue()

    reader = PersonFactory().user
    with pytest.raises(CommandError, match="IT staff"):
        call_command("catalog_import", str(path), "--actor", reader.username)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        "!!python/object:os.system {}",
        "? [a, b]\n: c\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: 2024-01-01}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: x, annotations: [1]}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\n"
        "  links: [{url: 'javascript:alert(1)'}, 3]\n  annotations: {steward/owners: [1]}\n"
        "spec: {owner: {a: 1}, dependsOn: [{}, 'resource:', 'resource:ns/x'], lifecycle: [1]}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: g}\n"
        "spec: {members: 'bob', profile: [1]}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: r}\n"
        "spec: {dependsOn: [resource:r], type: [1]}\n",
        "\x00",
        "",
        "---\n---\n",
    ],
)
def test_hostile_input_is_a_list_of_problems_never_an_error(text, it_user) -> None:
    response = _api(it_user).post(
        "/api/v1/catalog/import/", text.encode(), content_type="application/yaml"
    )
    assert response.status_code == 400, response.content
    assert response.json()["problems"]
    assert not Project.objects.exists() and not ITSystem.objects.exists()


def test_api_refuses_a_body_that_is_too_large_or_not_utf8(it_user) -> None:
    client = _api(it_user)
    response = client.post(
        "/api/v1/catalog/import/", b"a" * (2 * 1024 * 1024 + 10), content_type="application/yaml"
    )
    assert response.status_code == 400 and "larger" in response.json()["problems"][0]["reason"]
    response = client.post(
        "/api/v1/catalog/import/", b"name: \xff\xfe", content_type="application/yaml"
    )
    assert response.status_code == 400 and "UTF-8" in response.json()["problems"][0]["reason"]


def test_a_name_taken_by_another_record_and_a_reference_to_another_namespace_are_refused() -> None:
    ProjectFactory(slug="old-expenses", name="Expenses")
    # group:finance is in the file, in the default namespace: accounting/finance is another group
    text = CATALOG.replace("owner: group:finance", "owner: group:accounting/finance")
    problems = {(p.entity, p.field): p.reason for p in catalog_plan(text).problems}
    assert "old-expenses" in problems[("component:default/expenses", "metadata.title")]
    assert (
        "group:accounting/finance, which is neither in the file nor in Steward"
        in problems[("component:default/ledger", "spec.owner")]
    )


def test_command_reads_stdin(monkeypatch) -> None:
    class Stdin:
        buffer = io.BytesIO(CATALOG.encode())

    monkeypatch.setattr(sys, "stdin", Stdin)
    out = io.StringIO()
    call_command("catalog_import", "-", stdout=out)
    assert "Imported" in out.getvalue()
    assert Project.objects.count() == 2
