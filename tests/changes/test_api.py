"""The changes API over HTTP: CRUD and transitions, bad input that must come back as 400/409
naming the reason with nothing written and nothing sent, and who may do what."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from changes import services as change_services
from changes.models import Change, ChangeResponse, ImpactedProject
from incidents.models import Outage, OutageUpdate
from tests.factories import PersonFactory

from .notified import notice_recipients, notification_count

pytestmark = pytest.mark.django_db

API = "/api/v1"
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
END = START + timedelta(hours=2)


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def change_body(**overrides):
    body = {
        "title": "Patch SSO",
        "type": "normal",
        "risk": "medium",
        "planned_start_at": START.isoformat(),
        "planned_end_at": END.isoformat(),
        "systems": ["dc-austin"],
        "rollback_plan": "Restore the snapshot",
    }
    body.update(overrides)
    return body


def written():
    """Everything that a refused request must leave untouched."""
    return (
        Change.objects.count(),
        Outage.objects.count(),
        OutageUpdate.objects.count(),
        ImpactedProject.objects.count(),
        ChangeResponse.objects.count(),
        notification_count(),
    )


# --- changes -----------------------------------------------------------------------------------


def test_it_staff_create_schedule_start_and_complete_a_change(graph, it_user):
    api = client_for(it_user)

    created = api.post(f"{API}/changes/", change_body(), format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["state"], body["systems"], body["impacted"]) == ("draft", ["dc-austin"], [])
    assert body["reminder_lead_minutes"] == [1440, 60]
    url = f"{API}/changes/{body['id']}"

    scheduled = api.post(f"{url}/schedule/")
    assert scheduled.status_code == 200
    impacted = {i["project"]: i for i in scheduled.json()["impacted"]}
    assert impacted["people"]["path_display"] == "People → SSO → Datacenter Austin"
    assert set(impacted) == {"people", "connect"}
    change = Change.objects.get()
    assert notice_recipients(change, "change.scheduled") == {
        graph.people_owner.pk,
        graph.connect_owner.pk,
    }

    assert api.post(f"{url}/start/").json()["state"] == "in_progress"
    done = api.post(f"{url}/complete/").json()
    assert done["state"] == "completed" and done["completed_at"]


def test_changes_are_read_by_everyone_signed_in_in_a_fixed_number_of_queries(
    graph, it_user, reader
):
    for n in range(3):
        change = change_services.change_create(
            actor=it_user,
            title=f"C{n}",
            planned_start_at=START,
            planned_end_at=END,
            systems=[graph.dc, graph.sso],
            conflict_justification="Same window on purpose.",
        )
        change_services.change_schedule(actor=it_user, change=change)
    api = client_for(reader)

    with CaptureQueriesContext(connection) as three:
        assert api.get(f"{API}/changes/").json()["count"] == 3
    change_services.change_create(
        actor=it_user, title="C4", planned_start_at=START, planned_end_at=END, systems=[graph.mail]
    )
    with CaptureQueriesContext(connection) as four:
        api.get(f"{API}/changes/")

    assert len(four) == len(three)
    assert client_for().get(f"{API}/changes/").status_code in (401, 403)


def test_editing_a_scheduled_change_window_through_the_api_tells_the_owners(graph, it_user):
    api = client_for(it_user)
    change_id = api.post(f"{API}/changes/", change_body(systems=["mail"]), format="json").json()[
        "id"
    ]
    api.post(f"{API}/changes/{change_id}/schedule/")

    moved = api.patch(
        f"{API}/changes/{change_id}/",
        {"systems": ["sso"]},
        format="json",
    )

    assert moved.status_code == 200
    assert [i["project"] for i in moved.json()["impacted"]] == ["people"]
    change = Change.objects.get()
    assert notice_recipients(change, "change.moved.r1") == {
        graph.people_owner.pk,
        graph.connect_owner.pk,
    }


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        (
            {"planned_end_at": (START - timedelta(hours=1)).isoformat()},
            "planned_end_at",
            "end after it starts",
        ),
        ({"systems": []}, "systems", "at least one"),
        ({"systems": ["dc-austin", "atlantis"]}, "systems", "atlantis"),
        ({"type": "yolo"}, "type", "valid choice"),
        ({"planned_start_at": "next tuesday"}, "planned_start_at", "format"),
        ({"reminder_lead_minutes": [0]}, "reminder_lead_minutes", "greater than or equal"),
        ({"title": ""}, "title", "blank"),
    ],
)
def test_bad_change_input_is_a_400_naming_the_field_with_nothing_written(
    graph, it_user, overrides, field, reason
):
    before = written()

    response = client_for(it_user).post(f"{API}/changes/", change_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert reason in str(response.json()[field])
    assert written() == before


def test_a_refused_transition_is_a_409_naming_it_with_nothing_sent(graph, it_user):
    api = client_for(it_user)
    change_id = api.post(f"{API}/changes/", change_body(), format="json").json()["id"]
    before = written()

    response = api.post(f"{API}/changes/{change_id}/complete/")

    assert response.status_code == 409
    assert response.json()["detail"] == "A draft change cannot be completed."
    assert Change.objects.get().state == "draft"
    assert written() == before


def test_moving_a_scheduled_change_to_end_before_it_starts_is_refused_and_nothing_sent(
    graph, it_user
):
    api = client_for(it_user)
    change_id = api.post(f"{API}/changes/", change_body(), format="json").json()["id"]
    api.post(f"{API}/changes/{change_id}/schedule/")
    before = written()

    response = api.patch(
        f"{API}/changes/{change_id}/",
        {"planned_end_at": (START - timedelta(minutes=5)).isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert "planned_end_at" in response.json()
    assert written() == before
    assert Change.objects.get().revision == 0


@pytest.mark.parametrize("who", ["reader", "owner"])
def test_readers_and_owners_cannot_create_or_move_changes(graph, it_user, reader, who):
    user = reader if who == "reader" else graph.people_owner.user
    change = change_services.change_create(
        actor=it_user, title="C", planned_start_at=START, planned_end_at=END, systems=[graph.dc]
    )
    api = client_for(user)
    before = written()

    assert api.post(f"{API}/changes/", change_body(), format="json").status_code == 403
    # Even bad input is refused for the role first: the body is never looked at.
    assert api.post(f"{API}/changes/", {"title": ""}, format="json").status_code == 403
    assert (
        api.patch(f"{API}/changes/{change.pk}/", {"title": "X"}, format="json").status_code == 403
    )
    for action in ("schedule", "start", "complete", "cancel"):
        assert api.post(f"{API}/changes/{change.pk}/{action}/").status_code == 403
    assert api.delete(f"{API}/changes/{change.pk}/").status_code == 403
    assert written() == before


def test_owners_answer_a_change_and_outsiders_cannot(graph, it_user, reader):
    change = change_services.change_create(
        actor=it_user, title="C", planned_start_at=START, planned_end_at=END, systems=[graph.dc]
    )
    url = f"{API}/changes/{change.pk}/respond/"
    assert (
        client_for(graph.people_owner.user).post(url, {"answer": "fine"}, format="json").status_code
        == 409
    )
    change_services.change_schedule(actor=it_user, change=change)
    owner = client_for(graph.people_owner.user)

    concern = owner.post(url, {"answer": "concern"}, format="json")
    assert concern.status_code == 400 and "comment" in concern.json()
    answered = owner.post(url, {"answer": "concern", "comment": "Payroll runs"}, format="json")
    assert answered.status_code == 200
    assert answered.json()["project"] == "people"
    assert client_for(reader).post(url, {"answer": "fine"}, format="json").status_code == 403

    detail = client_for(it_user).get(f"{API}/changes/{change.pk}/").json()
    assert [(r["project"], r["answer"], r["comment"]) for r in detail["responses"]] == [
        ("people", "concern", "Payroll runs")
    ]


def test_change_preview_counts_projects_owners_and_those_outside_working_hours(graph, reader):
    response = client_for(reader).post(
        f"{API}/changes/preview/",
        {"systems": ["dc-austin"], "planned_start_at": START.isoformat()},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["project_count"], body["owner_count"], body["owners_outside_hours"]) == (2, 2, 1)
    people = next(p for p in body["projects"] if p["project"] == "people")
    assert people["path"] == ["SSO", "Datacenter Austin"]
    assert [o["display_name"] for o in people["owners"]] == ["Pia Owner"]
    unknown = client_for(reader).post(
        f"{API}/changes/preview/", {"systems": ["nope"]}, format="json"
    )
    assert unknown.status_code == 400 and "systems" in unknown.json()


# --- outages -----------------------------------------------------------------------------------


def test_nobody_else_answers_for_a_project_they_are_not_on(graph, it_user):
    stranger = PersonFactory().user
    change = change_services.change_create(
        actor=it_user, title="C", planned_start_at=START, planned_end_at=END, systems=[graph.sso]
    )
    change_services.change_schedule(actor=it_user, change=change)
    response = client_for(graph.people_owner.user).post(
        f"{API}/changes/{change.pk}/respond/",
        {"answer": "fine", "project": "wiki"},
        format="json",
    )
    assert response.status_code == 403
    assert (
        client_for(stranger)
        .post(f"{API}/changes/{change.pk}/respond/", {"answer": "fine"}, format="json")
        .status_code
        == 403
    )
    assert not ChangeResponse.objects.exists()


def test_the_preview_shows_each_owners_clock_with_their_own_offset(graph, reader):
    """An owner in Los Angeles at a 15:00 UTC start is at 07:00 (or 08:00 in summer) there: the
    API writes that with LA's offset, and the page shows it whatever the viewer's zone."""
    Person = type(graph.people_owner)
    Person.objects.filter(pk=graph.people_owner.pk).update(time_zone="America/Los_Angeles")
    start = START.replace(hour=15, minute=0, second=0)
    expected = start.astimezone(ZoneInfo("America/Los_Angeles"))

    body = (
        client_for(reader)
        .post(
            f"{API}/changes/preview/",
            {"systems": ["dc-austin"], "planned_start_at": start.isoformat()},
            format="json",
        )
        .json()
    )

    people = next(p for p in body["projects"] if p["project"] == "people")
    [owner] = people["owners"]
    assert owner["local_time"] == expected.isoformat()
    assert datetime.fromisoformat(owner["local_time"]).utcoffset() == expected.utcoffset()
