"""Planned maintenance on the status pages: the RSS and Atom feeds (parsed back with the reader
feed readers use), in public wording only, and the subscribers' notices ahead of time with their
opt-out (subscribe form, manage link)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from django.test import Client, override_settings

from changes import services as change_services
from incidents.models import MaintenanceNotice, Subscription
from incidents.services import subscriptions
from incidents.services.maintenance import (
    maintenance_cancellations_send_due,
    maintenance_notices_send_due,
)
from incidents.services.outages import outage_open
from notifications.models import Notification
from registry.models import Dependency
from tests.factories import (
    DependencyFactory,
    IncidentFactory,
    ProjectFactory,
    SubscriptionFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

SECRET_TITLE = "Swap the Oracle RAC node db-prod-7 (Ivan)"


@pytest.fixture
def world(db):
    staff = it_staff_user()
    system = SystemFactory(name="Orders DB", slug="orders-db")
    app = ProjectFactory(name="Shop", slug="shop")
    other = ProjectFactory(name="Wiki", slug="wiki")
    DependencyFactory(
        source_project=app, target_system=system, criticality=Dependency.Criticality.HARD
    )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    change = change_services.change_create(
        actor=staff,
        title=SECRET_TITLE,
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=2),
        systems=[system],
    )
    change_services.change_schedule(actor=staff, change=change)
    outage = outage_open(
        actor=staff,
        title="RAC node 7 kernel panic",
        public_summary="Orders are slow",
        systems=[system],
    )
    IncidentFactory(project=app, title="Bob broke checkout", public_summary="Checkout errors")
    return {"staff": staff, "app": app, "other": other, "change": change, "outage": outage}


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_project_feed_has_outages_incidents_and_maintenance_in_public_wording(world, kind):
    response = Client().get(f"/status/shop/feed.{kind}")
    assert response.status_code == 200
    assert SECRET_TITLE.encode() not in response.content
    assert b"kernel panic" not in response.content and b"Bob broke" not in response.content
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == ("rss20" if kind == "rss" else "atom10")
    assert feed.feed.title == "Shop status"
    titles = {entry.title for entry in feed.entries}
    assert "IT outage: Orders are slow" in titles
    assert "Shop: Checkout errors" in titles
    maintenance = [e for e in feed.entries if e.title.startswith("Planned IT maintenance")]
    assert len(maintenance) == 1
    assert world["change"].planned_start_at.strftime("%Y-%m-%d %H:%M") in maintenance[0].summary
    assert maintenance[0].link.endswith(f"/status/shop/#maintenance-{world['change'].pk}")


def test_whole_feed_and_a_project_it_does_not_touch(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        whole = feedparser.parse(Client().get("/status/feed.atom").content)
    assert len(whole.entries) == 3
    wiki = feedparser.parse(Client().get("/status/wiki/feed.rss").content)
    assert wiki.entries == []
    assert Client().get("/status/nope/feed.rss").status_code == 404


@override_settings(STEWARD_STATUS_PUBLIC=False)
def test_feeds_follow_the_status_pages_visibility(world):
    assert Client().get("/status/feed.rss").status_code == 302


def test_the_status_page_shows_the_maintenance_and_links_the_feeds(world):
    page = Client().get("/status/shop/")
    assert b"Planned IT maintenance" in page.content
    assert SECRET_TITLE.encode() not in page.content
    assert b"/status/shop/feed.atom" in page.content


# --- subscribers' notices --------------------------------------------------------------------------


def test_subscribers_hear_of_maintenance_ahead_unless_they_opted_out(world):
    app = world["app"]
    keen = SubscriptionFactory(project=app, address="keen@example.com")
    quiet = SubscriptionFactory(project=app, address="quiet@example.com", maintenance_notices=False)
    far = datetime.now(UTC) - timedelta(days=3)
    assert maintenance_notices_send_due(now=far) == 0  # 102 hours ahead then: beyond 72
    assert maintenance_notices_send_due() == 1
    assert maintenance_notices_send_due() == 0  # told once
    sent = Notification.objects.filter(topic="maintenance.planned.r0")
    assert {n.address for n in sent} == {keen.address}
    body = sent.get().body
    assert "Planned IT maintenance" in body and SECRET_TITLE not in body
    assert "/subscriptions/manage/" in body
    # The window moves: the new one is told again.
    change = world["change"]
    change_services.change_update(
        actor=world["staff"],
        change=change,
        planned_start_at=change.planned_start_at + timedelta(hours=1),
        planned_end_at=change.planned_end_at + timedelta(hours=1),
    )
    assert maintenance_notices_send_due() == 1
    assert MaintenanceNotice.objects.count() == 2
    assert quiet.pk not in {
        int(n.idempotency_key.rsplit(":", 2)[-2][4:])
        for n in Notification.objects.filter(topic__startswith="maintenance.")
    }


def test_subscribers_told_of_a_window_hear_once_that_it_is_cancelled(world):
    app = world["app"]
    keen = SubscriptionFactory(project=app, address="keen@example.com")
    SubscriptionFactory(project=app, address="quiet@example.com", maintenance_notices=False)
    assert maintenance_notices_send_due() == 1
    assert maintenance_cancellations_send_due() == 0  # still on
    change_services.change_cancel(actor=world["staff"], change=world["change"])
    assert b"Planned IT maintenance" not in Client().get("/status/shop/").content

    assert maintenance_cancellations_send_due() == 1
    assert maintenance_cancellations_send_due() == 0  # told once
    sent = Notification.objects.filter(topic="maintenance.cancelled")
    assert {n.address for n in sent} == {keen.address}
    notice = sent.get()
    assert "cancelled" in notice.subject and "will not happen" in notice.body
    assert SECRET_TITLE not in notice.subject + notice.body
    assert "/subscriptions/manage/" in notice.body


def test_a_cancelled_window_nobody_was_told_of_is_not_announced_as_cancelled(world):
    SubscriptionFactory(project=world["app"], address="keen@example.com")
    change_services.change_cancel(actor=world["staff"], change=world["change"])
    assert maintenance_cancellations_send_due() == 0
    assert maintenance_notices_send_due() == 0  # nor announced: it is off
    assert not Notification.objects.filter(topic__startswith="maintenance.").exists()


def test_the_subscribe_form_and_the_manage_link_set_the_flag(world):
    client = Client()
    response = client.post(
        "/projects/shop/subscribe/", {"channel": "email", "address": "a@example.com"}
    )
    assert response.status_code in (200, 302)
    pending = Subscription.objects.get(address="a@example.com")
    assert pending.maintenance_notices is False  # the box was not ticked
    subscription = SubscriptionFactory(project=world["app"], address="b@example.com")
    token = subscriptions.unsubscribe_token(subscription)
    page = client.get(f"/subscriptions/manage/{token}/")
    assert page.status_code == 200 and b"planned IT maintenance" in page.content
    client.post(f"/subscriptions/manage/{token}/", {})
    subscription.refresh_from_db()
    assert subscription.maintenance_notices is False
    client.post(f"/subscriptions/manage/{token}/", {"maintenance_notices": "on"})
    subscription.refresh_from_db()
    assert subscription.maintenance_notices is True
    assert client.get("/subscriptions/manage/forged/").status_code == 400
