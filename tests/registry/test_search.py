"""The directory search: ranked (exact slug or alias, then prefix, then the rest by likeness),
typo-tolerant, through trigram indexes, a pasted URL finding the app that serves it, matches
highlighted, and the same order in the API."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from registry.models import Project, ProjectAlias, ProjectURL
from registry.selectors import (
    SearchRank,
    directory_matches,
    directory_projects,
    projects_matching,
    ranked_sql,
)
from tests.factories import ProjectFactory, TeamFactory
from tests.registry.pages import client_for, reader  # noqa: F401 — a fixture

pytestmark = pytest.mark.django_db


def _project(name, slug=None, *, alias=None, url=None, **fields):
    project = ProjectFactory(name=name, slug=slug or re.sub(r"\W+", "-", name.lower()), **fields)
    if alias:
        ProjectAlias.objects.create(project=project, alias=alias)
    if url:
        ProjectURL(project=project, url=url).save()
    return project


@pytest.fixture
def wikis():
    """One project for each way of matching "wiki", and one that does not match."""
    return {
        "exact": _project("Knowledge Base", "kb", alias="Wiki"),
        "prefix": _project("Wiki Export"),
        "contains": _project("Old Intranet Wiki"),
        "description": _project("Payroll", description="Also the wiki of the payroll team."),
        "similar": _project("Wikki Tracker"),
        "other": _project("Payments"),
    }


def names(queryset) -> list[str]:
    return [p.name for p in queryset]


def test_results_come_exact_then_prefix_then_contained(wikis):
    found = list(projects_matching("wiki"))
    assert names(found) == [
        "Knowledge Base",
        "Wiki Export",
        "Old Intranet Wiki",  # the word itself, so more alike than Payroll's name
        "Payroll",
    ]  # not "Wikki Tracker": a query that is an app's alias is not a typo
    assert [p.search_rank for p in found] == [
        SearchRank.EXACT,
        SearchRank.PREFIX,
        SearchRank.CONTAINS,
        SearchRank.CONTAINS,
    ]


@pytest.mark.parametrize("exact", ["slug", "name", "alias", "url"])
def test_projects_merely_alike_come_last_unless_one_is_exactly_the_query(wikis, exact):
    """Alike projects are suggestions for a typo: listed after every project containing the
    query, and left out when one project is exactly it, whichever way (slug, name, alias, or
    the app of a pasted address). Looking for them was most of a search for a name."""
    ProjectAlias.objects.filter(project=wikis["exact"]).delete()
    query = "wiki"
    found = list(projects_matching(query))
    assert names(found) == ["Wiki Export", "Old Intranet Wiki", "Payroll", "Wikki Tracker"]
    assert [p.search_rank for p in found] == [
        SearchRank.PREFIX,
        SearchRank.CONTAINS,
        SearchRank.CONTAINS,
        SearchRank.SIMILAR,
    ]
    if exact == "slug":
        _project("Knowledge Wiki Two", "wiki")
    elif exact == "name":
        _project("WIKI", "the-wiki")
    elif exact == "alias":
        _project("Knowledge Base Two", "kb2", alias="Wiki")
    else:
        _project("Docs", url="https://wiki.example.com/")
        query = "https://wiki.example.com/start"
    found = list(projects_matching(query))
    assert found[0].search_rank == SearchRank.EXACT
    assert SearchRank.SIMILAR not in [p.search_rank for p in found]
    assert "Wikki Tracker" not in names(found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("peple", "People"), ("pepple", "People"), ("kuberntes", "Kubernetes Dashboard")],
)
def test_a_typo_still_finds_the_app(query, expected):
    _project("People")
    _project("Kubernetes Dashboard")
    _project("Payments")
    assert names(projects_matching(query))[:1] == [expected]


def test_a_directory_page_is_cut_from_the_ranked_ids(wikis):
    """The directory counts and pages the ids of `ranked_sql`, in its order, then reads the
    page's projects in that order; one deleted in between is left out, not an error."""
    ids = list(directory_matches("wiki"))
    assert names(Project.objects.get(pk=pk) for pk in ids) == names(projects_matching("wiki"))
    Project.objects.filter(pk=ids[1]).delete()
    assert [p.pk for p in directory_projects(ids)] == [ids[0], *ids[2:]]
    assert [p.name for p in directory_projects(directory_matches(""))] == sorted(
        p.name for p in wikis.values() if p.pk != ids[1]
    )


def test_an_exact_slug_beats_a_name_that_starts_with_it():
    _project("Ops Tools", "ops-tools")
    _project("Opsgenie Bridge", "ops")
    assert names(projects_matching("ops")) == ["Opsgenie Bridge", "Ops Tools"]


def test_a_team_name_finds_its_projects():
    team = TeamFactory(name="Finance Platform")
    _project("Ledger", team=team)
    _project("Unrelated")
    assert names(projects_matching("finance platform")) == ["Ledger"]


def test_a_pasted_url_finds_the_app_serving_that_path_first():
    _project("Intranet", url="https://corp.example.com/")
    _project("Team Wiki", url="https://corp.example.com/wiki")
    _project("Wiki Admin", url="https://corp.example.com/wiki/admin/")
    pasted = "https://corp.example.com/Wiki/Some_Page?action=edit"
    found = list(projects_matching(pasted))
    assert found[0].name == "Team Wiki"
    assert found[0].search_rank == SearchRank.EXACT
    # The host's other apps are still listed, after it.
    assert set(names(found[1:])) == {"Intranet", "Wiki Admin"}
    assert names(projects_matching("corp.example.com/wiki/admin/users"))[0] == "Wiki Admin"


def test_what_any_writer_stores_is_what_the_search_finds():
    """The search compares upper-case copies that PostgreSQL keeps with each row, so a rename by
    any path (here plain SQL, past every service and signal) is found at once, under its new
    name only, in the project, its aliases and its URLs alike."""
    project = _project("Ledger", alias="books", url="https://ledger.example.com/")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE registry_project SET name = 'Kassenbuch', slug = 'kasse' WHERE id = %s",
            [project.pk],
        )
        cursor.execute(
            "UPDATE registry_projectalias SET alias = 'Grand livre' WHERE project_id = %s",
            [project.pk],
        )
        cursor.execute(
            "UPDATE registry_projecturl SET url = 'https://kasse.example.com/' "
            "WHERE project_id = %s",
            [project.pk],
        )
    assert names(projects_matching("kassenBUCH")) == ["Kassenbuch"]
    assert names(projects_matching("GRAND liv")) == ["Kassenbuch"]
    assert names(projects_matching("kasse.example")) == ["Kassenbuch"]
    assert names(projects_matching("ledger")) == []
    assert names(projects_matching("books")) == []


def test_the_search_copies_are_never_audited():
    """They are PostgreSQL's, derived from the audited fields: a create and a rename record the
    fields people wrote, nothing more."""
    from registry import services
    from registry.models import AuditEntry

    project = services.project_create(actor=None, name="Ledger", slug="ledger", aliases=["books"])
    services.project_update(actor=None, project=project, name="Kassenbuch")

    entries = AuditEntry.objects.filter(object_id=str(project.pk)).order_by("id")
    assert [e.action for e in entries] == ["create", "update"]
    create, rename = entries
    assert "name" in create.changes
    assert set(rename.changes) == {"name"}
    assert not [field for e in entries for field in e.changes if field.startswith("upper_")]


def test_wildcards_in_a_query_are_plain_text():
    _project("Build 100% green")
    _project("Build 1000 green")
    _project("snake_case tool")
    _project("snakeXcase tool")

    def containing(query):  # what contains it; a merely alike name may follow, ranked below
        return [p.name for p in projects_matching(query) if p.search_rank < SearchRank.SIMILAR]

    assert containing("100%") == ["Build 100% green"]
    assert containing("snake_case") == ["snake_case tool"]


def test_at_scale_projects_are_read_through_their_trigram_indexes(wikis):
    """Among a few thousand projects, with whole-table reads priced out (at this size PostgreSQL
    still prefers them), the statement that finds a search's projects reads the projects table
    through its trigram indexes, and the ranked query then reads the projects found by primary
    key: the search can be answered without reading every project. (The planner's choice for
    the smaller tables at this size is its own; `make bench` measures the search at 10,000 and
    100,000 projects.)"""
    team = TeamFactory(name="Platform")
    projects = Project.objects.bulk_create(
        Project(name=f"Service {i:04}", slug=f"service-{i:04}", team=team if i % 7 else None)
        for i in range(3000)
    )
    ProjectAlias.objects.bulk_create(
        ProjectAlias(project=p, alias=f"svc {i:04}") for i, p in enumerate(projects)
    )
    ProjectURL.objects.bulk_create(
        ProjectURL(
            project=p, url=f"https://host{i:04}.example.com/", host=f"host{i:04}.example.com"
        )
        for i, p in enumerate(projects)
    )
    TeamFactory.create_batch(50)

    def plan_of(sql, params, *, whole_reads=False):
        with connection.cursor() as cursor:
            for table in ("project", "projectalias", "projecturl", "team"):
                cursor.execute(f"ANALYZE registry_{table}")
            cursor.execute(f"SET LOCAL enable_seqscan = {'on' if whole_reads else 'off'}")
            cursor.execute(f"EXPLAIN {sql}", params)
            return "\n".join(row[0] for row in cursor.fetchall())

    # Each project found is ranked by its primary key, whatever the planner thinks of the rest:
    # as a join, the rank read every project (it cannot know how few were found).
    ranking_each = plan_of(*ranked_sql("wiki"), whole_reads=True)
    assert "Index Scan using registry_project_pkey on registry_project project" in ranking_each
    assert "Seq Scan on registry_project project" not in ranking_each, ranking_each
    finding = plan_of(*ranked_sql("wiki"))
    assert "Seq Scan" not in finding, finding
    # Through a trigram index each, GIN or GiST (the planner's pick; both answer LIKE).
    for column in ("name", "slug", "description"):
        used = {f"project_{column}_trgm", f"project_{column}_nearest"} & set(finding.split())
        assert used, f"no trigram index of {column} is used:\n{finding}"
    ranking = plan_of(*projects_matching("wiki").query.sql_with_params())
    assert "Seq Scan" not in ranking, ranking
    assert "registry_project_pkey" in ranking, ranking
    # In ten names ("Service 0040" to "0049"), none of them exactly, and alike to all 3,000:
    # the most alike come nearest first from each column's GiST index, not from the likeness
    # of every project (whole reads allowed: the planner picks the index on its own).
    alike = plan_of(*ranked_sql("Service 004"), whole_reads=True)
    for index in ("project_name_nearest", "project_slug_nearest", "project_alias_nearest"):
        assert f"Index Scan using {index}" in alike, f"{index} is not used:\n{alike}"
        # Signatures wide enough that an inner page of names sharing a word is not alike to
        # every query (the default's 12 bytes were: 23-44 ms at 100,000 names, against 6-8).
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_indexdef(%s::regclass)", [index])
            definition = cursor.fetchone()[0]
        assert "gist_trgm_ops (siglen='256')" in definition, definition


def test_the_directory_highlights_what_matched_and_escapes_the_rest(reader):  # noqa: F811
    _project("<b>Wiki</b> & co", "wiki-co", alias="the WIKI")
    body = client_for(reader).get("/", {"q": "wiki"}).content.decode()
    assert "&lt;b&gt;<mark>Wiki</mark>&lt;/b&gt; &amp; co" in body
    assert "the <mark>WIKI</mark>" in body
    assert "<b>Wiki</b>" not in body


def test_the_api_ranks_like_the_directory(reader, wikis):  # noqa: F811
    response = client_for(reader).get("/api/v1/projects/", {"search": "wiki"})
    assert response.status_code == 200
    body = response.json()
    results = body["results"] if isinstance(body, dict) else body
    assert [p["name"] for p in results] == names(projects_matching("wiki"))
    # An explicit ordering still wins.
    response = client_for(reader).get("/api/v1/projects/", {"search": "wiki", "ordering": "name"})
    body = response.json()
    results = body["results"] if isinstance(body, dict) else body
    assert [p["name"] for p in results] == sorted(names(projects_matching("wiki")))


def test_every_trigram_index_takes_writes_into_the_index_itself():
    """With GIN's `fastupdate` on, a bulk import's entries wait in a pending list that every
    search scans whole until a vacuum merges it; after the synthetic registry's load PostgreSQL
    read the whole projects table instead (`make bench`). Every trigram index, whichever table
    it is on, is built with it off."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT index.relname, coalesce(index.reloptions, '{}')
            FROM pg_index i
            JOIN pg_class index ON index.oid = i.indexrelid
            JOIN pg_opclass opclass ON opclass.oid = ANY(i.indclass::oid[])
            WHERE opclass.opcname = 'gin_trgm_ops'
            """
        )
        options = dict(cursor.fetchall())
    assert {"project_name_trgm", "project_alias_trgm", "team_name_trgm"} <= set(options)
    assert {name: opts for name, opts in options.items() if "fastupdate=off" not in opts} == {}


def test_a_typo_search_keeps_only_the_most_alike(monkeypatch):
    """Projects merely alike are suggestions for a typo, not a listing: the `ALIKE_MOST` most
    alike (by the best of name, slug and aliases) and never one less alike than any left out.
    Before, an exact name in a registry whose names share a word found every project alike."""
    from registry import selectors

    monkeypatch.setattr(selectors, "ALIKE_MOST", 5)
    for i, name in enumerate(
        ["Inventory", "Inventory Admin", "Inventory Sync Tool", "Inventory Reports Archive"]
        + [f"Inventory Service {n}" for n in range(8)]
    ):
        _project(name, f"inv-{i}")
    _project("Stock Keeper", alias="Inventary")  # alike through its alias only

    found = list(projects_matching("Inventari"))  # contained in none
    assert [p.search_rank for p in found] == [SearchRank.SIMILAR] * 5

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.id, greatest(word_similarity(%s, p.name), word_similarity(%s, p.slug),
                                  coalesce(max(word_similarity(%s, a.alias)), 0))
            FROM registry_project p LEFT JOIN registry_projectalias a ON a.project_id = p.id
            GROUP BY p.id
            """,
            ["Inventari"] * 3,
        )
        likeness = dict(cursor.fetchall())
    kept = {p.pk for p in found}
    left_out = [pk for pk in likeness if pk not in kept and likeness[pk] > 0.4]
    assert left_out, "the test needs more alike projects than are kept"
    assert min(likeness[pk] for pk in kept) >= max(likeness[pk] for pk in left_out)
