"""The quietest slot over HTTP (API and page, booking in one click) and the risk hint that the
history of a change's systems gives (rollbacks, changes named as an incident's or outage's cause),
on the change page, in the API and in the owners' notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from changes import services
from changes.models import Change
from changes.selectors import change_history
from incidents.models import Outage
from incidents.services.outages import outage_cause_set
from notifications.models import Notification
from registry.models import Dependency
from tests.factories import (
    DependencyFactory,
    IncidentFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
)

from .test_slots import hours

pytestmark = pytest.mark.django_db

API = "/api/v1/changes"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the slot search -------------------------------------------------------------------------------


def test_api_slots_give_the_breakdown(graph, reader):
    response = api(reader).post(
        f"{API}/slots/", {"systems": ["dc-austin"], "duration_minutes": 90}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["project_count"] == 2  # People and Connect
    assert len(body["slots"]) == 5
    best = body["slots"][0]
    assert set(best) >= {"start_at", "score", "projects_with_responder", "busy_projects"}
    # Connect's owner never works: at most one of the two apps has someone to respond.
    assert best["projects_with_responder"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"duration_minutes": 60, "range_end": "2999-01-01T00:00:00Z"}, "range_end"),
        ({"duration_minutes": 2}, "duration_minutes"),
        ({"duration_minutes": 60, "systems": []}, "systems"),
        ({"duration_minutes": 60, "range_start": "9999-12-01T00:00:00Z"}, "range_start"),
    ],
)
def test_api_slots_bad_input_names_the_field(graph, reader, body, field):
    body = {"systems": ["dc-austin"], **body}
    response = api(reader).post(f"{API}/slots/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_api_book_schedules_a_change_at_the_slot(graph, it_user, reader):
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    body = {
        "title": "Patch the datacenter",
        "systems": ["dc-austin"],
        "planned_start_at": start.isoformat(),
        "duration_minutes": 120,
    }
    assert api(reader).post(f"{API}/book/", body, format="json").status_code == 403
    response = api(it_user).post(f"{API}/book/", body, format="json")
    assert response.status_code == 201, response.content
    change = Change.objects.get()
    assert change.state == Change.State.SCHEDULED
    assert change.planned_end_at - change.planned_start_at == timedelta(hours=2)
    # The same window again is taken now: refused, nothing more written.
    again = api(it_user).post(f"{API}/book/", body, format="json")
    assert again.status_code == 409
    assert Change.objects.count() == 1


def test_api_book_past_the_storable_end_names_the_start(graph, it_user):
    body = {
        "title": "Far away",
        "systems": ["dc-austin"],
        "planned_start_at": "9999-12-29T00:00:00Z",
        "duration_minutes": 60 * 24 * 7,
    }
    response = api(it_user).post(f"{API}/book/", body, format="json")
    assert response.status_code == 400 and "planned_start_at" in response.json()
    assert not Change.objects.exists()


def test_the_page_lists_slots_and_books_one(graph, it_user):
    client = web(it_user)
    query = {"title": "Patch", "systems": [graph.dc.pk], "duration_minutes": 60}
    page = client.get("/it/changes/slots/", query)
    assert page.status_code == 200
    assert b"Book this slot" in page.content and b"score" in page.content
    fragment = client.get(
        "/it/changes/slots/", query, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="slot-results"
    )
    assert b'<form method="get"' not in fragment.content and b"Book this slot" in fragment.content
    start = page.context["search"].slots[0].start_at
    booked = client.post(
        "/it/changes/slots/book/",
        {
            "title": "Patch",
            "systems": [graph.dc.pk],
            "planned_start_at": start.isoformat(),
            "duration_minutes": 60,
        },
    )
    change = Change.objects.get()
    assert booked.status_code == 302 and booked["Location"] == change.get_absolute_url()
    assert (change.state, change.planned_start_at) == (Change.State.SCHEDULED, start)


def test_the_page_names_a_bad_field_and_refuses_readers(graph, it_user, reader):
    bad = web(it_user).get(
        "/it/changes/slots/",
        {
            "systems": [graph.dc.pk],
            "duration_minutes": 60,
            "range_start": f"{(datetime.now(UTC) + timedelta(days=10)):%Y-%m-%dT%H:%M}",
            "range_end": f"{(datetime.now(UTC) + timedelta(days=110)):%Y-%m-%dT%H:%M}",
        },
    )
    assert bad.status_code == 200
    assert "range_end" in bad.context["form"].errors
    assert web(reader).get("/it/changes/slots/").status_code == 403


def test_the_page_takes_a_fixed_number_of_queries(graph, it_user, django_assert_max_num_queries):
    client = web(it_user)
    query = {"systems": [graph.dc.pk], "duration_minutes": 60}
    client.get("/it/changes/slots/", query)
    for _n in range(20):
        project = ProjectFactory(busy_hours=hours("09:00", "17:00"))
        ProjectRoleFactory(project=project, person=PersonFactory())
        DependencyFactory(
            source_project=project, target_system=graph.sso, criticality=Dependency.Criticality.HARD
        )
    with django_assert_max_num_queries(22):
        client.get("/it/changes/slots/", query)


# --- the history of a change's systems -------------------------------------------------------------


def _started(
    it_user, graph, *, title: str, start: datetime, lasting: timedelta = timedelta(hours=1)
) -> Change:
    """A change on SSO, scheduled the day before and started at `start`."""
    change = services.change_create(
        actor=it_user,
        title=title,
        planned_start_at=start,
        planned_end_at=start + lasting,
        systems=[graph.sso],
    )
    services.change_schedule(actor=it_user, change=change, now=start - timedelta(days=1))
    services.change_start(actor=it_user, change=change, now=start)
    return change


def _done(it_user, graph, *, title: str, days_ago: int, roll_back: bool = False) -> Change:
    start = datetime.now(UTC) - timedelta(days=days_ago)
    change = _started(it_user, graph, title=title, start=start)
    finish = services.change_roll_back if roll_back else services.change_complete
    return finish(actor=it_user, change=change, now=start)


def test_history_counts_causes_and_rollbacks_and_hints(graph, it_user):
    assert change_history(system_ids=[graph.sso.pk]).level == "unknown"
    fine = _done(it_user, graph, title="Fine", days_ago=30)
    assert change_history(system_ids=[graph.sso.pk]).level == "low"
    broke = _done(it_user, graph, title="Broke People", days_ago=20)
    IncidentFactory(project=graph.people, cause_change=broke)
    rolled = _done(it_user, graph, title="Rolled", days_ago=10, roll_back=True)
    assert rolled.rolled_back_at is not None and rolled.state == Change.State.COMPLETED
    outage = Outage.objects.create(title="SSO down", started_at=datetime.now(UTC))
    outage_cause_set(actor=it_user, outage=outage, change=fine)
    history = change_history(system_ids=[graph.sso.pk, graph.dc.pk])
    assert (history.earlier, history.caused_incident, history.caused_outage) == (3, 1, 1)
    assert (history.rolled_back, history.went_wrong, history.level) == (1, 3, "high")
    assert "3 of the 3 earlier changes" in history.hint

    # The next change on SSO shows it: page, API, and the owners' notice when scheduled.
    start = datetime.now(UTC) + timedelta(days=3)
    upcoming = services.change_create(
        actor=it_user,
        title="Next",
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=1),
        systems=[graph.sso],
    )
    page = web(it_user).get(upcoming.get_absolute_url())
    assert b"High risk by history" in page.content
    body = api(it_user).get(f"{API}/{upcoming.pk}/").json()
    assert body["history"]["level"] == "high" and body["history"]["rolled_back"] == 1
    services.change_schedule(actor=it_user, change=upcoming)
    notice = Notification.objects.filter(topic="change.scheduled").first()
    assert notice is not None and "High risk by history" in notice.body


def test_rollback_and_outage_cause_over_the_api(graph, it_user, reader):
    change = _done(it_user, graph, title="Old", days_ago=5)
    outage = Outage.objects.create(title="SSO down", started_at=datetime.now(UTC))
    assert (
        api(reader).post(
            f"/api/v1/outages/{outage.pk}/cause/", {"change": change.pk}, format="json"
        )
    ).status_code == 403
    response = api(it_user).post(
        f"/api/v1/outages/{outage.pk}/cause/", {"change": change.pk}, format="json"
    )
    assert response.status_code == 200 and response.json()["cause_change"] == change.pk
    bad = api(it_user).post(f"/api/v1/outages/{outage.pk}/cause/", {"change": "x"}, format="json")
    assert bad.status_code == 400 and "change" in bad.json()
    start = datetime.now(UTC) + timedelta(hours=1)
    running = services.change_create(
        actor=it_user,
        title="Running",
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=1),
        systems=[graph.sso],
    )
    services.change_schedule(actor=it_user, change=running)
    services.change_start(actor=it_user, change=running)
    response = api(it_user).post(f"{API}/{running.pk}/rollback/")
    assert response.status_code == 200 and response.json()["rolled_back_at"]
    assert api(it_user).post(f"{API}/{running.pk}/rollback/").status_code == 409


@pytest.mark.parametrize("roll_back", [False, True], ids=["completed", "rolled back"])
def test_a_change_ended_early_either_way_ends_its_maintenance_window_then(
    graph, it_user, roll_back
):
    from changes.models import MaintenanceWindow

    start = datetime.now(UTC) - timedelta(minutes=30)
    change = _started(it_user, graph, title="Early end", start=start, lasting=timedelta(hours=2))
    ended = start + timedelta(minutes=20)
    finish = services.change_roll_back if roll_back else services.change_complete
    finish(actor=it_user, change=change, now=ended)

    assert MaintenanceWindow.objects.get(change=change).ends_at == ended
