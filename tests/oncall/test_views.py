"""The schedule page, overrides from the page (htmx), the project page's on-call, the feeds."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from icalendar import Calendar

from oncall import services as oncall_services
from oncall.models import CalendarFeed, Override, RotationLayer, ShiftSwap, TimeOff
from registry.models import ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory, TeamFactory
from tests.oncall.helpers import layer, person, rotation, utc

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def setup():
    project = ProjectFactory(slug="payroll", name="Payroll")
    owner = person("Owner", time_zone="Europe/Berlin")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    ann, bob = person("Ann", time_zone="America/New_York"), person("Bob", time_zone="Asia/Kolkata")
    rot = rotation(project, name="Primary")
    layer(rot, [ann, bob], length=RotationLayer.Length.DAILY, start_date=date(2025, 1, 1))
    return project, owner, ann, bob, rot


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_schedule_page_shows_timeline_coverage_and_local_hours(setup):
    project, owner, ann, bob, rot = setup
    response = client_for(owner.user).get("/projects/payroll/oncall/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Times in Europe/Berlin" in html
    assert "Ann" in html and "Bob" in html
    assert "America/New_York" in html and "Asia/Kolkata" in html
    assert html.count('class="track"') == 14
    assert 'table class="coverage"' in html
    assert "Add an override" in html


def test_schedule_page_keeps_a_fixed_number_of_queries(setup):
    project, owner, ann, bob, rot = setup
    team = TeamFactory()
    project.team = team
    project.save()
    team_rotation = oncall_services.rotation_create(actor=None, name="Team", team=team)
    layer(team_rotation, [person("T1")])
    client = client_for(owner.user)
    small = _queries(client, "/projects/payroll/oncall/")
    # More rotations, layers, members and overrides: the same count.
    layer(team_rotation, [person("T2"), person("T3")], restrict_days=["sat", "sun"])
    for i in range(3):
        extra = rotation(project, name=f"Extra {i}")
        layer(
            extra,
            [person(f"X{i}a"), person(f"X{i}b")],
            restrict_start=time(8),
            restrict_end=time(16),
        )
        layer(extra, [person(f"Y{i}")])
        now = timezone.now()
        oncall_services.override_create(
            actor=None, rotation=extra, person=owner, start_at=now, end_at=now + timedelta(hours=5)
        )
    # Time off, and swap requests the viewer (an editor) sees.
    for who in (ann, bob, owner):
        TimeOff.objects.create(person=who, start_at=now, end_at=now + timedelta(days=2))
    for recipient in (bob, owner):
        ShiftSwap.objects.create(
            rotation=rot,
            requester=ann,
            recipient=recipient,
            start_at=now + timedelta(days=3),
            end_at=now + timedelta(days=4),
        )
    oncall_services.escalation_policy_create(
        actor=None, project=project, levels=[{"target": "rotation", "rotation": rot}]
    )
    large = _queries(client, "/projects/payroll/oncall/")
    # The policy's levels are one query more once there is a policy: the same for any number.
    assert small + 1 == large


def test_project_page_names_on_call_now_and_next_at_a_fixed_query_count(setup):
    project, owner, ann, bob, rot = setup
    client = client_for(owner.user)
    html = client.get("/projects/payroll/").content.decode()
    assert "On call now:" in html and "Next:" in html
    assert f"{rot.name}, until" in html  # the current shift's end, in the person's time
    assert "/projects/payroll/oncall/" in html
    before = _queries(client, "/projects/payroll/")  # the rules kept (`oncall.cache`)
    for i in range(4):
        extra = rotation(project, name=f"Extra {i}")
        layer(extra, [person(f"Z{i}a"), person(f"Z{i}b")])
    # Read again after the writes (the layers, members and overrides: two queries), then kept.
    assert _queries(client, "/projects/payroll/") == before + 2
    assert _queries(client, "/projects/payroll/") == before


def test_owner_adds_an_override_with_htmx_in_their_zone(setup):
    project, owner, ann, bob, rot = setup
    client = client_for(owner.user)
    response = client.post(
        "/projects/payroll/oncall/overrides/?tz=Asia/Kolkata",
        {
            "rotation": rot.pk,
            "person": owner.pk,
            "covered": "",
            "start_at": "2030-01-10T09:30",
            "end_at": "2030-01-10T18:00",
            "reason": "holiday",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.content.decode().startswith('<div id="oncall-schedule">')
    override = Override.objects.get()
    # 09:30 in Kolkata (+05:30) is 04:00 UTC.
    assert override.start_at == utc(2030, 1, 10, 4, 0)
    assert override.end_at == utc(2030, 1, 10, 12, 30)


def test_override_form_errors_are_shown_inline_and_nothing_saved(setup):
    project, owner, ann, bob, rot = setup
    client = client_for(owner.user)
    response = client.post(
        "/projects/payroll/oncall/overrides/",
        {
            "rotation": rot.pk,
            "person": owner.pk,
            "start_at": "2030-01-10T18:00",
            "end_at": "2030-01-10T09:00",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "ends before it starts" in response.content.decode()
    assert not Override.objects.exists()


def test_take_a_shift_in_one_click(setup):
    project, owner, ann, bob, rot = setup
    client = client_for(owner.user)
    start = timezone.now() + timedelta(days=3)
    end = start + timedelta(hours=6)
    response = client.post(
        "/projects/payroll/oncall/take/",
        {"rotation": rot.pk, "start": int(start.timestamp()), "end": int(end.timestamp())},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    override = Override.objects.get()
    assert override.person == owner
    assert override.covered in (ann, bob)


def test_readers_see_the_schedule_but_cannot_add_overrides(setup):
    project, owner, ann, bob, rot = setup
    reader = person("Reader")
    client = client_for(reader.user)
    html = client.get("/projects/payroll/oncall/").content.decode()
    assert "Add an override" not in html and "take it" not in html
    response = client.post(
        "/projects/payroll/oncall/overrides/",
        {
            "rotation": rot.pk,
            "person": ann.pk,
            "start_at": "2030-01-10T09:00",
            "end_at": "2030-01-10T18:00",
        },
    )
    assert response.status_code == 403
    assert not Override.objects.exists()


# --- feeds --------------------------------------------------------------------------------------


def _events(body: bytes) -> list:
    calendar = Calendar.from_ical(body)
    return [c for c in calendar.walk() if c.name == "VEVENT"]


def test_rotation_feed_parses_back_with_the_shifts(setup):
    project, owner, ann, bob, rot = setup
    feed = oncall_services.calendar_feed_create(actor=owner.user, rotation=rot)
    response = Client().get(f"/feeds/oncall/{feed.token}.ics")  # no login
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0"
    events = _events(response.content)
    assert len(events) >= 100  # daily shifts over the past two weeks and the coming quarter
    summaries = {str(e["summary"]) for e in events}
    assert summaries == {"Ann on call", "Bob on call"}
    for event in events:
        start, end = event["dtstart"].dt, event["dtend"].dt
        assert end - start == timedelta(days=1)
        assert start.utcoffset() == timedelta(0)
    uids = [str(e["uid"]) for e in events]
    assert len(set(uids)) == len(uids)
    # Refetching gives the same UIDs, so calendars update rather than duplicate.
    again = _events(Client().get(f"/feeds/oncall/{feed.token}.ics").content)
    assert [str(e["uid"]) for e in again] == uids


def test_person_feed_lists_only_their_shifts_across_dst(setup):
    project, owner, ann, bob, rot = setup
    other = rotation(ProjectFactory(), name="Berlin desk")
    layer(other, [ann], time_zone="Europe/Berlin", restrict_start=time(9), restrict_end=time(10))
    feed = oncall_services.calendar_feed_create(actor=ann.user, person=ann)
    from oncall.feeds import calendar_for

    body = calendar_for(feed, now=utc(2025, 3, 30, 12))
    events = _events(body)
    assert events and all("On call:" in str(e["summary"]) for e in events)
    berlin = [e for e in events if str(e["summary"]) == "On call: Berlin desk"]
    starts = {e["dtstart"].dt.astimezone(utc(2025, 1, 1).tzinfo) for e in berlin}
    # 09:00 Berlin is 08:00 UTC before 30 March and 07:00 UTC from then on.
    assert utc(2025, 3, 29, 8) in starts and utc(2025, 3, 31, 7) in starts
    primary = [e for e in events if str(e["summary"]) == "On call: Primary"]
    assert primary and all(e["dtend"].dt - e["dtstart"].dt == timedelta(days=1) for e in primary)


def test_revoked_or_unknown_feed_is_404(setup):
    project, owner, ann, bob, rot = setup
    feed = oncall_services.calendar_feed_create(actor=owner.user, rotation=rot)
    client = client_for(owner.user)
    assert client.post(f"/me/feeds/{feed.pk}/revoke/").status_code == 302
    assert CalendarFeed.objects.get().revoked_at is not None
    assert Client().get(f"/feeds/oncall/{feed.token}.ics").status_code == 404
    assert Client().get("/feeds/oncall/not-a-token.ics").status_code == 404


def test_someone_else_cannot_revoke_a_feed_and_the_token_is_not_audited(setup):
    from registry.models import AuditEntry

    project, owner, ann, bob, rot = setup
    feed = oncall_services.calendar_feed_create(actor=ann.user, person=ann)
    response = client_for(bob.user).post(f"/me/feeds/{feed.pk}/revoke/")
    assert response.status_code == 403
    assert CalendarFeed.objects.get().revoked_at is None
    assert not any(feed.token in str(e.changes) for e in AuditEntry.objects.all())


def test_the_rotation_feed_refresh_interval_is_an_rfc_5545_duration(setup):
    """Calendar apps that follow RFC 7986 (and icalendar 7) refuse `1:00:00`."""
    project, owner, ann, bob, rot = setup
    feed = oncall_services.calendar_feed_create(actor=owner.user, rotation=rot)
    response = Client().get(f"/feeds/oncall/{feed.token}.ics")
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.content.decode().split("\r\n")
    assert Calendar.from_ical(response.content).decoded("refresh-interval") == timedelta(hours=1)


def test_schedule_page_shows_each_persons_local_time_in_their_zone_and_reads_as_text(setup):
    """Their own clock, not UTC labelled with their zone; no template comment printed; the
    coverage grid's words do not run together when read as text."""
    project, owner, ann, bob, rot = setup
    before = timezone.now()
    response = client_for(owner.user).get("/projects/payroll/oncall/?tz=UTC")
    after = timezone.now()
    html = response.content.decode()
    for member, zone_name in ((ann, "America/New_York"), (bob, "Asia/Kolkata")):
        shown = {
            f"{moment.astimezone(ZoneInfo(zone_name)):%a %H:%M} {zone_name}"
            for moment in (before, after)
        }
        assert any(s in html for s in shown), (member.display_name, shown)
    assert "{#" not in html and "#}" not in html
    text = re.sub(r"<[^>]+>", "", html)
    assert "coveredcovered" not in text and "coveredcovered," not in text


def test_no_template_comment_spans_lines():
    """Django prints a `{# … #}` that spans lines: each must close on the line it opens."""
    from django.conf import settings

    offenders = []
    for folder in settings.TEMPLATES[0]["DIRS"]:
        for path in Path(folder).rglob("*.html"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.count("{#") > line.count("#}"):
                    offenders.append(f"{path}:{number}")
    assert offenders == []
