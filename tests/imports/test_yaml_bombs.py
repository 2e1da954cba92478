"""A catalog whose YAML expands (aliases of aliases, merge keys, aliases in keys, a value that
contains itself), nests or repeats beyond reason is refused with a short 400 in the documented
shape, wherever the expansion sits in the entity, and nothing is written; a problem never repeats
a value whole, and a file with thousands of problems lists the first ones and says how many more.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from imports.backstage.format import MAX_BYTES, CatalogProblem
from imports.csv.format import CsvProblem
from imports.engine import MAX_LISTED_PROBLEMS
from registry.models import ITSystem, Person, Project, Team
from tests.factories import PersonFactory, it_staff_user

pytestmark = pytest.mark.django_db

# A refusal of a bomb is a few problems of a few hundred characters, never the expansion.
SMALL_RESPONSE = 8_000


def laughs(levels: int = 9, width: int = 10, seed: str = '"lol"') -> str:
    """The billion laughs: level n is a list of `width` aliases of level n - 1."""
    lines = [f"x0: &x0 {seed}"]
    for level in range(1, levels + 1):
        lines.append(f"x{level}: &x{level} [{', '.join([f'*x{level - 1}'] * width)}]")
    return "\n".join(lines)


def entity(kind: str = "Component", **overrides: str) -> str:
    """A document in which any part may be replaced by raw YAML."""
    fields = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "name": "payroll",
        "title": "Payroll",
        "lifecycle": "production",
        "owner": "user:alice",
        "dependsOn": "[]",
        "annotations": "{}",
    } | overrides
    return (
        f"apiVersion: {fields['apiVersion']}\nkind: {fields['kind']}\n"
        f"metadata:\n  name: {fields['name']}\n  title: {fields['title']}\n"
        f"  annotations: {fields['annotations']}\n"
        f"spec:\n  lifecycle: {fields['lifecycle']}\n  owner: {fields['owner']}\n"
        f"  dependsOn: {fields['dependsOn']}\n"
    )


def in_document(prefix: str, **overrides: str) -> str:
    """`prefix` (anchors) as a first, hidden key of the entity itself."""
    return f"x-anchors:\n  {prefix.replace(chr(10), chr(10) + '  ')}\n" + entity(**overrides)


BILLION = laughs()
NESTED_LISTS = "\n".join(
    ["l0: &l0 [a, b, c, d, e, f, g, h]"]
    + [f"l{n}: &l{n} [[*l{n - 1}, *l{n - 1}], [*l{n - 1}, *l{n - 1}]]" for n in range(1, 16)]
)
MERGE_KEYS = "\n".join(
    ["m0: &m0 {a: lol, b: lol, c: lol}"]
    + [
        f"m{n}: &m{n} {{<<: *m{n - 1}, k{n}: [*m{n - 1}, *m{n - 1}, *m{n - 1}, *m{n - 1}]}}"
        for n in range(1, 14)
    ]
)
# 1.5 MB of text named once and repeated by aliases: the characters, not the count, explode.
LONG_STRING = "s0: &s0 " + "y" * 1_500_000 + "\ns1: &s1 [*s0, *s0, *s0]"

BOMBS = {
    # where the expansion sits, as the tester's 553 bytes did: in a value an error quotes
    "laughs in apiVersion": in_document(BILLION, apiVersion="*x9"),
    "laughs in kind": in_document(BILLION, kind="*x9"),
    "laughs in metadata.name": in_document(BILLION, name="*x9"),
    "laughs in metadata.title": in_document(BILLION, title="*x9"),
    "laughs in spec.lifecycle": in_document(BILLION, lifecycle="*x9"),
    "laughs in spec.owner": in_document(BILLION, owner="*x9"),
    "laughs in spec.dependsOn": in_document(BILLION, dependsOn="*x9"),
    "laughs in annotations": in_document(BILLION, annotations="{steward/owners: *x9}"),
    "laughs as a whole document": BILLION,
    "nested lists": in_document(NESTED_LISTS, lifecycle="*l15"),
    "merge keys": in_document(MERGE_KEYS, annotations="*m13"),
    "merge keys into the entity": MERGE_KEYS
    + "\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {<<: *m13, name: x}\n",
    "an alias as a key": BILLION + "\n? *x9\n: value\n",
    "an anchored key": "? &k [a, b, c]\n: 1\n"
    + laughs(seed="*k").replace("x0: &x0 *k", "x0: &x0 [*k]"),
    "a long string aliased": in_document(LONG_STRING, title="*s1"),
    "a value that contains itself": "a: &a [x, *a]\n",
    "a mapping that contains itself": "a: &a {b: *a}\n",
    "a merge of itself": "a: &a {<<: *a, b: 1}\n",
}


@pytest.fixture
def it_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(it_staff_user())
    return client


def _nothing_written() -> None:
    assert not Project.objects.exists()
    assert not ITSystem.objects.exists()
    assert not Team.objects.exists()
    assert Person.objects.count() <= 1  # the IT user's own


@pytest.mark.parametrize("bomb", BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.parametrize("dry_run", ["1", "0"])
def test_an_expanding_document_is_refused_briefly_and_nothing_is_written(
    it_client, bomb, dry_run
) -> None:
    assert len(bomb.encode()) < MAX_BYTES
    response = it_client.post(
        f"/api/v1/catalog/import/?dry_run={dry_run}", bomb, content_type="application/yaml"
    )
    assert response.status_code == 400, response.content[:2000]
    assert len(response.content) < SMALL_RESPONSE
    problems = response.json()["problems"]
    assert problems and set(problems[0]) == {"document", "line", "entity", "field", "reason"}
    _nothing_written()


@pytest.mark.parametrize(
    "bomb",
    [BOMBS["laughs in apiVersion"], BOMBS["merge keys"], BOMBS["a value that contains itself"]],
    ids=["laughs", "merge", "recursive"],
)
def test_the_import_page_refuses_a_bomb_briefly_too(bomb) -> None:
    client = Client()
    client.force_login(it_staff_user())
    response = client.post("/catalog/", {"text": bomb, "action": "check"})
    assert response.status_code == 200
    assert b"Refused" in response.content or b"Not valid YAML" in response.content
    assert len(response.content) < 200_000 + 2 * len(bomb.encode())
    _nothing_written()


def test_the_refusal_says_what_was_exceeded(it_client) -> None:
    reasons = {}
    for name in ("laughs in apiVersion", "merge keys", "a long string aliased"):
        response = it_client.post(
            "/api/v1/catalog/import/", BOMBS[name], content_type="application/yaml"
        )
        reasons[name] = response.json()["problems"][0]["reason"]
    assert "once its aliases are written out" in reasons["laughs in apiVersion"]
    assert "once its aliases are written out" in reasons["merge keys"]
    assert "characters once its aliases are written out" in reasons["a long string aliased"]
    response = it_client.post(
        "/api/v1/catalog/import/", BOMBS["a value that contains itself"], content_type="text/plain"
    )
    assert "contains it" in response.json()["problems"][0]["reason"]


@pytest.mark.parametrize("depth", [33, 200, 999])
@pytest.mark.parametrize("shape", ["flow list", "flow map", "block map"])
def test_deep_nesting_is_refused(it_client, depth, shape) -> None:
    if shape == "flow list":
        text = "a: " + "[" * depth + "]" * depth
    elif shape == "flow map":
        text = "a: " + "{b: " * depth + "c" + "}" * depth
    else:
        text = (
            "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "v\n"
        )
    response = it_client.post("/api/v1/catalog/import/", text, content_type="application/yaml")
    assert response.status_code == 400
    assert len(response.content) < SMALL_RESPONSE
    reason = response.json()["problems"][0]["reason"]
    assert "deep" in reason or "nesting" in reason


def test_an_anchor_shared_by_entities_is_still_read(it_client) -> None:
    """Bounded is not forbidden: sharing an annotation block through an alias imports."""
    text = (
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: alice}\n"
        "spec: {profile: {displayName: Alice}}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: payroll\n  annotations: &shared {steward/owners: alice}\n"
        "spec: {lifecycle: production}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata:\n  name: expenses\n  annotations: {<<: {steward/owners: alice}}\n"
        "spec: {lifecycle: production}\n"
    )
    response = it_client.post("/api/v1/catalog/import/", text, content_type="application/yaml")
    assert response.status_code == 200, response.content
    assert set(Project.objects.values_list("slug", flat=True)) == {"payroll", "expenses"}


HUGE_VALUES = {
    "apiVersion": lambda big: entity(apiVersion=big),
    "kind": lambda big: entity(kind=big),
    "metadata.name": lambda big: entity(name=big),
    "spec.owner": lambda big: entity(owner=big),
    "spec.lifecycle": lambda big: entity(lifecycle=big),
    "spec.dependsOn": lambda big: entity(dependsOn=f"[{big}]"),
    "annotations": lambda big: entity(annotations=f"{{steward/support-tier: {big}}}"),
    "a list value": lambda big: entity(lifecycle="[" + ", ".join([big[:1000]] * 1500) + "]"),
}


@pytest.mark.parametrize("where", HUGE_VALUES.values(), ids=HUGE_VALUES.keys())
def test_a_problem_never_repeats_a_huge_value(it_client, where) -> None:
    text = where("z" * 1_800_000)
    assert len(text.encode()) < MAX_BYTES
    response = it_client.post("/api/v1/catalog/import/", text, content_type="application/yaml")
    assert response.status_code == 400, response.content[:500]
    assert len(response.content) < SMALL_RESPONSE
    _nothing_written()


def test_thousands_of_problems_are_listed_first_and_counted(it_client) -> None:
    text = "\n---\n".join(
        entity(name=f"app{n}", title=f"App {n}", owner=f"user:ghost{n}", lifecycle="forever")
        for n in range(3000)
    )
    response = it_client.post("/api/v1/catalog/import/", text, content_type="application/yaml")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert len(problems) == MAX_LISTED_PROBLEMS + 1
    assert (
        problems[-1]["reason"] == f"And {6000 - MAX_LISTED_PROBLEMS:,} more problems, not listed."
    )
    assert len(response.content) < 200 * 1024
    _nothing_written()


def test_thousands_of_csv_problems_are_listed_first_and_counted(it_client) -> None:
    rows = [f"p{n},{'N' * 300}{n},ghost{n}" for n in range(1000)]
    text = "slug,name,owners\n" + "\n".join(rows) + "\n"
    response = it_client.post("/api/v1/registry/import/", text, content_type="text/csv")
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert len(problems) == MAX_LISTED_PROBLEMS + 1
    assert "more problems, not listed" in problems[-1]["reason"]
    assert all(len(p["value"]) <= 200 and len(p["reason"]) <= 500 for p in problems)
    assert not Project.objects.exists()


@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_problems_are_short_whatever_they_are_given(size) -> None:
    catalog = CatalogProblem(1, "x" * size, "f" * size, "r" * size)
    csv = CsvProblem(2, "c" * size, "v" * size, "r" * size)
    assert len(json.dumps(catalog.as_dict())) < 1_000
    assert len(json.dumps(csv.as_dict())) < 1_000


def test_readers_are_refused_before_the_yaml_is_read() -> None:
    client = APIClient()
    client.force_authenticate(PersonFactory().user)
    response = client.post(
        "/api/v1/catalog/import/", BOMBS["laughs in kind"], content_type="application/yaml"
    )
    assert response.status_code == 403
