"""Conflicts over the dependency graph and blackouts, and scheduling through them.

Datacenter Austin ◀── SSO ◀── People app;  Datacenter Austin ◀── Mail;  Database (alone).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from changes import services, windows
from changes.conflicts import blackout_intervals, conflicts_for
from notifications.models import Notification
from registry.models import AuditEntry
from tests.factories import it_staff_user

START = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=2)
BEFORE = START - dt.timedelta(days=3)


def scheduled(staff, systems, *, start=START, end=END, title="Other work", **extra):
    change = services.change_create(
        actor=staff,
        title=title,
        planned_start_at=start,
        planned_end_at=end,
        systems=systems,
        reminder_lead_minutes=[],
        **extra,
    )
    return services.change_schedule(actor=staff, change=change, now=BEFORE)


def check(systems, start=START, end=END):
    return conflicts_for(system_ids=[s.pk for s in systems], start_at=start, end_at=end)


def test_changes_conflict_on_the_same_upstream_and_downstream_systems_not_unrelated(graph):
    staff = it_staff_user()
    on_sso = scheduled(staff, [graph.sso], title="SSO certificates")

    [same] = check([graph.sso])
    assert (same.kind, same.relation, same.change_id) == ("change", "same_system", on_sso.pk)
    assert "also on SSO" in same.reason

    # Work on the datacenter: SSO depends on it, so the SSO change is downstream.
    [down] = check([graph.dc])
    assert down.relation == "downstream"
    assert down.path == ("SSO", "Datacenter Austin")
    assert "which depends on Datacenter Austin" in down.reason

    # Mail shares the datacenter with SSO but neither depends on the other; Database is alone.
    assert check([graph.mail]) == []
    assert check([graph.database]) == []
    # Outside the window: nothing.
    assert check([graph.sso], START + dt.timedelta(hours=2), START + dt.timedelta(hours=3)) == []


def test_a_change_on_a_system_ours_depend_on_is_upstream(graph):
    staff = it_staff_user()
    scheduled(staff, [graph.dc], title="Power work")

    [up] = check([graph.sso])
    assert up.relation == "upstream"
    assert "Datacenter Austin, which SSO depends on" in up.reason
    # A draft holds no window; a cancelled change neither.
    services.change_create(
        actor=staff,
        title="Draft",
        planned_start_at=START,
        planned_end_at=END,
        systems=[graph.database],
    )
    assert check([graph.database]) == []


def test_scheduling_through_a_conflict_needs_a_justification_audited_and_told(graph):
    staff = it_staff_user()
    scheduled(staff, [graph.dc], title="Power work")
    change = services.change_create(
        actor=staff,
        title="SSO upgrade",
        planned_start_at=START,
        planned_end_at=END,
        systems=[graph.sso],
    )
    with pytest.raises(ValidationError) as refused:
        services.change_schedule(actor=staff, change=change, now=BEFORE)
    assert "conflict_justification" in refused.value.message_dict
    change.refresh_from_db()
    assert change.state == "draft"

    services.change_schedule(
        actor=staff, change=change, conflict_justification="Vendor window is fixed.", now=BEFORE
    )
    change.refresh_from_db()
    assert change.state == "scheduled"
    assert len(change.conflicts_noted) == 1
    audit = AuditEntry.objects.get(object_type="changes.change", object_id=str(change.pk))
    assert audit.changes["conflict_justification"][1] == "Vendor window is fixed."
    bodies = Notification.objects.filter(topic="change.scheduled", event_id=change.pk).values_list(
        "body", flat=True
    )
    assert bodies and all("Justification: Vendor window is fixed." in b for b in bodies)
    assert all("Power work" in b for b in bodies)


def test_a_weekly_freeze_keeps_its_local_hours_across_the_dst_change(graph):
    staff = it_staff_user()
    # Saturdays 08:00–12:00 in Berlin; summer time starts Sunday 29 March 2026.
    windows.blackout_save(
        actor=staff,
        title="Saturday freeze",
        system=None,
        time_zone="Europe/Berlin",
        start_date=dt.date(2026, 3, 21),
        start_time=dt.time(8, 0),
        end_date=dt.date(2026, 3, 21),
        end_time=dt.time(12, 0),
        rrule="FREQ=WEEKLY;BYDAY=SA",
    )
    around = blackout_intervals(
        start_at=dt.datetime(2026, 3, 27, tzinfo=dt.UTC),
        end_at=dt.datetime(2026, 4, 5, tzinfo=dt.UTC),
    )
    assert [(i.start_at.hour, i.end_at.hour) for i in around] == [(7, 11), (6, 10)]

    before_dst = dt.datetime(2026, 3, 28, 10, 30, tzinfo=dt.UTC)  # 11:30 in Berlin (CET)
    after_dst = dt.datetime(2026, 4, 4, 10, 30, tzinfo=dt.UTC)  # 12:30 in Berlin (CEST)
    half = dt.timedelta(minutes=20)
    [freeze] = check([graph.database], before_dst, before_dst + half)
    assert (freeze.kind, freeze.relation) == ("blackout", "company_wide")
    assert "Europe/Berlin" in freeze.reason
    assert check([graph.database], after_dst, after_dst + half) == []


def test_a_blackout_on_a_system_reaches_the_systems_it_depends_on(graph):
    staff = it_staff_user()
    windows.blackout_save(
        actor=staff,
        title="SSO audit",
        system=graph.sso,
        time_zone="UTC",
        start_date=START.date(),
        start_time=dt.time(9),
        end_date=START.date(),
        end_time=dt.time(11),
    )
    assert [c.relation for c in check([graph.dc])] == ["downstream"]
    assert [c.relation for c in check([graph.sso])] == ["same_system"]
    assert check([graph.mail]) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"end_date": "2026-03-01"}, "end_time"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule"),
        ({"rrule": "FREQ=DAILY;COUNT=0"}, "rrule"),
    ],
)
def test_bad_blackouts_are_a_400_naming_the_field(graph, body, field):
    client = Client()
    client.force_login(it_staff_user())
    good = {
        "title": "Freeze",
        "time_zone": "Europe/Berlin",
        "start_date": "2026-03-02",
        "start_time": "08:00",
        "end_date": "2026-03-02",
        "end_time": "12:00",
    }
    response = client.post("/api/v1/blackouts/", {**good, **body}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_the_api_checks_proposed_work_and_shows_conflicts_on_the_change(graph):
    staff = it_staff_user()
    other = scheduled(staff, [graph.dc], title="Power work")
    client = Client()
    client.force_login(staff)
    query = {"systems": ["sso", "mail"], "start_at": START.isoformat(), "end_at": END.isoformat()}

    answer = client.get("/api/v1/changes/conflicts/", query)
    assert answer.status_code == 200
    [conflict] = answer.json()["conflicts"]
    assert conflict["change"] == other.pk and conflict["relation"] == "upstream"

    backwards = client.get("/api/v1/changes/conflicts/", {**query, "end_at": BEFORE.isoformat()})
    assert backwards.status_code == 400 and "end_at" in backwards.json()

    draft = client.post(
        "/api/v1/changes/",
        {
            "title": "SSO upgrade",
            "planned_start_at": START.isoformat(),
            "planned_end_at": END.isoformat(),
            "systems": ["sso"],
        },
        content_type="application/json",
    ).json()
    assert [c["change"] for c in draft["conflicts"]] == [other.pk]
    refused = client.post(f"/api/v1/changes/{draft['id']}/schedule/", {}, "application/json")
    assert refused.status_code == 400 and "conflict_justification" in refused.json()
    done = client.post(
        f"/api/v1/changes/{draft['id']}/schedule/",
        {"conflict_justification": "Only night the vendor has."},
        "application/json",
    )
    assert done.status_code == 200
    assert done.json()["conflict_justification"] == "Only night the vendor has."
    backwards_change = client.post(
        "/api/v1/changes/",
        {
            "title": "Backwards",
            "planned_start_at": END.isoformat(),
            "planned_end_at": START.isoformat(),
            "systems": ["sso"],
        },
        content_type="application/json",
    )
    assert backwards_change.status_code == 400 and "planned_end_at" in backwards_change.json()


def test_the_change_form_and_page_show_the_conflicts(graph):
    staff = it_staff_user()
    scheduled(staff, [graph.dc], title="Power work")
    draft = services.change_create(
        actor=staff,
        title="SSO upgrade",
        planned_start_at=START,
        planned_end_at=END,
        systems=[graph.sso],
    )
    client = Client()
    client.force_login(staff)
    page = client.get(f"/it/changes/{draft.pk}/").content.decode()
    assert "Power work" in page and "conflict_justification" in page
    form = client.get(f"/it/changes/{draft.pk}/edit/").content.decode()
    assert "Power work" in form
    refused = client.post(f"/it/changes/{draft.pk}/schedule/", follow=True).content.decode()
    assert "say why it goes ahead anyway" in refused
