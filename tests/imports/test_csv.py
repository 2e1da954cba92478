"""CSV import and export of the registry (imports/csv), through the service, the API, the
page and the management commands, on PostgreSQL."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from imports.csv.apply import registry_csv_import
from imports.csv.export import registry_csv_export
from imports.csv.format import MAX_BYTES, CsvRejected
from imports.csv.plan import registry_csv_plan
from registry.models import AuditEntry, Dependency, Project, ProjectAlias, ProjectRole, ProjectURL
from registry.services import audit_snapshot
from tests.factories import (
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    TeamFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

HEADER = (
    "slug,name,description,support_tier,team,help_channel,runbook_url,"
    "owners,maintainers,backups,aliases,urls,depends_on\n"
)
GOOD = HEADER + (
    "people,People app,Who works here,it_supported,blue,#people-help,https://wiki.example.com/p,"
    "ada;bob@example.com,carol,dave,staff;directory,https://people.example.com,db;sso:soft\n"
    'tweets,OraTweet,"Short posts, mostly lunch",side_project,,,,bob,,,,,db\n'
)


@pytest.fixture
def world():
    people = {name: PersonFactory(user__username=name) for name in ("ada", "bob", "carol", "dave")}
    systems = {slug: SystemFactory(slug=slug, name=slug.upper()) for slug in ("db", "sso", "dc")}
    team = TeamFactory(slug="blue", name="Blue")
    return {"people": people, "systems": systems, "team": team}


def _counts() -> tuple[int, ...]:
    return (
        Project.objects.count(),
        ProjectRole.objects.count(),
        ProjectAlias.objects.count(),
        ProjectURL.objects.count(),
        Dependency.objects.count(),
        AuditEntry.objects.count(),
    )


def _problems(text: str, **kwargs) -> list[tuple]:
    with pytest.raises(CsvRejected) as caught:
        registry_csv_import(actor=None, text=text, **kwargs)
    return [(p.row, p.column, p.value, p.reason) for p in caught.value.problems]


# --- the service ----------------------------------------------------------------------------------


def test_a_good_file_creates_projects_roles_aliases_urls_and_edges(world) -> None:
    summary = registry_csv_import(actor=None, text=GOOD)

    assert (summary["created"], summary["updated"], summary["unchanged"]) == (2, 0, 0)
    people = Project.objects.get(slug="people")
    assert people.name == "People app"
    assert people.support_tier == "it_supported"
    assert people.team == world["team"]
    assert people.help_channel == "#people-help"
    assert people.runbook_url == "https://wiki.example.com/p"
    assert [(r.person.user.username, r.role, r.order) for r in people.roles.order_by("order")] == [
        ("ada", "owner", 0),
        ("bob", "owner", 1),
        ("carol", "maintainer", 2),
        ("dave", "backup", 3),
    ]
    assert sorted(people.aliases.values_list("alias", flat=True)) == ["directory", "staff"]
    assert list(people.urls.values_list("url", "host")) == [
        ("https://people.example.com", "people.example.com")
    ]
    assert sorted(people.dependencies.values_list("target_system__slug", "criticality")) == [
        ("db", "hard"),
        ("sso", "soft"),
    ]
    tweets = Project.objects.get(slug="tweets")
    assert tweets.description == "Short posts, mostly lunch"
    assert tweets.team is None
    # Audited: each project created, each edge created.
    assert AuditEntry.objects.filter(object_type="registry.project", action="create").count() == 2
    assert (
        AuditEntry.objects.filter(object_type="registry.dependency", action="create").count() == 3
    )


def test_a_dry_run_writes_nothing_but_reports_each_rows_plan(world) -> None:
    before = _counts()

    summary = registry_csv_import(actor=None, text=GOOD, dry_run=True)

    assert _counts() == before
    assert summary["dry_run"] is True
    assert [(r["row"], r["slug"], r["action"]) for r in summary["rows"]] == [
        (2, "people", "create"),
        (3, "tweets", "create"),
    ]
    assert "depends_on" in summary["rows"][0]["changes"]


def test_every_problem_of_every_row_is_listed_and_nothing_is_written(world) -> None:
    ProjectFactory(name="Taken name", slug="taken")
    before = _counts()
    text = HEADER + (
        # row 2: unknown tier, unknown team, unknown system, bad criticality
        "a,A,,gold,red,,,ada,,,,,nope;db:maybe\n"
        # row 3: unknown person, invalid URL, invalid runbook URL
        "b,B,,,,,ftp://x,zed,,,,notaurl,\n"
        # row 4: duplicate slug (row 2), no owner
        "a,A2,,,,,,,,,,,\n"
        # row 5: invalid slug, too-long name
        f"bad slug!,{'n' * 201},,,,,,ada,,,,,\n"
        "\n"
        # row 7: a name another project has; a person in two roles
        "c,Taken name,,,,,,ada,ada,,,,\n"
        # row 8: a good row
        "d,D,,,,,,ada,,,,,db\n"
    )

    problems = _problems(text)

    assert _counts() == before
    got = {(row, column) for row, column, _value, _reason in problems}
    assert got == {
        (2, "support_tier"),
        (2, "team"),
        (2, "depends_on"),
        (3, "owners"),
        (3, "urls"),
        (3, "runbook_url"),
        (4, "slug"),
        (4, "owners"),
        (5, "slug"),
        (5, "name"),
        (7, "name"),
        (7, "maintainers"),
    }
    assert len([p for p in problems if p[:2] == (2, "depends_on")]) == 2  # both tokens named
    reasons = {(row, column): reason for row, column, _v, reason in problems}
    assert "row 2" in reasons[(4, "slug")]
    assert "taken" in reasons[(7, "name")]
    assert ("zed" in value for row, _c, value, _r in problems if row == 3)


def test_a_malformed_file_is_refused_with_the_row_of_the_open_quote() -> None:
    problems = _problems('slug,name,owners\nok,Ok,ada\n"open,Open,ada\nmore,More,ada\n')
    assert len(problems) == 1
    assert problems[0][0] == 3
    assert "quote" in problems[0][3]


def test_columns_unknown_missing_and_empty_files_are_problems(world) -> None:
    problems = _problems("slug,name,colour\nx,X,red\n")
    assert {(row, column) for row, column, _v, _r in problems} == {(1, "colour"), (1, "owners")}
    assert _problems("")[0][3].startswith("The file is empty")
    assert "no rows" in _problems(HEADER)[0][3]
    # An unknown column does not hide the rows' own problems.
    problems = _problems("slug,name,owners,colour\nx,X,zed,red\n")
    assert {(row, column) for row, column, _v, _r in problems} == {(1, "colour"), (2, "owners")}


def test_oversized_input_is_refused_before_reading_it() -> None:
    text = HEADER + ("x" * 1000 + "\n") * (MAX_BYTES // 1000 + 1)
    problems = _problems(text)
    assert len(problems) == 1 and "larger than" in problems[0][3]


def test_a_byte_order_mark_is_ignored(world) -> None:
    summary = registry_csv_import(actor=None, text="\ufeff" + GOOD)
    assert summary["created"] == 2
    # And through the API from bytes, as a spreadsheet saves it.
    client = Client()
    client.force_login(it_staff_user(user__username="it"))
    response = client.post(
        "/api/v1/registry/import/?dry_run=1",
        data=("\ufeff" + GOOD).encode("utf-8"),
        content_type="text/csv",
    )
    assert response.status_code == 200, response.content
    assert response.json()["unchanged"] == 2


def test_an_export_imported_again_changes_nothing(world) -> None:
    registry_csv_import(actor=None, text=GOOD)
    # Roles with equal orders (as the factories and older data have them) still export in order.
    legacy = ProjectFactory(slug="legacy", name="Legacy")
    ProjectRoleFactory(project=legacy, person=world["people"]["carol"], order=0)
    ProjectRoleFactory(project=legacy, person=world["people"]["dave"], order=0)
    exported = registry_csv_export()
    audits = AuditEntry.objects.count()
    stamps = dict(Project.objects.values_list("slug", "updated_at"))

    with CaptureQueriesContext(connection) as queries:
        summary = registry_csv_import(actor=None, text=exported)

    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 0, 3)
    assert AuditEntry.objects.count() == audits
    assert dict(Project.objects.values_list("slug", "updated_at")) == stamps
    assert len(queries) < 20  # a fixed number, whatever the rows
    assert registry_csv_export() == exported


def test_an_export_imported_into_an_empty_registry_reproduces_the_projects(world) -> None:
    registry_csv_import(actor=None, text=GOOD)
    exported = registry_csv_export()
    Project.objects.all().delete()
    assert Dependency.objects.count() == 0

    summary = registry_csv_import(actor=None, text=exported)

    assert summary["created"] == 2
    assert registry_csv_export() == exported


def test_the_rows_lists_replace_roles_aliases_urls_and_edges(world) -> None:
    registry_csv_import(actor=None, text=GOOD)
    people = Project.objects.get(slug="people")
    kept_edge = people.dependencies.get(target_system__slug="db")
    kept_edge.note = "via the HR schema"
    kept_edge.save()
    text = HEADER + (
        "people,People app,Who works here,it_supported,blue,#people-help,https://wiki.example.com/p,"
        "bob,,ada,staff,https://people.example.com;https://hr.example.com,db:soft;dc\n"
    )

    summary = registry_csv_import(actor=None, text=text)

    row = summary["rows"][0]
    assert row["action"] == "update"
    assert set(row["changes"]) == {
        "owners",
        "maintainers",
        "backups",
        "aliases",
        "urls",
        "depends_on",
    }
    assert [(r.person.user.username, r.role) for r in people.roles.order_by("order")] == [
        ("bob", "owner"),
        ("ada", "backup"),
    ]
    assert list(people.aliases.values_list("alias", flat=True)) == ["staff"]
    assert sorted(people.urls.values_list("url", flat=True)) == [
        "https://hr.example.com",
        "https://people.example.com",
    ]
    edges = {d.target_system.slug: d for d in people.dependencies.select_related("target_system")}
    assert set(edges) == {"db", "dc"}  # sso removed
    assert edges["db"].criticality == "soft" and edges["db"].note == "via the HR schema"
    assert (
        AuditEntry.objects.filter(object_type="registry.dependency", action="delete").count() == 1
    )
    # The project's entry is what the services record: audit_snapshot before and after.
    entry = AuditEntry.objects.filter(object_type="registry.project", action="update").get()
    assert entry.changes == {
        "aliases": [["directory", "staff"], ["staff"]],
        "urls": [
            ["https://people.example.com"],
            ["https://hr.example.com", "https://people.example.com"],
        ],
        "roles": [
            ["owner: Ada", "owner: Bob", "maintainer: Carol", "backup: Dave"],
            ["owner: Bob", "backup: Ada"],
        ],
    }
    after = audit_snapshot(people)
    assert all(after[key] == new for key, (_old, new) in entry.changes.items())
    # Columns left out of a file leave the project's fields as they are.
    registry_csv_import(actor=None, text="slug,name,owners\npeople,People,bob\n")
    people.refresh_from_db()
    assert people.name == "People" and people.support_tier == "it_supported"
    assert people.dependencies.count() == 2
    assert people.roles.filter(role="backup").count() == 1


def test_an_owner_who_drops_out_of_the_file_loses_the_role_but_a_project_keeps_one(world) -> None:
    registry_csv_import(actor=None, text=GOOD)
    problems = _problems(HEADER + "people,People app,,,,,,,,,,,\n")
    assert problems == [(2, "owners", "", "A project needs at least one owner.")]


def test_formula_cells_are_guarded_on_export_and_read_back_unchanged(world) -> None:
    ProjectRoleFactory(
        project=ProjectFactory(
            slug="-calc",
            name='=HYPERLINK("http://evil.example.com","click")',
            description="@SUM(1+1)",
            help_channel="+1 555",
        ),
        person=world["people"]["ada"],
    )
    exported = registry_csv_export()
    row = exported.splitlines()[1]
    assert row.startswith("'-calc,")
    assert '"\'=HYPERLINK(""http://evil.example.com"",""click"")"' in row
    assert "'@SUM(1+1)" in row and "'+1 555" in row
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.split(","))

    summary = registry_csv_import(actor=None, text=exported)

    assert summary["unchanged"] == 1
    project = Project.objects.get(slug="-calc")
    assert project.description == "@SUM(1+1)"


def _counting_queries(count: list[int]):
    def counting(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    return connection.execute_wrapper(counting)


def test_two_thousand_rows_import_in_a_bounded_number_of_queries(world) -> None:
    rows = "".join(
        f"app-{i},App {i},,,blue,,,ada;bob,carol,,alias{i},https://app{i}.example.com,db;sso:soft\n"
        for i in range(2000)
    )
    with CaptureQueriesContext(connection) as plan_queries:
        plan = registry_csv_plan(HEADER + rows)
    assert not plan.problems
    assert len(plan_queries) < 15  # checking costs the same for 2 rows or 2,000

    created = [0]
    with _counting_queries(created):
        summary = registry_csv_import(actor=None, text=HEADER + rows)
    assert summary["created"] == 2000
    assert created[0] < 30, created[0]  # new projects go in a few INSERTs in all
    assert AuditEntry.objects.filter(action="create").count() == 2000 * 3  # projects, 2 edges each
    assert Dependency.objects.count() == 4000 and ProjectRole.objects.count() == 6000

    changed = rows.replace(",blue,", ",,").replace(":soft", "")
    updated = [0]
    with _counting_queries(updated):
        summary = registry_csv_import(actor=None, text=HEADER + changed)
    assert summary["updated"] == 2000
    print(f"2,000 new rows: {created[0]} queries; 2,000 changed rows: {updated[0]} queries")
    assert updated[0] / 2000 < 20, updated[0]  # a changed project costs a few queries of its own


def test_an_imported_projects_audit_entry_is_what_the_services_would_record(world) -> None:
    registry_csv_import(actor=None, text=GOOD)
    people = Project.objects.get(slug="people")
    entry = AuditEntry.objects.get(object_type="registry.project", object_id=str(people.pk))
    assert entry.action == "create" and entry.object_repr == "People app"
    after = audit_snapshot(people)
    assert entry.changes == {
        key: [None, value] for key, value in after.items() if value is not None
    }
    assert entry.changes["roles"][1] == [
        "owner: Ada",
        "owner: Bob",
        "maintainer: Carol",
        "backup: Dave",
    ]


# --- permissions: API and page ------------------------------------------------------------------


@pytest.fixture
def roles(world):
    owned = ProjectFactory(slug="owned", name="Owned")
    ProjectRoleFactory(project=owned, person=world["people"]["ada"])
    reader = PersonFactory(user__username="reader")
    it = it_staff_user(user__username="itstaff")
    return {"owned": owned, "owner": world["people"]["ada"].user, "reader": reader.user, "it": it}


OWNED_ROW = "slug,name,owners,depends_on\nowned,Owned,ada,db\n"


def _api(user, text: str, query: str = "") -> object:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.post(f"/api/v1/registry/import/{query}", data=text, content_type="text/csv")


def test_api_who_may_import_what(roles) -> None:
    assert _api(None, OWNED_ROW).status_code == 401

    refused = _api(roles["reader"], OWNED_ROW)
    assert refused.status_code == 403
    assert refused.json()["problems"][0]["row"] == 2
    assert Dependency.objects.count() == 0

    assert _api(roles["owner"], OWNED_ROW).status_code == 200
    assert (
        _api(roles["it"], "slug,name,owners,depends_on\nowned,Owned,ada,sso\n").status_code == 200
    )
    assert list(roles["owned"].dependencies.values_list("target_system__slug", flat=True)) == [
        "sso"
    ]

    # Anyone registered may add a new project, if they are among its owners.
    assert _api(roles["reader"], "slug,name,owners\nmine,Mine,ada\n").status_code == 403
    created = _api(roles["reader"], "slug,name,owners\nmine,Mine,reader;ada\n")
    assert created.status_code == 200, created.content
    assert created.json()["created"] == 1


def test_api_bad_file_is_a_400_naming_each_problem(roles) -> None:
    response = _api(roles["it"], "slug,name,owners\nx,X,nobody\ny,Y,\n")
    assert response.status_code == 400
    assert response.json() == {
        "problems": [
            {
                "row": 2,
                "column": "owners",
                "value": "nobody",
                "reason": "No person has this username or email (an import does not create "
                "people).",
            },
            {
                "row": 3,
                "column": "owners",
                "value": "",
                "reason": "A project needs at least one owner.",
            },
        ]
    }
    not_utf8 = Client()
    not_utf8.force_login(roles["it"])
    response = not_utf8.post(
        "/api/v1/registry/import/", data=b"slug,name\n\xff\xfe", content_type="text/csv"
    )
    assert response.status_code == 400 and "UTF-8" in response.json()["problems"][0]["reason"]


def test_api_multipart_upload_dry_run_and_export(roles) -> None:
    client = Client()
    token = Token.objects.create(user=roles["it"])
    upload = io.BytesIO(b"slug,name,owners\nnew-app,New app,ada\n")
    upload.name = "projects.csv"
    response = client.post(
        "/api/v1/registry/import/?dry_run=1",
        {"file": upload},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["rows"] == [
        {
            "row": 2,
            "slug": "new-app",
            "action": "create",
            "changes": ["slug", "name", "support_tier", "owners"],
        }
    ]
    assert not Project.objects.filter(slug="new-app").exists()

    export = client.get("/api/v1/registry/export/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    assert export.content.decode().splitlines()[1].startswith("owned,Owned,")
    assert Client().get("/api/v1/registry/export/").status_code == 401


def test_page_check_keeps_the_text_then_import_writes(roles) -> None:
    client = Client()
    client.force_login(roles["owner"])
    assert client.get("/import/csv/").status_code == 200

    checked = client.post("/import/csv/", {"text": OWNED_ROW, "action": "check"})
    assert checked.status_code == 200
    body = checked.content.decode()
    assert "1 to update" in body and "depends_on" in body
    assert "owned,Owned,ada,db" in body  # the text comes back in the text box
    assert Dependency.objects.count() == 0

    imported = client.post("/import/csv/", {"text": OWNED_ROW, "action": "import"})
    assert imported.status_code == 302
    assert Dependency.objects.filter(source_project=roles["owned"]).count() == 1


def test_page_shows_every_problem_and_keeps_the_uploaded_file(roles) -> None:
    client = Client()
    client.force_login(roles["it"])
    upload = io.BytesIO(b"slug,name,owners\nx,X,nobody\ny,Y,ada\n")
    upload.name = "projects.csv"

    response = client.post("/import/csv/", {"file": upload, "action": "import"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 problem" in body and "nobody" in body and "<td>2</td>" in body
    assert "y,Y,ada" in body  # the upload is in the text box, ready to fix and check again
    assert not Project.objects.filter(slug__in=["x", "y"]).exists()


def test_page_refuses_rows_a_reader_may_not_change_and_export_needs_sign_in(roles) -> None:
    client = Client()
    client.force_login(roles["reader"])
    response = client.post("/import/csv/", {"text": OWNED_ROW, "action": "import"})
    assert response.status_code == 403
    assert "You may not change this project" in response.content.decode()
    assert Dependency.objects.count() == 0

    anonymous = Client().get("/export/registry.csv")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    export = client.get("/export/registry.csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")


# --- the commands ---------------------------------------------------------------------------------


def test_commands_import_dry_run_problems_and_export(world, tmp_path) -> None:
    path = tmp_path / "projects.csv"
    path.write_text(GOOD, encoding="utf-8")

    out = io.StringIO()
    call_command("registry_import_csv", str(path), "--dry-run", stdout=out)
    assert "Would import: 2 created" in out.getvalue()
    assert Project.objects.count() == 0

    it = it_staff_user(user__username="itstaff")
    call_command("registry_import_csv", str(path), "--actor", "itstaff", stdout=io.StringIO())
    assert Project.objects.count() == 2
    assert AuditEntry.objects.filter(object_type="registry.project", actor=it).count() == 2

    bad = tmp_path / "bad.csv"
    bad.write_text("slug,name,owners\nz,Z,nobody\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command("registry_import_csv", str(bad), stderr=err)
    assert "row 2, column owners ('nobody')" in err.getvalue()

    exported = tmp_path / "export.csv"
    call_command("registry_export_csv", str(exported))
    assert exported.read_bytes().decode("utf-8") == registry_csv_export()
    out = io.StringIO()
    call_command("registry_import_csv", str(exported), stdout=out)
    assert "0 created, 0 updated, 2 unchanged" in out.getvalue()


def test_nul_characters_and_too_many_cells_are_named_not_a_server_error(world) -> None:
    problems = _problems("slug,name,owners\nok,O\x00k,ada\nwide,Wide,ada,extra\n")
    assert [(row, column) for row, column, _v, _r in problems] == [(2, "name"), (3, "")]
    client = Client()
    client.force_login(it_staff_user(user__username="itstaff"))
    response = client.post(
        "/api/v1/registry/import/", data="slug,name,owners\nx\x00,X,ada\n", content_type="text/csv"
    )
    assert response.status_code == 400
    assert response.json()["problems"][0]["column"] == "slug"
