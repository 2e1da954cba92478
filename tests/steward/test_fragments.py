"""Rendered fragments kept between requests (`steward.fragments`), against PostgreSQL and Redis:
the triggers count every write to every table but the untracked ones, a fragment is never kept
while a write is in flight, and the directory's kept results give way to every kind of change
they show: the registry's, the people's, on call, and what is open."""

from __future__ import annotations

import re
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.services import outages as outage_services
from oncall import services as oncall_services
from registry.models import ProjectAlias, ProjectRole
from steward import fragments
from tests.factories import (
    DependencyFactory,
    IncidentFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from tests.oncall.helpers import layer, rotation
from tests.queries import rendered_queries
from tests.registry.pages import HTMX, client_for, reader  # noqa: F401 — a fixture

pytestmark = pytest.mark.django_db


AT = datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC)


def _version() -> int:
    return fragments.catalog_version()[0]


def _tables() -> set[str]:
    return set(connection.introspection.table_names())


# --- the catalog version --------------------------------------------------------------------------


def test_every_table_but_the_untracked_ones_counts_its_writes():
    tables = _tables()
    assert tables >= fragments.UNTRACKED, "an untracked table that no longer exists"
    assert fragments.tracked_tables() == tables - fragments.UNTRACKED


def test_a_write_to_any_tracked_table_moves_the_version_and_an_untracked_one_does_not():
    for table in sorted(_tables()):
        before = _version()
        with connection.cursor() as cursor:  # a statement that changes no row still counts
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)} WHERE false")  # noqa: S608
        moved = _version() > before
        assert moved == (table not in fragments.UNTRACKED), table


def test_install_puts_back_a_dropped_trigger_and_is_idempotent():
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER {fragments.TRIGGER} ON registry_project")
    assert "registry_project" not in fragments.tracked_tables()
    fragments.install()
    fragments.install()
    assert fragments.tracked_tables() == _tables() - fragments.UNTRACKED


@pytest.fixture
def other_connection():
    """A second session on the test database, as another request or worker would be."""
    settings_dict = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings_dict["NAME"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
    )
    yield other
    other.close()


def test_a_write_in_flight_elsewhere_keeps_fragments_from_being_kept(other_connection):
    assert fragments.catalog_version()[1] is True
    with other_connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_team WHERE false")  # its transaction stays open
    version, quiet = fragments.catalog_version()
    assert quiet is False
    other_connection.commit()
    assert fragments.catalog_version() == (version, True)


def counting_render(*, keep: bool):
    """A render that says how many times it ran ("render 1", "render 2", ...)."""
    renders = []

    def render():
        renders.append(1)
        return f"render {len(renders)}", keep

    return render


def test_a_fragment_rendered_while_a_write_is_in_flight_is_served_not_kept(other_connection):
    render = counting_render(keep=True)

    with other_connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_team WHERE false")
        assert fragments.cached_fragment("t", ("a",), render, now=AT) == "render 1"
        assert fragments.cached_fragment("t", ("a",), render, now=AT) == "render 2"
    other_connection.commit()
    assert fragments.cached_fragment("t", ("a",), render, now=AT) == "render 3"
    assert fragments.cached_fragment("t", ("a",), render, now=AT) == "render 3"  # kept now


def test_a_fragment_is_kept_to_the_end_of_its_minute_and_not_read_in_the_next():
    render = counting_render(keep=True)

    fragments.cached_fragment("t", ("e",), render, now=AT)
    client = redis.Redis.from_url(settings.REDIS_URL)
    (key,) = client.scan_iter(f"steward:fragment:{fragments.SALT}:t:*", count=1000)
    assert 50 < client.ttl(key) <= 56  # the 55 seconds left of its minute, and one
    assert fragments.cached_fragment("t", ("e",), render, now=AT + timedelta(seconds=54)) == (
        "render 1"
    )
    assert fragments.cached_fragment("t", ("e",), render, now=AT + timedelta(seconds=55)) == (
        "render 2"
    )


def _kept_key(name: str, parts: tuple) -> str:
    version, _quiet = fragments.catalog_version()
    return fragments._key(name, (*parts, AT.replace(second=0).isoformat()), version)


def _later(seconds: float, *actions) -> threading.Thread:
    """Another request's part, done `seconds` from now in a thread: each action on Redis."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def run():
        time.sleep(seconds)
        for action in actions:
            action(client)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_fragment_another_request_is_rendering_is_waited_for_not_rendered_again():
    key = _kept_key("t", ("f",))
    redis.Redis.from_url(settings.REDIS_URL).set(f"{key}:rendering", b"1", px=5000)
    thread = _later(
        0.05,
        lambda client: client.set(key, zlib.compress(b"theirs"), ex=60),
        lambda client: client.delete(f"{key}:rendering"),
    )
    render = counting_render(keep=True)
    assert fragments.cached_fragment("t", ("f",), render, now=AT) == "theirs"
    thread.join()
    assert fragments.cached_fragment("t", ("f",), render, now=AT) == "theirs"


def test_a_waiter_renders_at_once_when_the_other_gives_up_and_after_the_wait_at_most(
    monkeypatch,
):
    key = _kept_key("t", ("g",))
    redis.Redis.from_url(settings.REDIS_URL).set(f"{key}:rendering", b"1", px=5000)
    thread = _later(0.05, lambda client: client.delete(f"{key}:rendering"))
    started = time.monotonic()
    assert fragments.cached_fragment("t", ("g",), counting_render(keep=True), now=AT) == (
        "render 1"
    )
    thread.join()
    assert time.monotonic() - started < fragments.RENDERING_WAIT_SECONDS

    # A renderer that died: its mark outlives it, the wait does not.
    key = _kept_key("t", ("h",))
    redis.Redis.from_url(settings.REDIS_URL).set(f"{key}:rendering", b"1", px=5000)
    monkeypatch.setattr(fragments, "RENDERING_WAIT_SECONDS", 0.1)
    started = time.monotonic()
    assert fragments.cached_fragment("t", ("h",), counting_render(keep=True), now=AT) == (
        "render 1"
    )
    assert 0.1 <= time.monotonic() - started < 1


def test_what_a_render_says_depends_on_who_asks_is_not_kept():
    render = counting_render(keep=False)

    fragments.cached_fragment("t", ("b",), render, now=AT)
    assert fragments.cached_fragment("t", ("b",), render, now=AT) == "render 2"


def test_without_redis_fragments_are_rendered_every_time(monkeypatch):
    def refused():
        raise redis.ConnectionError("Redis is away")

    monkeypatch.setattr(fragments, "redis_connection", refused)
    render = counting_render(keep=True)

    assert fragments.cached_fragment("t", ("c",), render, now=AT) == "render 1"
    assert fragments.cached_fragment("t", ("c",), render, now=AT) == "render 2"


def test_a_fragment_another_process_kept_is_read_from_redis_then_held_here(monkeypatch):
    render = counting_render(keep=True)
    assert fragments.cached_fragment("t", ("k",), render, now=AT) == "render 1"
    monkeypatch.setattr(fragments, "_RECENT", fragments._Recent())  # another process
    assert fragments.cached_fragment("t", ("k",), render, now=AT) == "render 1"  # from Redis
    client = redis.Redis.from_url(settings.REDIS_URL)
    (key,) = client.scan_iter(f"steward:fragment:{fragments.SALT}:t:*", count=1000)
    client.delete(key)
    assert fragments.cached_fragment("t", ("k",), render, now=AT) == "render 1"  # held here
    # A write moves the version: neither copy is read again.
    ProjectFactory()
    assert fragments.cached_fragment("t", ("k",), render, now=AT) == "render 2"


def test_the_copies_held_here_are_one_minutes_and_bounded(monkeypatch):
    recent = fragments._Recent()
    minute = AT.replace(second=0)
    recent.put("a", minute, "A")
    assert recent.get("a", minute) == "A"
    assert recent.get("a", minute + timedelta(minutes=1)) is None
    recent.put("b", minute + timedelta(minutes=1), "B")  # the next minute drops the last one's
    assert recent.get("a", minute) is None
    assert recent.get("b", minute + timedelta(minutes=1)) == "B"
    recent.put("c", minute, "C")  # a clock set back: that minute is the one held
    assert recent.get("c", minute) == "C"
    assert recent.get("b", minute + timedelta(minutes=1)) is None

    monkeypatch.setattr(fragments._Recent, "MAX_CHARS", 10)
    recent = fragments._Recent()
    for key in ("x", "y", "z"):
        recent.put(key, minute, key * 4)
    assert recent.get("x", minute) is None  # 12 characters: the least recently read went
    assert recent.get("z", minute) == "zzzz"
    assert recent.get("y", minute) == "yyyy"
    recent.put("w", minute, "wwww")
    assert recent.get("z", minute) is None
    assert recent.get("y", minute) == "yyyy"


def test_another_release_of_the_code_does_not_read_what_this_one_kept(monkeypatch):
    fragments.cached_fragment("t", ("d",), lambda: ("old templates", True), now=AT)
    monkeypatch.setattr(fragments, "SALT", "another release")
    assert fragments.cached_fragment("t", ("d",), lambda: ("new templates", True), now=AT) == (
        "new templates"
    )


def test_the_code_fingerprint_follows_the_templates(tmp_path):
    template = tmp_path / "page.html"
    template.write_text("<p>one</p>")
    first = fragments._fingerprint([template])
    template.write_text("<p>two</p>")
    assert fragments._fingerprint([template]) != first
    assert any(p.name == "_project_list.html" for p in fragments._code_files())


# --- the directory's results ----------------------------------------------------------------------


@pytest.fixture
def one_minute():
    """A fragment is kept to the end of its minute: a test that reads one twice and expects the
    second read to be the kept one starts with at least 5 seconds of the minute left (a read
    on either side of the minute's end is rendered twice, rightly)."""
    left = 60 - timezone.now().second
    if left < 5:
        time.sleep(left + 0.1)


@pytest.fixture
def wiki():
    project = ProjectFactory(name="Wiki", slug="wiki")
    owner = PersonFactory(display_name="Olga Owner", time_zone="Asia/Tokyo")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    return project, owner


def _rename(wiki):
    project, _owner = wiki
    project.name = "Wiki Encyclopedia"
    project.save()
    return "Encyclopedia"  # after the highlighted match


def _alias(wiki):
    ProjectAlias.objects.create(project=wiki[0], alias="Wiki knowledge base")
    return "knowledge base"


def _person_renamed(wiki):
    owner = wiki[1]
    owner.display_name = "Olga Renamed"
    owner.save(update_fields=["display_name"])
    return "Olga Renamed"


def _person_moved(wiki):
    owner = wiki[1]
    owner.time_zone = "America/Lima"
    owner.save(update_fields=["time_zone"])
    return "America/Lima"


def _backup_added(wiki):
    backup = PersonFactory(display_name="Bea Backup", working_hours={})
    ProjectRoleFactory(project=wiki[0], person=backup, role=ProjectRole.Role.OWNER, order=1)
    return "Bea Backup"


def _on_call_override(wiki):
    rota = rotation(wiki[0], name="Primary")
    layer(rota, [PersonFactory()])
    now = timezone.now()
    oncall_services.override_create(
        actor=None,
        rotation=rota,
        person=PersonFactory(display_name="Cover Person"),
        start_at=now - timedelta(hours=1),
        end_at=now + timedelta(hours=1),
    )
    return "Cover Person"


def _outage(wiki):
    system = SystemFactory(name="SSO")
    DependencyFactory(source_project=wiki[0], target_system=system)
    outage_services.outage_open(
        actor=it_staff_user(), title="SSO down", systems=[system], severity="sev1"
    )
    return "IT outage: SSO down"


def _incident(wiki):
    IncidentFactory(project=wiki[0], title="Wiki slow", impact="degraded")
    return "Incident: Wiki slow"


@pytest.mark.parametrize(
    "change",
    [
        _rename,
        _alias,
        _person_renamed,
        _person_moved,
        _backup_added,
        _on_call_override,
        _outage,
        _incident,
    ],
)
@pytest.mark.usefixtures("one_minute")
def test_kept_results_give_way_to_every_kind_of_change_they_show(reader, wiki, change):  # noqa: F811
    client = client_for(reader)
    first = client.get("/", {"q": "wiki"}, **HTMX).content.decode()
    with CaptureQueriesContext(connection) as kept:
        assert client.get("/", {"q": "wiki"}, **HTMX).content.decode() == first
    assert len(kept) < 6, "the second read rendered the results again"
    shown = change(wiki)
    assert shown not in first
    assert shown in client.get("/", {"q": "wiki"}).content.decode()
    assert shown in client.get("/", {"q": "wiki"}, **HTMX).content.decode()


def test_a_deleted_project_leaves_the_kept_results(reader, wiki):  # noqa: F811
    client = client_for(reader)
    assert 'href="/projects/wiki/"' in client.get("/").content.decode()
    wiki[0].delete()
    assert 'href="/projects/wiki/"' not in client.get("/").content.decode()


def test_reading_the_directory_writes_nothing_that_counts(reader, wiki):  # noqa: F811
    client = client_for(reader)
    client.get("/", {"q": "wiki"})
    before = _version()
    client.get("/", {"q": "wiki"})
    client.get("/", {"q": "nothing like it"})
    client.get("/", {"q": "wiki"}, **HTMX)
    assert _version() == before


def test_results_kept_in_one_minute_are_rendered_again_in_the_next(reader, wiki, monkeypatch):  # noqa: F811
    client = client_for(reader)
    start = timezone.now().replace(second=10, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: start)
    client.get("/", {"q": "wiki"})
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=40))
    with CaptureQueriesContext(connection) as same_minute:
        client.get("/", {"q": "wiki"})
    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(seconds=60))
    with CaptureQueriesContext(connection) as next_minute:
        client.get("/", {"q": "wiki"})
    assert len(same_minute) < len(next_minute)


def test_nothing_found_is_rendered_for_whoever_asks(reader):  # noqa: F811
    """Its ways on (register the app, whom in IT to ask) depend on who may do what."""
    client = client_for(reader)
    client.get("/", {"q": "nope"})
    with CaptureQueriesContext(connection) as again:
        body = client.get("/", {"q": "nope"}).content.decode()
    assert "Register this app" in body
    assert any("registry_team" in q["sql"] for q in again), "the ways on were not rendered"


# Table names as the ORM and the raw SQL of the selectors write them.
_TABLE = re.compile(r'(?:FROM|JOIN)\s+"?([a-z_0-9]+)"?', re.IGNORECASE)


def _tables_read_rendering(client, url: str) -> tuple[set[str], str]:
    """The tables (not CTE names) the queries of a GET of `url` read while rendering its kept
    fragments again (sessions and on-call rules read already), and the body."""
    queries, body = rendered_queries(client, url)
    read = {m.group(1) for q in queries for m in _TABLE.finditer(q["sql"])}
    return read & _tables(), body


def test_the_results_read_only_tables_whose_writes_count(reader, wiki):  # noqa: F811
    _on_call_override(wiki)
    _outage(wiki)
    read, body = _tables_read_rendering(client_for(reader), "/?q=wiki")
    assert "Cover Person" in body and "SSO down" in body
    assert read & {"registry_project", "registry_projectrole", "registry_person"}
    # The session is read by the middleware, outside the fragment: not the results' business.
    assert read & fragments.UNTRACKED <= {"django_session"}


# --- who supports a project (the API) -------------------------------------------------------------

SUPPORT = "/api/v1/projects/wiki/support/"


@pytest.mark.parametrize(
    "change", [_person_renamed, _person_moved, _backup_added, _on_call_override]
)
@pytest.mark.usefixtures("one_minute")
def test_kept_support_answers_give_way_to_every_kind_of_change_they_show(reader, wiki, change):  # noqa: F811
    client = client_for(reader)
    first = client.get(SUPPORT).content.decode()
    with CaptureQueriesContext(connection) as kept:
        assert client.get(SUPPORT).content.decode() == first
    assert len(kept) < 4, "the second read worked the answer out again"
    shown = change(wiki)
    assert shown not in first
    assert shown in client.get(SUPPORT).content.decode()


def test_the_support_answer_reads_only_tables_whose_writes_count(reader, wiki):  # noqa: F811
    _on_call_override(wiki)
    read, body = _tables_read_rendering(client_for(reader), SUPPORT)
    assert "Cover Person" in body
    assert read & {"registry_project", "registry_projectrole", "registry_person"}
    assert read & fragments.UNTRACKED <= {"django_session"}


# --- a project's page -----------------------------------------------------------------------------


def _csrf_of(body: str) -> list[str]:
    return re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)


def test_a_readers_kept_page_carries_their_own_csrf_token(reader, wiki):  # noqa: F811
    other = PersonFactory().user
    for user in (other, reader):  # the other reader's read is the one kept
        client = client_for(user)
        client.handler.enforce_csrf_checks = True
        body = client.get("/projects/wiki/").content.decode()
        tokens = _csrf_of(body)
        assert tokens, "the report form lost its token"
        assert fragments.csrf_placeholder() not in body
        answer = client.post(
            reverse("feedback:report-create", args=["wiki"]),
            {"description": "It shows a blank page", "csrfmiddlewaretoken": tokens[0]},
        )
        assert answer.status_code in (200, 302), answer.status_code


def test_a_reader_never_sees_the_page_an_owner_was_shown(reader, wiki):  # noqa: F811
    owner = wiki[1].user
    assert "Edit project" in client_for(owner).get("/projects/wiki/").content.decode()
    assert "Edit project" not in client_for(reader).get("/projects/wiki/").content.decode()
    assert "Edit project" in client_for(owner).get("/projects/wiki/").content.decode()


def test_a_missing_project_is_a_404_every_time(reader):  # noqa: F811
    client = client_for(reader)
    assert client.get("/projects/nope/").status_code == 404
    assert client.get("/projects/nope/").status_code == 404


def _described(wiki):
    project = wiki[0]
    project.description = "The company's knowledge base."
    project.save()
    return "The company&#x27;s knowledge base."


def _dependency(wiki):
    DependencyFactory(source_project=wiki[0], target_system=SystemFactory(name="Mail relay"))
    return "Mail relay"


def _release(wiki):
    from changes.services import release_record

    release_record(actor=wiki[1].user, project=wiki[0], summary="Version 7 with dark mode")
    return "Version 7 with dark mode"


@pytest.mark.parametrize(
    "change",
    [_described, _dependency, _release, _person_renamed, _on_call_override, _outage, _incident],
)
@pytest.mark.usefixtures("one_minute")
def test_a_kept_project_page_gives_way_to_every_kind_of_change_it_shows(reader, wiki, change):  # noqa: F811
    client = client_for(reader)
    first = client.get("/projects/wiki/").content.decode()
    with CaptureQueriesContext(connection) as kept:
        again = client.get("/projects/wiki/").content.decode()
    assert _csrf_of(again)
    assert len(kept) < 8, "the second read rendered the page again"
    shown = change(wiki)
    assert shown not in first
    assert shown in client.get("/projects/wiki/").content.decode()


def test_the_project_page_reads_only_tables_whose_writes_count(reader, wiki):  # noqa: F811
    _on_call_override(wiki)
    _outage(wiki)
    _release(wiki)
    read, body = _tables_read_rendering(client_for(reader), "/projects/wiki/")
    assert "Cover Person" in body and "SSO down" in body
    assert read & {"registry_project", "changes_release", "registry_auditentry"}
    assert read & fragments.UNTRACKED <= {"django_session"}


def _counted(text: str, fragment: str, outcome: str) -> float:
    found = re.search(
        rf'^steward_fragments_total{{fragment="{fragment}",outcome="{outcome}"}} (\S+)$',
        text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.usefixtures("one_minute")
def test_metrics_count_how_each_fragment_was_answered(reader, wiki, monkeypatch):  # noqa: F811
    from integrations.metrics import metrics_text

    before = metrics_text().decode()
    client = client_for(reader)
    client.get("/", {"q": "wiki"})
    client.get("/", {"q": "wiki"})  # this process's copy
    monkeypatch.setattr(fragments, "_RECENT", fragments._Recent())  # as another process would
    client.get("/", {"q": "wiki"})  # from Redis
    client.get("/", {"q": "nothing like it"})  # found nothing: depends on who asks
    after = metrics_text().decode()
    answers = {"rendered": 1, "kept_here": 1, "kept": 1, "rendered_unkept": 1, "waited": 0}
    for outcome, more in answers.items():
        counted = _counted(after, "directory", outcome) - _counted(before, "directory", outcome)
        assert counted == more, outcome
