"""Names people pick between refuse invisible, bidi and control characters on every way in (API,
forms, catalog and CSV imports), naming the field and the character; they are kept NFC; and a
new or renamed project, IT system or team that looks like another's is saved with a warning that
its author and IT see (page, API, catalog warnings, audit trail), while innocent names are not.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from django.test import Client
from rest_framework.test import APIClient

from imports.backstage.apply import catalog_import
from oncall.models import Rotation
from registry.models import AuditEntry, ITSystem, Person, Project, ProjectAlias, Team
from registry.names import name_problem, name_skeleton
from tests.factories import PersonFactory, ProjectFactory, SystemFactory, TeamFactory, it_staff_user

pytestmark = pytest.mark.django_db

# (character, how the message names it)
REFUSED = [
    ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE, an invisible control character"),
    ("\u202a", "U+202A LEFT-TO-RIGHT EMBEDDING, an invisible control character"),
    ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE, an invisible control character"),
    ("\u2069", "U+2069 POP DIRECTIONAL ISOLATE, an invisible control character"),
    ("\u200e", "U+200E LEFT-TO-RIGHT MARK, an invisible control character"),
    ("\u200f", "U+200F RIGHT-TO-LEFT MARK, an invisible control character"),
    ("\u061c", "U+061C ARABIC LETTER MARK, an invisible control character"),
    ("\u200b", "U+200B ZERO WIDTH SPACE, an invisible control character"),
    ("\u200c", "U+200C ZERO WIDTH NON-JOINER, an invisible control character"),
    ("\u200d", "U+200D ZERO WIDTH JOINER, an invisible control character"),
    ("\u2060", "U+2060 WORD JOINER, an invisible control character"),
    ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE, an invisible control character"),
    ("\u00ad", "U+00AD SOFT HYPHEN, an invisible control character"),
    ("\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A, an invisible control character"),
    ("\u3164", "U+3164 HANGUL FILLER, an invisible control character"),
    ("\u034f", "U+034F COMBINING GRAPHEME JOINER, an invisible control character"),
    ("\x07", "U+0007 <control-0007>, a control character"),
    ("\x1b", "U+001B <control-001B>, a control character"),
    ("\u2028", "U+2028 LINE SEPARATOR, a line separator"),
    ("\ue000", "U+E000 <private use area-E000>, a private-use character"),
]
# A few of them, for the costlier ways in.
SAMPLE = [REFUSED[0], REFUSED[7], REFUSED[9], REFUSED[12], REFUSED[14]]


def poisoned(character: str) -> str:
    return f"Peo{character}ple"


@pytest.mark.parametrize(("character", "message"), REFUSED)
def test_the_validator_names_the_character(character, message) -> None:
    assert name_problem(poisoned(character)) == f"Contains {message}."


@pytest.mark.parametrize(
    "innocent",
    [
        "People",
        "Péople",
        "Peoples",
        "人事",
        "Ünïcödé Tëam",
        "Zürich DC",
        "Ω-service",
        "مرحبا",
        "日本語 2",
    ],
)
def test_letters_of_any_script_are_names(innocent) -> None:
    assert name_problem(innocent) is None


def api(user=None) -> APIClient:
    """An admin's client (admins write every kind of record), or `user`'s."""
    client = APIClient()
    client.force_authenticate(user or it_staff_user(user__is_superuser=True))
    return client


def _api_writes(client: APIClient, value: str):
    """(field, response) for each named thing the API writes, with `value` as its name."""
    person = PersonFactory()
    team = TeamFactory()
    project = ProjectFactory()
    yield "name", client.post("/api/v1/projects/", {"name": value, "slug": "p-new"}, format="json")
    yield (
        "name",
        client.patch(f"/api/v1/projects/{project.slug}/", {"name": value}, format="json"),
    )
    yield (
        "aliases",
        client.patch(
            f"/api/v1/projects/{project.slug}/", {"aliases": ["ok", value]}, format="json"
        ),
    )
    yield "name", client.post("/api/v1/systems/", {"name": value, "slug": "s-new"}, format="json")
    yield "name", client.post("/api/v1/teams/", {"name": value, "slug": "t-new"}, format="json")
    yield "name", client.patch(f"/api/v1/teams/{team.slug}/", {"name": value}, format="json")
    yield (
        "display_name",
        client.patch(f"/api/v1/people/{person.pk}/", {"display_name": value}, format="json"),
    )
    yield (
        "name",
        client.post("/api/v1/rotations/", {"name": value, "project": project.slug}, format="json"),
    )


@pytest.mark.parametrize(("character", "message"), REFUSED)
def test_the_api_refuses_each_named_thing_with_the_field_and_the_character(
    character, message
) -> None:
    client = api()
    for field, response in _api_writes(client, poisoned(character)):
        assert response.status_code == 400, (field, response.content)
        assert response.json()[field] == [f"Contains {message}."], response.json()
    assert not Project.objects.filter(slug="p-new").exists()
    assert not ITSystem.objects.filter(slug="s-new").exists()
    assert not Team.objects.filter(slug="t-new").exists()
    assert not Rotation.objects.exists()
    assert not ProjectAlias.objects.exists()
    assert not Project.objects.filter(name__contains=character).exists()
    assert not Person.objects.filter(display_name__contains=character).exists()


@pytest.mark.parametrize(("character", "_message"), SAMPLE)
def test_slugs_refuse_them_too(character, _message) -> None:
    for kind in ("projects", "systems", "teams"):
        response = api().post(
            f"/api/v1/{kind}/", {"name": "Fine", "slug": f"peo{character}ple"}, format="json"
        )
        assert response.status_code == 400 and "slug" in response.json(), response.content


@pytest.mark.parametrize(("character", "message"), SAMPLE)
def test_the_forms_refuse_them_beside_the_field(character, message) -> None:
    client = Client()
    client.force_login(it_staff_user())
    project_form = {"name": poisoned(character), "slug": "p-new", "support_tier": "side_project"}
    system_form = {"name": poisoned(character), "slug": "s-new", "kind": "other"}
    for url, data in (("/projects/new/", project_form), ("/systems/new/", system_form)):
        response = client.post(url, data)
        assert response.status_code == 200, (url, response.status_code)
        assert response.context["form"].errors["name"] == [f"Contains {message}."]
    assert not Project.objects.exists() and not ITSystem.objects.exists()


def _catalog(title: str, display_name: str = "Alice") -> str:
    return (
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: alice}\n"
        f"spec: {{profile: {{displayName: {json.dumps(display_name)}}}}}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Group\n"
        f"metadata: {{name: team-a, title: {json.dumps(title)}}}\nspec: {{}}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Resource\n"
        f"metadata: {{name: sys-a, title: {json.dumps(title)}}}\nspec: {{}}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        f"metadata: {{name: app-a, title: {json.dumps(title)}}}\n"
        "spec: {lifecycle: production, owner: user:alice}\n"
    )


@pytest.mark.parametrize(("character", "message"), SAMPLE)
def test_the_catalog_reports_each_entity(character, message) -> None:
    response = api().post(
        "/api/v1/catalog/import/",
        _catalog(poisoned(character), display_name=poisoned(character)),
        content_type="application/yaml",
    )
    assert response.status_code == 400
    problems = {(p["entity"], p["field"]): p["reason"] for p in response.json()["problems"]}
    assert problems == {
        ("user:default/alice", "spec.profile.displayName"): f"Contains {message}.",
        ("group:default/team-a", "metadata.title"): f"Contains {message}.",
        ("resource:default/sys-a", "metadata.title"): f"Contains {message}.",
        ("component:default/app-a", "metadata.title"): f"Contains {message}.",
    }
    assert not Project.objects.exists() and not Team.objects.exists()


@pytest.mark.parametrize(("character", "message"), SAMPLE)
def test_the_csv_reports_each_row(character, message) -> None:
    owner = PersonFactory()
    text = (
        "slug,name,owners,aliases\n"
        f"good,Good,{owner.user.username},\n"
        f"bad-name,{poisoned(character)},{owner.user.username},\n"
        f"bad-alias,Fine,{owner.user.username},{poisoned(character)}\n"
    )
    response = api().post("/api/v1/registry/import/", text, content_type="text/csv")
    assert response.status_code == 400
    problems = {(p["row"], p["column"]): p["reason"] for p in response.json()["problems"]}
    assert problems == {(3, "name"): f"Contains {message}.", (4, "aliases"): f"Contains {message}."}
    assert not Project.objects.exists()


def test_names_are_kept_nfc_so_a_decomposed_twin_is_the_same_name() -> None:
    client = api()
    decomposed = "Pe\u0301ople"
    response = client.post("/api/v1/projects/", {"name": decomposed, "slug": "a"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == unicodedata.normalize("NFC", decomposed) == "Péople"
    response = client.post("/api/v1/projects/", {"name": "Péople", "slug": "b"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


# --- look-alikes -------------------------------------------------------------------------------

LOOKALIKES = {
    "Cyrillic о and е": "P\u0435\u043eple",
    "Cyrillic а": "Ledger P\u0430y",
    "all Cyrillic": "\u0420\u0435\u043e\u0440l\u0435",
    "Greek Rho and omicron": "\u03a1e\u03bfple",
    "full-width": "\uff30\uff45\uff4f\uff50\uff4c\uff45",
    "digit one for l": "Peop1e",
    "capital I for l": "PeopIe",
    "upper case": "PEOPLE",
    "mixed scripts": "P\u0435ople",
}
INNOCENT = ["Péople", "Peoples", "People 2", "人事", "Pueblo", "Ledger"]


def _existing() -> None:
    ProjectFactory(name="People", slug="people")
    ProjectFactory(name="Ledger Pay", slug="ledger-pay")
    SystemFactory(name="People", slug="people-db")
    SystemFactory(name="Ledger Pay", slug="ledger-db")
    TeamFactory(name="People", slug="people-team")
    TeamFactory(name="Ledger Pay", slug="ledger-team")


def test_skeletons_match_exactly_the_lookalikes() -> None:
    for lookalike in LOOKALIKES.values():
        assert name_skeleton(lookalike) in {name_skeleton("People"), name_skeleton("Ledger Pay")}
    for innocent in INNOCENT:
        assert name_skeleton(innocent) not in {name_skeleton("People"), name_skeleton("Ledger Pay")}


@pytest.mark.parametrize("lookalike", LOOKALIKES.values(), ids=LOOKALIKES.keys())
def test_a_lookalike_is_saved_with_a_warning_in_the_api_and_the_audit_trail(lookalike) -> None:
    _existing()
    client = api()
    created = [
        client.post("/api/v1/projects/", {"name": lookalike, "slug": "new-p"}, format="json"),
        client.post("/api/v1/systems/", {"name": lookalike, "slug": "new-s"}, format="json"),
        client.post("/api/v1/teams/", {"name": lookalike, "slug": "new-t"}, format="json"),
    ]
    for response in created:
        assert response.status_code == 201, response.content
        [warning] = response.json()["warnings"]
        assert f"“{lookalike}” looks like “" in warning
    warnings = AuditEntry.objects.filter(action=AuditEntry.Action.WARNING)
    assert {entry.object_type for entry in warnings} == {
        "registry.project",
        "registry.itsystem",
        "registry.team",
    }
    assert all(entry.changes["looks_like"][1] for entry in warnings)


@pytest.mark.parametrize("lookalike", list(LOOKALIKES.values())[:4])
def test_a_rename_into_a_lookalike_warns_and_an_unrelated_edit_does_not(lookalike) -> None:
    _existing()
    other = ProjectFactory(name="Payroll", slug="payroll")
    client = api()
    response = client.patch("/api/v1/projects/payroll/", {"name": lookalike}, format="json")
    assert response.status_code == 200 and len(response.json()["warnings"]) == 1
    response = client.patch("/api/v1/projects/payroll/", {"description": "x"}, format="json")
    assert response.status_code == 200 and response.json()["warnings"] == []
    assert AuditEntry.objects.filter(action="warning", object_id=str(other.pk)).count() == 1


@pytest.mark.parametrize("innocent", INNOCENT)
def test_innocent_names_do_not_warn(innocent) -> None:
    _existing()
    client = api()
    for kind in ("projects", "systems", "teams"):
        response = client.post(
            f"/api/v1/{kind}/", {"name": innocent, "slug": f"n-{kind}"}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["warnings"] == []
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.WARNING).exists()


@pytest.mark.parametrize("lookalike", list(LOOKALIKES.values())[:3])
def test_the_form_shows_the_warning_after_save(lookalike) -> None:
    _existing()
    client = Client()
    client.force_login(it_staff_user())
    response = client.post(
        "/systems/new/", {"name": lookalike, "slug": "new-s", "kind": "other"}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any(f"“{lookalike}” looks like “" in m for m in shown), shown
    assert "looks like" in response.content.decode()
    # The system's page (IT's) shows the warning in its history.
    page = client.get("/systems/new-s/")
    assert "Warning" in page.content.decode() and "looks_like" in page.content.decode()


def test_the_catalog_warns_and_records_a_lookalike_in_steward_and_in_the_file() -> None:
    _existing()
    actor = it_staff_user()
    text = _catalog("P\u0435\u043eple") + (
        "---\napiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata: {name: app-b, title: Ｐｅｏｐｌｅ}\nspec: {lifecycle: production}\n---\n"
        "apiVersion: backstage.io/v1alpha1\nkind: Component\n"
        "metadata: {name: app-c, title: Peoples}\nspec: {lifecycle: production}\n"
    )
    summary = catalog_import(actor=actor, text=text)
    warned = {w["entity"] for w in summary["warnings"]}
    assert warned == {
        "group:default/team-a",
        "resource:default/sys-a",
        "component:default/app-a",
        "component:default/app-b",
    }
    recorded = AuditEntry.objects.filter(action=AuditEntry.Action.WARNING)
    assert recorded.count() == 4
    assert Project.objects.filter(slug__in=["app-a", "app-b", "app-c"]).count() == 3
    # Importing the same file again: nothing new, nothing warned again.
    again = catalog_import(actor=actor, text=text)
    assert again["warnings"] == []
    assert AuditEntry.objects.filter(action=AuditEntry.Action.WARNING).count() == 4


@pytest.mark.parametrize("lookalike", list(LOOKALIKES.values())[:3])
def test_the_admin_records_and_shows_a_lookalike_too(lookalike) -> None:
    _existing()
    client = Client()
    client.force_login(PersonFactory(user__is_superuser=True, user__is_staff=True).user)
    response = client.post(
        "/admin/registry/team/add/",
        {"name": lookalike, "slug": "new-t", "description": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert Team.objects.filter(slug="new-t").exists(), response.content.decode()[:3000]
    assert any("looks like" in str(m) for m in response.context["messages"])
    assert AuditEntry.objects.filter(action="warning", object_type="registry.team").count() == 1
    response = client.post(
        "/admin/registry/team/add/",
        {"name": poisoned("\u202e"), "slug": "bad-t", "description": ""},
    )
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    assert not Team.objects.filter(slug="bad-t").exists()
