"""Every iCalendar feed Steward serves is RFC 5545 (`tests/ical_support.py`): the on-call feeds
of a person and of a rotation, and the IT change feed in each of its scopes, filled with what
stretches a writer: people in three zones across a DST change, an override, long and non-Latin
text that must fold on octets, a cancelled change."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from changes import services as change_services
from oncall import services as oncall_services
from tests.factories import (
    DependencyFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from tests.ical_support import rfc5545_problems
from tests.oncall.helpers import layer, person, rotation

pytestmark = pytest.mark.django_db

LONG = "Café déjà vu — 東京のデータセンター移転; commas, semicolons; and a backslash \\ " * 3


@pytest.fixture
def feeds():
    project = ProjectFactory(name="Ünïcode Payroll", slug="payroll")
    system = SystemFactory(name="Datacenter Zürich", slug="dc")
    DependencyFactory(source_project=project, target_system=system)
    kolkata = person("Asha", time_zone="Asia/Kolkata")
    angeles = person("Luis", time_zone="America/Los_Angeles")
    dublin = person("Siobhán", time_zone="Europe/Dublin")
    ProjectRoleFactory(project=project, person=angeles)
    rot = rotation(project, name=f"Follow the sun {LONG[:40]}")
    start = timezone.localdate() - timedelta(days=30)
    layer(rot, [kolkata, dublin], time_zone="Asia/Kolkata", start_date=start, handoff_time=time(9))
    layer(
        rot,
        [angeles],
        time_zone="America/Los_Angeles",
        start_date=start,
        handoff_time=time(1, 30),
        length="daily",
        restrict_start=time(9),
        restrict_end=time(17),
    )
    now = timezone.now().replace(microsecond=0)
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=dublin,
        covered=angeles,
        start_at=now + timedelta(days=2),
        end_at=now + timedelta(days=3),
        reason=LONG,
    )
    it = it_staff_user()
    for days, cancel in ((3, False), (10, True)):
        change = change_services.change_create(
            actor=it,
            title=f"{LONG[:120]} {days}",
            description=LONG,
            planned_start_at=now + timedelta(days=days),
            planned_end_at=now + timedelta(days=days, hours=2),
            systems=[system],
        )
        change = change_services.change_schedule(actor=it, change=change)
        if cancel:
            change_services.change_cancel(actor=it, change=change)
    shifts = oncall_services.calendar_feed_create(actor=None, person=kolkata)
    own = oncall_services.calendar_feed_create(actor=None, person=angeles)
    of_rotation = oncall_services.calendar_feed_create(actor=None, rotation=rot)
    return {
        "person's shifts": f"/feeds/oncall/{shifts.token}.ics",
        "rotation's shifts": f"/feeds/oncall/{of_rotation.token}.ics",
        "all changes": f"/feeds/changes/{own.token}.ics",
        "changes touching my apps": f"/feeds/changes/{own.token}.ics?scope=mine",
        "one system's changes": f"/feeds/changes/{own.token}.ics?system=dc",
    }


def test_every_feed_is_rfc_5545_with_events_in_it(client, feeds):
    for name, url in feeds.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.content[:300])
        assert response["Content-Type"] == "text/calendar; charset=utf-8"
        assert rfc5545_problems(response.content) == [], name
        assert response.content.count(b"BEGIN:VEVENT") >= 1, name


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (b"REFRESH-INTERVAL;VALUE=DURATION:1:00:00\r\n", "refuses it"),
        (b"X-LONG:" + b"x" * 80 + b"\r\n", "octets long"),
        (b"X-BARE:lf\n", "bare LF"),
        (b"PRODID:-//again//EN\r\n", "PRODID appears 2 times"),
        (
            b"BEGIN:VEVENT\r\nUID:a@b\r\nDTSTAMP:20260101T000000Z\r\n"
            b"DTSTART;TZID=Mars/Olympus:20260101T090000\r\nEND:VEVENT\r\n",
            "has no VTIMEZONE",
        ),
        (b"BEGIN:VEVENT\r\nUID:a@b\r\nDTSTART:20260101T090000Z\r\nEND:VEVENT\r\n", "no DTSTAMP"),
    ],
)
def test_the_checks_catch_what_breaks_a_calendar(broken, problem):
    """The validator itself: each breach of the RFC is reported (a check that cannot fail
    would pass any feed)."""
    valid = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Steward//Test//EN\r\n"
    assert rfc5545_problems(valid + b"END:VCALENDAR\r\n") == []
    problems = rfc5545_problems(valid + broken + b"END:VCALENDAR\r\n")
    assert any(problem in p for p in problems), problems
