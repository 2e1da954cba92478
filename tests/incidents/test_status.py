"""Status: the state of a project now (its open incidents and the open IT outages touching it
through its dependencies), 90 days of daily bars with uptime, the status pages with a fixed number
of queries, who may see them, and the banners on the directory and project pages.

People ──hard──▶ SSO ──hard──▶ Datacenter Austin;  Connect ──soft──▶ Mail ──hard──▶ DC (conftest)
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from changes import services as change_services
from changes.models import Change
from incidents.services import outages as outage_services
from incidents.status import (
    DEGRADED,
    MAJOR,
    OPERATIONAL,
    PARTIAL,
    Span,
    daily_history,
    downtime,
    open_issues_for,
    project_status,
    uptime_percent,
)
from tests.factories import (
    DependencyFactory,
    IncidentFactory,
    ProjectFactory,
    SystemFactory,
)
from tests.queries import warm_read

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def resolved(project, start, hours, impact):
    return IncidentFactory(
        project=project,
        impact=impact,
        started_at=start,
        resolved_at=start + timedelta(hours=hours),
        acknowledged_at=start,
        status="resolved",
    )


# --- the state now -------------------------------------------------------------------------------


def test_a_project_is_as_bad_as_the_worst_thing_open_on_it(graph, it_user):
    IncidentFactory(project=graph.people, impact="degraded")
    assert open_issues_for([graph.people.pk])[graph.people.pk].level == DEGRADED

    # SEV3 on the datacenter: People is hard all the way (partial), Connect soft (degraded).
    outage_services.outage_open(
        actor=it_user, title="DC cooling", systems=[graph.dc], severity="sev3"
    )
    issues = open_issues_for([graph.people.pk, graph.connect.pk, graph.wiki.pk])
    assert issues[graph.people.pk].level == PARTIAL
    assert issues[graph.people.pk].outages[0].path == ("SSO", "Datacenter Austin")
    assert issues[graph.connect.pk].level == DEGRADED
    assert issues[graph.wiki.pk].level == OPERATIONAL and not issues[graph.wiki.pk]

    # SEV1 makes People a major outage, Connect still only degraded (soft dependency).
    outage_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], severity="sev1"
    )
    issues = open_issues_for([graph.people.pk, graph.connect.pk])
    assert issues[graph.people.pk].level == MAJOR
    assert [i.title for i in issues[graph.people.pk].items][0] == "SSO down"  # worst first
    assert issues[graph.connect.pk].level == DEGRADED


def test_resolved_things_no_longer_count(graph, it_user):
    outage = outage_services.outage_open(actor=it_user, title="SSO", systems=[graph.sso])
    resolved(graph.people, timezone.now() - timedelta(hours=3), 1, "major")
    assert open_issues_for([graph.people.pk])[graph.people.pk].level == MAJOR
    outage_services.outage_resolve(actor=it_user, outage=outage)
    assert not open_issues_for([graph.people.pk])[graph.people.pk]


def test_what_is_open_takes_one_query_for_any_number_of_projects(
    graph, it_user, django_assert_num_queries
):
    projects = [ProjectFactory() for _ in range(30)]
    for project in projects:
        DependencyFactory(source_project=project, target_system=graph.dc)
        IncidentFactory(project=project)
    outage_services.outage_open(actor=it_user, title="DC", systems=[graph.dc])
    with django_assert_num_queries(1):
        issues = open_issues_for(p.pk for p in projects)
    assert all(len(i.items) == 2 for i in issues.values())


# --- uptime and the daily bars -------------------------------------------------------------------


def test_uptime_counts_partial_and_major_minutes_once_and_degraded_as_up():
    start = AT - timedelta(days=7)
    spans = [
        Span(AT - timedelta(days=3), AT - timedelta(days=3) + timedelta(hours=6), PARTIAL),
        # Overlaps the first by two hours: counted once.
        Span(AT - timedelta(days=3, hours=-4), AT - timedelta(days=3, hours=-8), MAJOR),
        Span(AT - timedelta(days=2), AT - timedelta(days=1), DEGRADED),
        # Began before the period: only its part inside counts.
        Span(start - timedelta(hours=5), start + timedelta(hours=1), MAJOR),
    ]
    assert downtime(spans, start, AT) == timedelta(hours=9)
    assert uptime_percent(spans, start, AT) == round(100 * (1 - 9 / (7 * 24)), 3)
    # Still open: down until now.
    assert downtime([Span(AT - timedelta(hours=2), None, MAJOR)], start, AT) == timedelta(hours=2)
    assert uptime_percent([], start, AT) == 100.0


def test_each_day_is_coloured_by_its_worst_state():
    spans = [
        Span(datetime(2026, 3, 7, 2, tzinfo=UTC), datetime(2026, 3, 7, 8, tzinfo=UTC), PARTIAL),
        Span(datetime(2026, 3, 7, 6, tzinfo=UTC), datetime(2026, 3, 7, 10, tzinfo=UTC), MAJOR),
        # Across midnight: both days.
        Span(datetime(2026, 3, 8, 22, tzinfo=UTC), datetime(2026, 3, 9, 1, tzinfo=UTC), DEGRADED),
    ]
    days = daily_history(spans, until=AT, days=5)
    assert [d.day.day for d in days] == [6, 7, 8, 9, 10]
    assert [d.level for d in days] == [OPERATIONAL, MAJOR, DEGRADED, DEGRADED, OPERATIONAL]
    assert days[1].uptime == round(100 * 16 / 24, 3)  # 02:00–10:00 down
    assert days[2].uptime == 100.0  # degraded counts as up
    assert days[4].uptime == 100.0


def test_project_status_brings_it_together(graph, it_user):
    at = timezone.now()
    resolved(graph.people, at - timedelta(days=3), 6, "major")
    resolved(graph.people, at - timedelta(days=120), 6, "major")  # outside the 90 days
    IncidentFactory(project=graph.people, impact="degraded", title="Slow search")
    outage_services.outage_open(actor=it_user, title="SSO", systems=[graph.sso], severity="sev3")
    change = change_services.change_create(
        actor=it_user,
        title="Patch the DC",
        systems=[graph.dc],
        planned_start_at=at + timedelta(days=2),
        planned_end_at=at + timedelta(days=2, hours=1),
    )
    change_services.change_schedule(actor=it_user, change=change)
    change_services.change_create(  # a draft: nobody knows yet, not shown
        actor=it_user,
        title="Maybe later",
        systems=[graph.dc],
        planned_start_at=at + timedelta(days=3),
        planned_end_at=at + timedelta(days=3, hours=1),
    )

    status = project_status(graph.people, at=at)

    assert status.state == "partial"
    assert [i.title for i in status.open_incidents] == ["Slow search"]
    assert len(status.past_incidents) == 1  # the one of 120 days ago is out
    assert [i.outage.title for i in status.open_outages] == ["SSO"]
    assert [i.change for i in status.changes_ahead] == [change]
    assert len(status.days) == 90 and status.days[-1].day == at.date()
    worst_day = status.days[-4]
    assert worst_day.level == MAJOR
    # Six hours of major outage in 90 days, plus the open SEV3 partial outage until now.
    since = datetime.combine(status.days[0].day, datetime.min.time(), tzinfo=UTC)
    down = timedelta(hours=6) + (at - status.open_outages[0].outage.started_at)
    assert status.uptime_90 == round(100 * (1 - down / (at - since)), 3)
    assert status.uptime_7 == round(100 * (1 - down / timedelta(days=7)), 3)


# --- pages ---------------------------------------------------------------------------------------


def _more_data(graph, it_user, n):
    for i in range(n):
        resolved(graph.people, timezone.now() - timedelta(days=i + 1), 2, "major")
        IncidentFactory(project=graph.people)
        project = ProjectFactory()
        DependencyFactory(source_project=project, target_system=graph.sso)
        IncidentFactory(project=project)
        outage_services.outage_open(actor=it_user, title=f"O{i}", systems=[graph.dc])
        change = change_services.change_create(
            actor=it_user,
            title=f"C{i}",
            systems=[graph.dc],
            planned_start_at=timezone.now() + timedelta(days=i + 1),
            planned_end_at=timezone.now() + timedelta(days=i + 1, hours=1),
            conflict_justification="Same window on purpose.",
        )
        change_services.change_schedule(actor=it_user, change=change)


# Anonymous: project, open items, open incidents, their updates, open outages, changes ahead,
# incidents and outages of the 90 days.
PROJECT_STATUS_QUERIES = 8
# Anonymous: count, page of projects, what is open on them.
STATUS_INDEX_QUERIES = 3


@pytest.mark.parametrize(
    ("url", "expected"),
    [("/status/people/", PROJECT_STATUS_QUERIES), ("/status/", STATUS_INDEX_QUERIES)],
)
def test_status_pages_run_a_fixed_number_of_queries(
    client, graph, it_user, url, expected, django_assert_num_queries
):
    _more_data(graph, it_user, 1)
    with django_assert_num_queries(expected):
        assert client.get(url).status_code == 200
    _more_data(graph, it_user, 12)
    with django_assert_num_queries(expected):
        assert client.get(url).status_code == 200
    # Signed in, the session and the account (with its person and whether it is IT staff:
    # `registry.backends`) come on top, and on a project's page the check whether the user may
    # run its incidents (their roles) and its service levels (incidents/service_levels.py: one).
    client.force_login(graph.people_owner.user)
    with django_assert_num_queries(expected + 2 + (2 if "people" in url else 0)):
        assert client.get(url).status_code == 200


def test_the_project_status_page_shows_state_bars_and_uptime(client, graph, it_user):
    resolved(graph.people, timezone.now() - timedelta(days=2), 3, "major")
    IncidentFactory(
        project=graph.people, title="Owner's guess", public_summary="<b>Slow</b>", impact="partial"
    )
    outage_services.outage_open(actor=it_user, title="SSO gone", systems=[graph.sso])
    _, body = warm_read(client, "/status/people/")
    assert "Major outage" in body  # the SEV2 outage through a hard path
    assert "&lt;b&gt;Slow&lt;/b&gt;" in body and "<b>Slow</b>" not in body
    # Anonymous visitors read public wording only: IT's and the owners' titles stay inside.
    assert "SSO gone" not in body and "Owner's guess" not in body
    assert "IT outage: Service disruption" in body
    assert "Past incidents" in body
    assert body.count('<span class="state-') == 90
    assert "state-major" in body and "Uptime, 90 days" in body
    assert "neither in a partial nor in a major outage" in body  # the definition is on the page
    # Anonymous visitors do not see the dependency path (internal systems).
    assert "People → SSO" not in body


def test_the_overview_lists_affected_apps_first(client, graph, it_user):
    outage_services.outage_open(actor=it_user, title="Mail down", systems=[graph.mail])
    _, body = warm_read(client, "/status/")
    assert body.index("Connect") < body.index("People") < body.index("Wiki")
    assert "IT outage: Service disruption" in body and "Mail down" not in body
    client.force_login(graph.wiki_owner.user)  # signed in: the internal title
    assert "IT outage: Mail down" in client.get("/status/").content.decode()


def test_status_pages_are_signed_in_only_when_the_setting_says_so(client, graph, settings):
    settings.STEWARD_STATUS_PUBLIC = False
    for url in ("/status/", "/status/people/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(graph.wiki_owner.user)
    assert client.get("/status/people/").status_code == 200
    assert client.get("/status/nope/").status_code == 404


# --- banners -------------------------------------------------------------------------------------


def test_the_directory_and_project_page_show_a_banner_when_something_is_open(
    client, graph, it_user, reader
):
    client.force_login(reader)
    assert "Major outage" not in client.get("/").content.decode()
    project_page = client.get("/projects/people/").content.decode()
    assert "Nothing open touches People" in project_page

    outage_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], severity="sev1"
    )
    IncidentFactory(project=graph.wiki, title="Wiki slow", impact="degraded")

    directory = client.get("/").content.decode()
    assert 'class="state state-major" href="/status/people/"' in directory
    assert 'class="state state-degraded" href="/status/wiki/"' in directory
    assert "/status/connect/" not in directory  # Mail is fine
    project_page = client.get("/projects/people/").content.decode()
    assert "status-banner" in project_page and "IT outage: SSO down" in project_page
    assert "People → SSO" in project_page
    assert "Open an incident" not in project_page  # a reader


def test_banners_keep_the_pages_query_counts_fixed(client, graph, it_user, reader):
    client.force_login(reader)
    outage_services.outage_open(actor=it_user, title="SSO down", systems=[graph.sso])
    IncidentFactory(project=graph.people)
    directory_small, _ = warm_read(client, "/")
    project_small, _ = warm_read(client, "/projects/people/")
    for i in range(10):
        IncidentFactory(project=graph.people)
        IncidentFactory(project=graph.wiki)
        outage_services.outage_open(actor=it_user, title=f"DC {i}", systems=[graph.dc])
    directory_large, _ = warm_read(client, "/")
    project_large, body = warm_read(client, "/projects/people/")
    assert directory_small == directory_large
    assert project_small == project_large
    assert "22 open issues on People" in body


def test_owners_get_the_incident_links_on_their_project_page(client, graph):
    client.force_login(graph.people_owner.user)
    body = client.get("/projects/people/").content.decode()
    assert "/projects/people/incidents/new/" in body and "/insights/projects/people/" in body


def test_scheduled_changes_in_progress_count_as_ahead_until_they_end(graph, it_user):
    at = timezone.now()
    change = change_services.change_create(
        actor=it_user,
        title="Now",
        systems=[graph.sso],
        planned_start_at=at - timedelta(hours=1),
        planned_end_at=at + timedelta(hours=1),
    )
    change_services.change_schedule(actor=it_user, change=change)
    assert [i.change for i in project_status(graph.people, at=at).changes_ahead] == [change]
    later = at + timedelta(hours=2)
    assert project_status(graph.people, at=later).changes_ahead == []
    Change.objects.filter(pk=change.pk).update(state=Change.State.CANCELLED)
    assert project_status(graph.people, at=at).changes_ahead == []


def test_a_system_without_projects_changes_nothing(graph, it_user):
    lonely = SystemFactory()
    outage_services.outage_open(actor=it_user, title="Lonely", systems=[lonely])
    assert not open_issues_for([graph.people.pk])[graph.people.pk]


def test_the_portal_demo_gives_oratweet_a_history_and_an_open_incident_once(db):
    from incidents.demo import load_portal_demo
    from incidents.models import Incident
    from registry.demo import load_demo
    from registry.models import Project

    assert load_portal_demo() == {}  # no OraTweet yet: nothing to do
    load_demo()
    first = load_portal_demo()
    assert load_portal_demo() == first
    assert Incident.objects.count() == 2
    status = project_status(Project.objects.get(slug="oratweet"))
    assert status.state == "degraded"
    assert [i.title for i in status.open_incidents] == ["Posting a tweet is slow"]
    assert any(d.level == MAJOR for d in status.days)
    assert status.uptime_90 < 100
