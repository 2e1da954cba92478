"""The directory and the project page over HTTP, against PostgreSQL: search, htmx fragments, who
supports a project and whether they are awake, fixed query counts, the project page's role and
dependency forms with inline errors, permissions and escaping."""

from __future__ import annotations

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from changes.services import release_record, release_record_by_key
from oncall import services as oncall_services
from registry import services
from registry.models import (
    ContactMethod,
    Dependency,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
)
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    TeamFactory,
    UserFactory,
)
from tests.oncall.helpers import ALWAYS, layer, rotation
from tests.queries import rendered_read, warm_read
from tests.registry.pages import HTMX, client_for

pytestmark = pytest.mark.django_db


def names_in(response) -> list[str]:
    return names_in_body(response.content.decode())


# --- directory ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["peop", "PEOPLE", "hr port", "https://people.example.com/app/x", "people.example.com"],
)
def test_directory_finds_project_by_name_alias_and_pasted_url(reader, people_app, query):
    ProjectFactory(name="Payroll", slug="payroll")
    response = client_for(reader).get("/", {"q": query})
    assert response.status_code == 200
    assert names_in(response) == ["People"]


def test_directory_without_query_lists_everything_with_owner_state(reader, people_app):
    ProjectFactory(name="Payroll", slug="payroll")
    response = client_for(reader).get("/")
    assert names_in(response) == ["Payroll", "People"]
    body = response.content.decode()
    assert "Olga Owner" in body
    assert "in working hours" in body
    assert "Nobody is listed to contact." in body  # Payroll has none


def test_directory_htmx_request_returns_only_the_fragment(reader, people_app):
    client = client_for(reader)
    fragment = client.get("/", {"q": "people"}, **HTMX)
    assert fragment.status_code == 200
    body = fragment.content.decode()
    assert "<html" not in body and "<body" not in body
    assert "People" in body
    assert "HX-Request" in fragment["Vary"]

    page = client.get("/", {"q": "people"})
    assert "<html" in page.content.decode()
    assert 'id="results"' in page.content.decode()


def test_directory_history_restore_gets_the_full_page(reader, people_app):
    response = client_for(reader).get(
        "/", {"q": "people"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_directory_paginates_by_twenty(reader):
    ProjectFactory.create_batch(21)
    client = client_for(reader)
    first = client.get("/")
    assert len(names_in(first)) == 20
    assert "Page 1 of 2" in first.content.decode()
    assert len(names_in(client.get("/", {"page": 2}))) == 1


@pytest.mark.parametrize("query", ["peo\x00ple", "x" * 5000, "%", "'; drop table x; --"])
def test_directory_survives_odd_queries(reader, people_app, query):
    response = client_for(reader).get("/", {"q": query, "page": "-1"})
    assert response.status_code == 200


def test_directory_search_form_works_without_javascript(reader):
    body = client_for(reader).get("/").content.decode()
    form = re.search(r"<form[^>]*role=\"search\"[^>]*>", body).group(0)
    assert 'method="get"' in form and 'action="/"' in form
    assert 'name="q"' in body


# --- fixed query counts ------------------------------------------------------------------------


def _registry_of(n: int) -> None:
    """n projects, each with two people (one with a contact method), an alias, a URL, an edge."""
    system = SystemFactory()
    for i in range(n):
        project = ProjectFactory(name=f"App {n}-{i:02d}")
        ProjectAlias.objects.create(project=project, alias=f"alias {i}")
        ProjectURL(project=project, url=f"https://app{i}.example.com/").save()
        owner = PersonFactory(time_zone="Europe/Paris")
        ContactMethodFactory(person=owner)
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        ProjectRoleFactory(project=project, role=ProjectRole.Role.BACKUP, order=1)
        DependencyFactory(source_project=project, target_system=system)


# session, account with its own person (`registry.backends`), the catalog version
# (`steward.fragments`), the page's projects, their aliases, their roles+people, open incidents
# and outages of the page's projects (status badges); the
# rotations' rules are kept (`oncall.cache`). Not who is IT staff: only IT staff see the failing
# delivery banner, and that is asked only while a channel is failing (Redis says).
PAGE_QUERIES = 7
# Without a search: the count, then the page's ids by name.
DIRECTORY_QUERIES = PAGE_QUERIES + 2
# A search reads the ids of its matches, best first, once (`registry.selectors.ranked_sql`):
# counted and cut into pages from those.
SEARCH_QUERIES = PAGE_QUERIES + 1
# With rotations: the people on them and their time off (read fresh each time).
ROTATION_READS = 2
# The results kept since (nothing written): session, account with its person, catalog version.
KEPT_QUERIES = 3


def test_directory_runs_a_fixed_number_of_queries(reader):
    client = client_for(reader)
    _registry_of(3)
    small = rendered_read(client, "/")[0]
    _registry_of(30)
    large = rendered_read(client, "/")[0]
    assert small == large == DIRECTORY_QUERIES
    assert rendered_read(client, "/?q=app")[0] == SEARCH_QUERIES
    assert warm_read(client, "/")[0] == warm_read(client, "/?q=app")[0] == KEPT_QUERIES


def _on_call_registry_of(n: int) -> None:
    """n projects of a team, each with an owner, a rotation of two people with an override, and
    the team's own rotation."""
    team = TeamFactory()
    team_rotation = rotation(name=f"Team {n}", project=None, team=team)
    layer(team_rotation, [PersonFactory()])
    for i in range(n):
        project = ProjectFactory(name=f"Rota {n}-{i:02d}", team=team)
        ProjectRoleFactory(project=project, role=ProjectRole.Role.OWNER)
        own = rotation(project, name=f"Primary {i}")
        layer(own, [PersonFactory(), PersonFactory()])
        now = timezone.now()
        oncall_services.override_create(
            actor=None,
            rotation=own,
            person=PersonFactory(),
            start_at=now - timedelta(hours=1),
            end_at=now + timedelta(hours=1),
        )


def test_directory_finds_who_is_on_call_now_in_a_fixed_number_of_queries(reader):
    client = client_for(reader)
    _on_call_registry_of(2)
    small = rendered_read(client, "/?q=rota")[0]
    _on_call_registry_of(15)
    large = rendered_read(client, "/?q=rota")[0]
    assert small == large == SEARCH_QUERIES + ROTATION_READS
    assert warm_read(client, "/?q=rota")[0] == KEPT_QUERIES
    # Each of the 17 projects: its own rotation's cover (the override) and its team's rotation.
    body = client.get("/?q=rota").content.decode()
    assert body.count("on call now (Primary") == body.count("on call now (Team") == 17


def test_directory_shows_the_awake_on_call_backup_ahead_of_the_sleeping_owner(reader):
    project = ProjectFactory(name="OraTweet", slug="oratweet")
    ProjectURL(project=project, url="https://oratweet.example.com/").save()
    noel = PersonFactory(display_name="Noel Owner", time_zone="America/Los_Angeles")
    noel.working_hours = {}  # never in working hours
    noel.save()
    sia = PersonFactory(display_name="Sia Backup", time_zone="Asia/Singapore", working_hours=ALWAYS)
    ProjectRoleFactory(project=project, person=noel, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=project, person=sia, role=ProjectRole.Role.BACKUP, order=1)
    layer(rotation(project, name="Follow the sun"), [sia])

    body = client_for(reader).get("/", {"q": "https://oratweet.example.com/timeline"}).content
    body = body.decode()
    assert names_in_body(body) == ["OraTweet"]
    contact = body[body.index("Contact now") :]
    assert contact.index("Sia Backup") < contact.index("Noel Owner")
    sia_entry = contact[contact.index("Sia Backup") : contact.index("Noel Owner")]
    assert "in working hours" in sia_entry and "on call now (Follow the sun)" in sia_entry
    assert "Asia/Singapore" in sia_entry
    noel_entry = contact[contact.index("Noel Owner") :]
    assert "outside hours" in noel_entry.split("</li>")[0]


def names_in_body(body: str) -> list[str]:
    """The projects listed, by name (the search's <mark> highlights taken out)."""
    titles = re.findall(r'class="title"[^>]*>(.*?)</a>', body)
    return [re.sub(r"</?mark>", "", title) for title in titles]


# session, account with its person and IT group, project+team, aliases, urls, roles+people, contact
# methods, dependencies+systems, may-edit check, history+actors, open incidents and outages (status
# banner), releases+recorders, service levels (one: incidents/service_levels.py), open action
# items of its reviews; the on-call rules are kept (`oncall.cache`), and with no rotation there
# are no people on them to read
PROJECT_PAGE_QUERIES = 14


def _project_with(n: int):
    project = ProjectFactory()
    owner = PersonFactory()
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    for i in range(n):
        ProjectAlias.objects.create(project=project, alias=f"alias {i}")
        ProjectURL(project=project, url=f"https://x{i}.example.com/").save()
        person = PersonFactory()
        ContactMethodFactory(person=person)
        ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.MAINTAINER)
        DependencyFactory(source_project=project, target_system=SystemFactory())
        services.project_update(actor=owner.user, project=project, description=f"v{i}")
        release_record(actor=person.user, project=project, summary=f"v{i}")
        release_record_by_key(of=project, summary=f"v{i}.1", source="ci")
    return project, owner.user


# Whether the reader edits the project (asked by slug, before it is read): one query more; a
# reader's page is then rendered after reading the catalog version (`steward.fragments`).
READS_ONLY_CHECK = 1
# A reader's page kept since (nothing written): session, account with its person and IT group,
# may-edit check by slug, catalog version.
PROJECT_PAGE_KEPT_QUERIES = 4


@pytest.mark.parametrize("as_owner", [False, True])
def test_project_page_runs_a_fixed_number_of_queries(reader, as_owner):
    small, small_owner = _project_with(3)
    large, large_owner = _project_with(30)
    small_client = client_for(small_owner if as_owner else reader)
    large_client = client_for(large_owner if as_owner else reader)
    small_count = rendered_read(small_client, f"/projects/{small.slug}/")[0]
    large_count = rendered_read(large_client, f"/projects/{large.slug}/")[0]
    # An editor's page also lists the IT systems to pick a new dependency from: one query more;
    # a reader's, the catalog version.
    expected = PROJECT_PAGE_QUERIES + READS_ONLY_CHECK + 1
    assert small_count == large_count == expected
    kept = warm_read(small_client, f"/projects/{small.slug}/")[0]
    # An editor's page is theirs: rendered each time, never kept.
    assert kept == (expected if as_owner else PROJECT_PAGE_KEPT_QUERIES)


# --- project page ------------------------------------------------------------------------------


def test_project_page_shows_owners_with_their_local_time_first(reader, people_app):
    project, _ = people_app
    night_owl = PersonFactory(display_name="Bob Backup", time_zone="America/New_York")
    night_owl.working_hours = {}
    night_owl.save()
    ProjectRoleFactory(project=project, person=night_owl, role=ProjectRole.Role.BACKUP)

    before = timezone.now()
    body = client_for(reader).get("/projects/people/").content.decode()
    after = timezone.now()

    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    shown = {moment.astimezone(tokyo).strftime("%a %H:%M") for moment in (before, after)}
    assert any(text in body for text in shown), (shown, body)
    assert "Asia/Tokyo" in body
    owner_at = body.index("Olga Owner")
    backup_at = body.index("Bob Backup")
    assert owner_at < backup_at < body.index("Getting help")
    # Olga works all day; Bob has no working hours at all.
    assert "in working hours" in body[owner_at:backup_at]
    assert "outside hours" in body[backup_at:]
    assert "On call: rotations not set up" in body


def test_project_page_shows_phone_but_never_webhook_urls(reader, people_app):
    project, owner_user = people_app
    person = owner_user.person
    ContactMethod.objects.create(person=person, kind="sms", address="+14155550100")
    ContactMethod.objects.create(
        person=person, kind="slack", address="https://hooks.slack.example.com/secret-token"
    )
    body = client_for(reader).get("/projects/people/").content.decode()
    assert "+14155550100" in body
    assert "secret-token" not in body


def test_project_page_lists_dependencies_and_history(reader, people_app):
    project, owner_user = people_app
    sso = SystemFactory(name="SSO", slug="sso")
    DependencyFactory(source_project=project, target_system=sso, criticality="soft")
    services.project_update(actor=owner_user, project=project, help_channel="#people-help")
    body = client_for(reader).get("/projects/people/").content.decode()
    assert 'href="/systems/sso/"' in body
    assert 'class="badge soft"' in body
    assert "#people-help" in body
    assert re.search(r"help_channel: <del>—</del> → <ins>#people-help</ins>", body)
    assert owner_user.username in body


def test_unknown_project_is_404(reader):
    assert client_for(reader).get("/projects/nope/").status_code == 404


def test_user_text_is_escaped(reader):
    project = ProjectFactory(
        name="<b>Bold</b>", description="<script>alert('x')</script>", help_channel="<img src=x>"
    )
    client = client_for(reader)
    for body in (
        client.get(f"/projects/{project.slug}/").content.decode(),
        client.get("/").content.decode(),
    ):
        assert "<script>alert" not in body
        assert "<b>Bold</b>" not in body
        assert "<img src=x>" not in body
        assert "&lt;b&gt;Bold&lt;/b&gt;" in body
    page = client.get(f"/projects/{project.slug}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


# --- project forms and permissions ------------------------------------------------------------


def test_owner_adds_a_backup_with_htmx_and_gets_a_fresh_fragment(people_app):
    project, owner_user = people_app
    backup = PersonFactory(display_name="Bea Backup")
    response = client_for(owner_user).post(
        "/projects/people/roles/",
        {"person": backup.user.username, "role": "backup", "order": "1"},
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="support">')
    assert "Bea Backup" in body
    # The form comes back empty, and the history is refreshed out of band.
    assert f'value="{backup.user.username}"' not in body
    assert 'hx-swap-oob="true"' in body
    assert project.roles.get(person=backup).role == "backup"


def test_a_new_owner_joins_who_to_contact_now_out_of_band(people_app):
    project, owner_user = people_app
    night = PersonFactory(display_name="Nat Night", working_hours={})
    body = (
        client_for(owner_user)
        .post(
            "/projects/people/roles/",
            {"person": night.user.username, "role": "owner", "order": "1"},
            **HTMX,
        )
        .content.decode()
    )
    contact = body[body.index('<div id="contact-now" hx-swap-oob="true">') :]
    contact = contact[: contact.index("</div>")]
    # Olga is awake and listed first; Nat, a sleeping owner, after her.
    assert contact.index("Olga Owner") < contact.index("Nat Night")


def test_role_form_without_htmx_redirects_after_post(people_app):
    project, owner_user = people_app
    backup = PersonFactory()
    response = client_for(owner_user).post(
        "/projects/people/roles/", {"person": backup.user.username, "role": "maintainer"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/people/#support"


def test_unknown_username_is_an_inline_error(people_app):
    project, owner_user = people_app
    response = client_for(owner_user).post(
        "/projects/people/roles/", {"person": "ghost", "role": "owner"}, **HTMX
    )
    assert response.status_code == 200
    assert "Nobody has the username “ghost”." in response.content.decode()
    assert project.roles.count() == 1


def test_removing_the_last_owner_is_refused_inline(people_app):
    project, owner_user = people_app
    response = client_for(owner_user).post(
        f"/projects/people/roles/{owner_user.person.pk}/remove/", **HTMX
    )
    assert response.status_code == 200
    assert "must keep at least one owner" in response.content.decode()
    assert project.roles.count() == 1


def test_owner_adds_and_removes_a_dependency(people_app):
    project, owner_user = people_app
    sso = SystemFactory(name="SSO", slug="sso")
    client = client_for(owner_user)
    response = client.post(
        "/projects/people/dependencies/",
        {"target_system": "sso", "criticality": "hard"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="dependencies"')
    edge = Dependency.objects.get(source_project=project, target_system=sso)
    response = client.post(f"/projects/people/dependencies/{edge.pk}/remove/")
    assert response.status_code == 302
    assert not Dependency.objects.filter(pk=edge.pk).exists()


def test_reader_cannot_remove_a_dependency(people_app, reader):
    project, _ = people_app
    edge = DependencyFactory(source_project=project)
    response = client_for(reader).post(f"/projects/people/dependencies/{edge.pk}/remove/")
    assert response.status_code == 403
    assert Dependency.objects.filter(pk=edge.pk).exists()


# --- a search that finds nothing ---------------------------------------------------------------


@pytest.fixture
def it_team():
    team = TeamFactory(name="IT Service Desk", is_it=True)
    ivy = PersonFactory(display_name="Ivy Desk", time_zone="Europe/Dublin", working_hours=ALWAYS)
    team.members.add(ivy)
    TeamFactory(name="Marketing")  # not IT: not offered
    return team


def test_a_search_that_finds_nothing_offers_registering_the_app_and_asking_it(reader, it_team):
    body = client_for(reader).get("/", {"q": "Ora Tweet"}).content.decode()
    assert "Nothing matches" in body
    assert 'href="/projects/new/?q=Ora+Tweet"' in body and "Register this app" in body
    ask = body[body.index("Ask IT") :]
    assert "IT Service Desk" in ask and "Ivy Desk" in ask and "Europe/Dublin" in ask
    assert "in working hours" in ask and "mailto:" in ask
    assert "Marketing" not in ask


def test_registering_from_a_search_starts_from_the_name_or_the_pasted_address(reader):
    client = client_for(reader)
    by_name = client.get("/projects/new/", {"q": "Ora Tweet"}).content.decode()
    assert re.search(r'name="name"[^>]*value="Ora Tweet"', by_name)
    by_url = client.get("/projects/new/", {"q": "https://oratweet.example.com/t/1"})
    form = by_url.content.decode()
    assert re.search(r'name="urls"[^>]*>\s*https://oratweet.example.com/t/1', form)
    assert not re.search(r'name="name"[^>]*value=', form)


def test_an_account_without_a_person_is_offered_registering_too(it_team):
    """Every signed-in account may register the app it built (it gets its person then)."""
    no_person = UserFactory()
    body = client_for(no_person).get("/", {"q": "Ora Tweet"}).content.decode()
    assert "Register this app" in body
    assert "Ivy Desk" in body  # IT is there for everyone


def test_a_search_that_finds_nothing_runs_a_fixed_number_of_queries(reader, it_team):
    client = client_for(reader)
    small = warm_read(client, "/?q=nothing-here")[0]
    for _ in range(5):
        team = TeamFactory(is_it=True)
        team.members.add(PersonFactory(), PersonFactory())
    assert warm_read(client, "/?q=nothing-here")[0] == small
