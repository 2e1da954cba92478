"""Insights for owners and IT: incident counts, time to acknowledge and to resolve (median and
90th percentile), pages sent and acknowledged, over a chosen period; charts and CSV."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.insights import (
    median,
    percentile,
    period_bounds,
    project_insights,
    system_insights,
)
from incidents.services import outages as it_services
from notifications.selectors import pages_for_event
from notifications.services import page_ack
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)  # a Monday
START, END = period_bounds(date(2026, 2, 1), date(2026, 2, 28))


def test_median_and_nearest_rank_percentile():
    assert median([]) is None and percentile([], 90) is None
    assert median([7]) == 7 and percentile([7], 90) == 7
    assert median([4, 1, 3, 2]) == 2.5
    assert median([5, 1, 3]) == 3
    assert percentile(list(range(1, 11)), 90) == 9
    assert percentile(list(range(1, 21)), 90) == 18
    assert percentile([1, 2, 3], 90) == 3
    assert percentile([10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 90) == 1  # 10 of 11 are 1


def test_the_period_includes_both_days():
    start, end = period_bounds(date(2026, 2, 1), date(2026, 2, 1))
    assert (start, end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 2, 2, tzinfo=UTC),
    )


def incident(project, *, start, ack_after=None, resolve_after=None, title="Down"):
    return IncidentFactory(
        project=project,
        title=title,
        started_at=start,
        acknowledged_at=start + timedelta(minutes=ack_after) if ack_after is not None else None,
        resolved_at=start + timedelta(minutes=resolve_after) if resolve_after is not None else None,
        status="resolved" if resolve_after is not None else "investigating",
    )


def test_project_insights_time_incidents_and_pages(graph, it_user):
    people = graph.people
    incident(people, start=T0, ack_after=5, resolve_after=60)
    incident(people, start=T0 + timedelta(days=1), ack_after=15, resolve_after=120)
    incident(people, start=T0 + timedelta(days=8), ack_after=10, resolve_after=30)
    incident(people, start=T0 + timedelta(days=9))  # open and unacknowledged: counted, not timed
    incident(people, start=T0 - timedelta(days=5), ack_after=1, resolve_after=2)  # before
    incident(graph.wiki, start=T0, ack_after=1, resolve_after=2)  # another project

    # Two outages page People; one page is acknowledged 12 minutes after it opened.
    first = it_services.outage_open(
        actor=it_user, title="SSO", systems=[graph.sso], started_at=T0, now=T0
    )
    it_services.outage_open(
        actor=it_user, title="DC", systems=[graph.dc], started_at=T0, now=T0 + timedelta(days=2)
    )
    [page] = [p for p in pages_for_event(first) if p.project == people]
    page_ack(page=page, person=graph.people_owner, via="web", now=T0 + timedelta(minutes=12))

    insights = project_insights(people, start=START, end=END)

    assert insights.count == 4 and insights.open_count == 1
    assert insights.acknowledge.values == [5, 15, 10]
    assert insights.acknowledge.median == 10 and insights.acknowledge.p90 == 15
    assert insights.resolve.median == 60 and insights.resolve.p90 == 120
    assert insights.pages_sent == 2 and insights.pages_acknowledged == 1
    assert insights.page_ack_minutes.values == [12]
    # Weeks from Monday 26 Jan (the week holding 1 Feb) to the week holding 28 Feb.
    assert insights.per_week[0] == (date(2026, 1, 26), 0)
    assert dict(insights.per_week)[date(2026, 2, 2)] == 2
    assert dict(insights.per_week)[date(2026, 2, 9)] == 2
    assert len(insights.per_week) == 5


def test_system_insights_time_outages_by_their_pages(graph, it_user):
    sso = it_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], started_at=T0, now=T0
    )
    dc = it_services.outage_open(
        actor=it_user,
        title="DC down",
        systems=[graph.dc],
        started_at=T0 + timedelta(days=3),
        now=T0 + timedelta(days=3),
    )
    pages = {p.project_id: p for p in pages_for_event(dc)}
    # The DC outage paged People and Connect: acknowledged after 4 and after 9 minutes.
    page_ack(
        page=pages[graph.people.pk],
        person=None,
        via="web",
        now=dc.started_at + timedelta(minutes=4),
    )
    page_ack(
        page=pages[graph.connect.pk],
        person=None,
        via="web",
        now=dc.started_at + timedelta(minutes=9),
    )
    it_services.outage_resolve(actor=it_user, outage=dc, now=dc.started_at + timedelta(hours=2))
    it_services.outage_resolve(actor=it_user, outage=sso, now=sso.started_at + timedelta(hours=1))

    dc_insights = system_insights(graph.dc, start=START, end=END)
    (row,) = dc_insights.rows
    assert row.title == "DC down" and row.pages_sent == 2 and row.pages_acknowledged == 2
    assert row.minutes_to_acknowledge == 4  # the first acknowledgement
    assert row.minutes_to_resolve == 120
    assert sorted(dc_insights.page_ack_minutes.values) == [4, 9]

    sso_insights = system_insights(graph.sso, start=START, end=END)
    assert sso_insights.count == 1
    assert sso_insights.pages_sent == 1 and sso_insights.pages_acknowledged == 0
    assert sso_insights.acknowledge.values == [] and sso_insights.resolve.values == [60]
    # An outage on the DC is not an outage on SSO, even though SSO depends on it.
    assert [r.title for r in sso_insights.rows] == ["SSO down"]


def test_csv_download_has_one_row_per_incident_and_neutralises_formulas(client, graph):
    incident(graph.people, start=T0, ack_after=5, resolve_after=60, title="=HYPERLINK(1)")
    client.force_login(graph.people_owner.user)
    response = client.get(
        "/insights/projects/people/", {"start": "2026-02-01", "end": "2026-02-28", "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["kind", "id", "title"]
    assert rows[1][2] == "'=HYPERLINK(1)"
    assert rows[1][7:9] == ["5.0", "60.0"]


def test_the_insights_page_draws_charts_in_a_fixed_number_of_queries(client, graph):
    client.force_login(graph.people_owner.user)
    params = {"start": "2026-02-01", "end": "2026-02-28"}
    incident(graph.people, start=T0, ack_after=5, resolve_after=60)
    with CaptureQueriesContext(connection) as small:
        response = client.get("/insights/projects/people/", params)
    body = response.content.decode()
    assert "<svg" in body and "<rect" in body and "median 5.0 min" in body
    for i in range(20):
        incident(graph.people, start=T0 + timedelta(hours=i), ack_after=i, resolve_after=60 + i)
    with CaptureQueriesContext(connection) as large:
        assert client.get("/insights/projects/people/", params).status_code == 200
    assert len(small) == len(large)


def test_who_sees_insights(client, graph, it_user, reader):
    client.force_login(reader)
    assert client.get("/insights/projects/people/").status_code == 403
    assert client.get("/insights/systems/sso/").status_code == 403
    client.force_login(graph.people_owner.user)
    assert client.get("/insights/projects/people/").status_code == 200
    assert client.get("/insights/projects/wiki/").status_code == 403
    assert client.get("/insights/systems/sso/").status_code == 403
    client.force_login(it_user)
    assert client.get("/insights/systems/sso/").status_code == 200
    assert client.get("/insights/projects/people/").status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-02-10", "end": "2026-02-01"},
        {"start": "not a date"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"start": "2020-01-01"},
    ],
)
def test_a_bad_period_shows_an_error_and_falls_back_to_the_last_30_days(client, graph, params):
    client.force_login(graph.people_owner.user)
    response = client.get("/insights/projects/people/", params)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
