"""The change calendar, parsed back with icalendar: what is in it, in which scope, and that the
feed's secret is the only key."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from icalendar import Calendar

from changes import services
from oncall import services as oncall_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def it(graph):
    from tests.factories import it_staff_user

    return it_staff_user()


def change(it, systems, *, title, days=2, schedule=True):
    start = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
    created = services.change_create(
        actor=it,
        title=title,
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=2),
        systems=systems,
    )
    return services.change_schedule(actor=it, change=created) if schedule else created


def events(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(e["summary"]): e for e in calendar.walk("VEVENT")}


@pytest.fixture
def feed(graph):
    return oncall_services.calendar_feed_create(actor=None, person=graph.people_owner)


def test_every_scheduled_change_is_an_event_in_utc_and_drafts_are_not(client, graph, it, feed):
    dc_change = change(it, [graph.dc], title="Datacenter power work")
    change(it, [graph.database], title="Database patch")
    change(it, [graph.mail], title="Mail draft", schedule=False)

    found = events(client, f"/feeds/changes/{feed.token}.ics")

    assert set(found) == {"IT change: Datacenter power work", "IT change: Database patch"}
    event = found["IT change: Datacenter power work"]
    assert event.decoded("dtstart") == dc_change.planned_start_at
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    assert str(event["uid"]) == f"change-{dc_change.pk}@steward"
    assert str(event["status"]) == "CONFIRMED" and int(event["sequence"]) == 0
    assert "Datacenter Austin" in str(event["description"])


def test_mine_keeps_the_changes_on_systems_my_projects_depend_on_transitively(
    client, graph, it, feed
):
    change(it, [graph.dc], title="Datacenter power work")  # People → SSO → Datacenter
    change(it, [graph.database], title="Database patch")  # only Wiki depends on it

    found = events(client, f"/feeds/changes/{feed.token}.ics?scope=mine")

    assert set(found) == {"IT change: Datacenter power work"}


def test_one_system(client, graph, it, feed):
    change(it, [graph.dc], title="Datacenter power work")
    change(it, [graph.database], title="Database patch")

    assert set(events(client, f"/feeds/changes/{feed.token}.ics?system=database")) == {
        "IT change: Database patch"
    }
    assert client.get(f"/feeds/changes/{feed.token}.ics?system=nope").status_code == 404


def test_a_moved_change_keeps_its_uid_with_a_higher_sequence_and_a_cancelled_one_says_so(
    client, graph, it, feed
):
    moved = change(it, [graph.dc], title="Datacenter power work")
    new_start = moved.planned_start_at + timedelta(hours=3)
    services.change_update(
        actor=it,
        change=moved,
        planned_start_at=new_start,
        planned_end_at=moved.planned_end_at + timedelta(hours=3),
    )
    cancelled = change(it, [graph.sso], title="SSO upgrade")
    services.change_cancel(actor=it, change=cancelled)

    found = events(client, f"/feeds/changes/{feed.token}.ics")

    event = found["IT change: Datacenter power work"]
    assert str(event["uid"]) == f"change-{moved.pk}@steward"
    assert int(event["sequence"]) == 1
    assert event.decoded("dtstart") == new_start.astimezone(UTC)
    assert str(found["IT change: SSO upgrade"]["status"]) == "CANCELLED"


def test_a_revoked_or_unknown_or_rotation_feed_is_not_a_change_calendar(client, graph, it, feed):
    assert client.get("/feeds/changes/not-a-token.ics").status_code == 404
    oncall_services.calendar_feed_revoke(actor=None, feed=feed)
    assert client.get(f"/feeds/changes/{feed.token}.ics").status_code == 404
    rotation = oncall_services.rotation_create(actor=None, name="Primary", project=graph.people)
    rotation_feed = oncall_services.calendar_feed_create(actor=None, rotation=rotation)
    assert client.get(f"/feeds/changes/{rotation_feed.token}.ics").status_code == 404


def test_the_feeds_page_offers_the_change_calendar(client, graph, feed):
    feed.created_by = graph.people_owner
    feed.save()
    client.force_login(graph.people_owner.user)
    body = client.get("/me/feeds/").content.decode()
    assert f"/feeds/changes/{feed.token}.ics" in body


def test_the_refresh_interval_is_an_rfc_5545_duration(client, graph, it, feed):
    """Calendar apps that follow RFC 7986 (and icalendar 7) refuse `1:00:00`."""
    response = client.get(f"/feeds/changes/{feed.token}.ics")
    lines = response.content.decode().split("\r\n")
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
    calendar = Calendar.from_ical(response.content)
    assert calendar.decoded("refresh-interval") == timedelta(hours=1)
