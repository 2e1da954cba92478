"""Backstage entities in any namespace: accepted, their namespace kept (re-import, export), the
namespace shown where names clash, and every reference form (`kind:namespace/name`,
`namespace/name`, `name`) resolved to the right record."""

from __future__ import annotations

import pytest
import yaml

from imports.backstage.apply import catalog_import
from imports.backstage.export import catalog_export
from imports.backstage.plan import catalog_plan
from imports.models import CatalogEntity
from registry.models import Dependency, ITSystem, Person, Project, Team
from tests.factories import PersonFactory, it_staff_user

pytestmark = pytest.mark.django_db

ONE_USER = """
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: dev-ada
  namespace: development
spec:
  profile: {displayName: Ada Dev, email: ada.dev@example.com}
"""

CLASHING = """
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada}
spec:
  profile: {email: ada@example.com}
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: ada, namespace: development}
spec:
  profile: {email: ada@dev.example.com}
  memberOf: [group:development/platform]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform}
spec: {type: team, members: [user:ada]}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: platform, namespace: development}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db, namespace: ops, title: Ops database}
spec: {type: database, owner: "group:development/platform"}
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata: {name: db, title: Default database}
spec: {type: database, owner: "user:development/ada"}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  namespace: finance
  title: Ledger
  annotations:
    steward/owners: "development/ada, ada"
    steward/soft-dependencies: "resource:ops/db"
spec:
  lifecycle: production
  owner: user:development/ada
  dependsOn: ["resource:ops/db", "resource:default/db", "Resource:DB"]
"""


@pytest.fixture
def it_user():
    return it_staff_user(user__username="ivy")


def test_a_catalog_with_one_user_in_another_namespace_is_imported(it_user) -> None:
    summary = catalog_import(actor=it_user, text=ONE_USER)

    assert summary["counts"]["User"]["created"] == 1
    person = Person.objects.get(email="ada.dev@example.com")
    assert person.user.username == "dev-ada"
    assert CatalogEntity.objects.get().namespace == "development"
    # re-imported: nothing changes; exported: written back in its namespace
    again = catalog_import(actor=it_user, text=ONE_USER)
    assert again["counts"]["User"]["created"] == again["counts"]["User"]["updated"] == 0
    exported = [d for d in yaml.safe_load_all(catalog_export()) if d["kind"] == "User"]
    dev = next(d for d in exported if d["metadata"]["name"] == "dev-ada")
    assert dev["metadata"]["namespace"] == "development"


def test_names_that_clash_across_namespaces_show_the_namespace_and_references_find_each(
    it_user,
) -> None:
    catalog_import(actor=it_user, text=CLASHING)

    default_ada = Person.objects.get(user__username="ada")
    dev_ada = Person.objects.get(user__username="ada-development")
    assert default_ada.email == "ada@example.com" and dev_ada.email == "ada@dev.example.com"
    assert dev_ada.display_name == "ada (development)"
    assert Team.objects.get(slug="platform").members.get() == default_ada
    dev_platform = Team.objects.get(slug="platform-development")
    assert dev_platform.name == "platform (development)"
    assert list(dev_platform.members.all()) == [dev_ada]
    ops_db = ITSystem.objects.get(slug="db-ops")
    assert ops_db.team == dev_platform
    default_db = ITSystem.objects.get(slug="db")
    assert list(default_db.contacts.all()) == [dev_ada]
    ledger = Project.objects.get(slug="ledger")  # no clash: its own name
    assert {r.person for r in ledger.roles.all()} == {default_ada, dev_ada}
    edges = {
        (d.target_system.slug, d.criticality)
        for d in Dependency.objects.filter(source_project=ledger).select_related("target_system")
    }
    assert edges == {("db-ops", "soft"), ("db", "hard")}

    # exported and imported again: the same records, nothing changed
    exported = catalog_export()
    assert "namespace: development" in exported and "user:development/ada" in exported
    summary = catalog_import(actor=it_user, text=exported)
    for kind, counts in summary["counts"].items():
        assert counts["created"] == counts["updated"] == counts["removed"] == 0, kind


def test_a_name_already_in_steward_gets_the_namespace(it_user) -> None:
    PersonFactory(user__username="dev-ada", email="someone.else@example.com")

    catalog_import(actor=it_user, text=ONE_USER)

    assert Person.objects.get(email="ada.dev@example.com").user.username == "dev-ada-development"


def test_a_default_entity_cannot_take_a_name_a_namespace_already_holds(it_user) -> None:
    catalog_import(actor=it_user, text=ONE_USER)
    default = ONE_USER.replace("  namespace: development\n", "")

    problems = [str(p) for p in catalog_plan(default).problems]

    assert any("user:development/dev-ada, imported before" in p for p in problems), problems


@pytest.mark.parametrize("namespace", ["Not_Valid", "-dev", "a" * 64, "[1]"])
def test_an_invalid_namespace_is_a_problem(namespace) -> None:
    text = ONE_USER.replace("namespace: development", f"namespace: '{namespace}'")

    problems = [p for p in catalog_plan(text).problems if p.field == "metadata.namespace"]

    assert problems and "not a valid namespace" in problems[0].reason
