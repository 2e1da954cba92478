"""Heartbeats: a missing ping opens one outage, a ping resolves it. Time is driven with now=."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from incidents.models import Outage
from incidents.services.outages import outage_resolve
from integrations import services, tasks
from integrations.models import Heartbeat, InboundEvent
from notifications.models import Page

from .conftest import NOW

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def backup(world) -> Heartbeat:
    """Every 10 minutes, 5 minutes' grace: overdue 15 minutes after the last ping."""
    return services.heartbeat_create(
        system=world.database, name="nightly backup", interval_minutes=10, grace_minutes=5, now=NOW
    )


def test_pings_in_time_open_nothing(backup):
    services.heartbeat_ping(heartbeat=backup, now=NOW + 9 * MINUTE)
    assert services.heartbeats_check(now=NOW + 23 * MINUTE) == 0
    assert not Outage.objects.exists()


def test_a_missing_ping_opens_one_outage_not_one_per_check_and_a_ping_resolves_it(world, backup):
    services.heartbeat_ping(heartbeat=backup, now=NOW)
    assert services.heartbeats_check(now=NOW + 15 * MINUTE) == 0  # exactly at the deadline

    opened = [services.heartbeats_check(now=NOW + m * MINUTE) for m in (16, 17, 30, 90)]

    assert opened == [1, 0, 0, 0]
    outage = Outage.objects.get()
    assert outage.title == "Heartbeat missed: nightly backup (Core database)"
    assert outage.started_at == NOW + 15 * MINUTE  # when it became overdue
    assert list(outage.systems.all()) == [world.database]
    assert Page.objects.get().project == world.wiki
    backup.refresh_from_db()
    assert backup.down_since == NOW + 15 * MINUTE and backup.outage == outage

    services.heartbeat_ping(heartbeat=backup, now=NOW + 95 * MINUTE)

    outage.refresh_from_db()
    assert outage.status == Outage.Status.RESOLVED
    assert outage.resolved_at == NOW + 95 * MINUTE
    assert Page.objects.get().state == Page.State.STOPPED
    backup.refresh_from_db()
    assert (backup.down_since, backup.outage, backup.last_ping_at) == (
        None,
        None,
        NOW + 95 * MINUTE,
    )
    assert list(InboundEvent.objects.order_by("id").values_list("action", "outcome")) == [
        ("missed", "opened"),
        ("resumed", "resolved"),
    ]
    # Missing again later: a new outage.
    assert services.heartbeats_check(now=NOW + 111 * MINUTE) == 1
    assert Outage.objects.filter(resolved_at__isnull=True).count() == 1


def test_a_heartbeat_that_never_pinged_is_due_from_its_creation(backup):
    assert services.heartbeats_check(now=NOW + 14 * MINUTE) == 0
    assert services.heartbeats_check(now=NOW + 16 * MINUTE) == 1


def test_an_outage_resolved_by_hand_is_not_reopened_while_pings_stay_missing(backup):
    services.heartbeats_check(now=NOW + 20 * MINUTE)
    outage_resolve(actor=None, outage=Outage.objects.get(), now=NOW + 25 * MINUTE)

    assert services.heartbeats_check(now=NOW + 40 * MINUTE) == 0
    assert Outage.objects.count() == 1
    services.heartbeat_ping(heartbeat=backup, now=NOW + 50 * MINUTE)
    event = InboundEvent.objects.order_by("-id").first()
    assert (event.action, event.outcome) == ("resumed", "ignored")


def test_the_periodic_task_runs_the_check_and_is_idempotent(backup):
    Heartbeat.objects.filter(pk=backup.pk).update(created_at=NOW - dt.timedelta(days=1))
    assert tasks.heartbeats_check() == 1
    assert tasks.heartbeats_check() == 0
    assert Outage.objects.count() == 1


def test_a_heartbeat_needs_a_positive_interval(world):
    with pytest.raises(ValidationError) as exc:
        services.heartbeat_create(system=world.database, name="cron", interval_minutes=0)
    assert "interval_minutes" in exc.value.message_dict
    assert not Heartbeat.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_ping_url_takes_get_and_post_without_csrf(client, backup, method):
    response = getattr(client, method)(f"/integrations/heartbeat/{backup.key}/")
    assert response.status_code == 200
    assert response.json()["heartbeat"] == "nightly backup"
    backup.refresh_from_db()
    assert backup.last_ping_at is not None


def test_a_ping_to_an_unknown_key_is_a_404(client, backup):
    response = client.post("/integrations/heartbeat/nope/")
    assert response.status_code == 404
    backup.refresh_from_db()
    assert backup.last_ping_at is None


def test_a_ping_by_http_resolves_the_missed_heartbeat(client, backup):
    services.heartbeats_check(now=NOW + 20 * MINUTE)
    assert Outage.objects.get().is_open
    client.post(f"/integrations/heartbeat/{backup.key}/")
    assert Outage.objects.get().status == Outage.Status.RESOLVED


# --- set up on the system page by IT staff ------------------------------------------------------


def test_it_staff_expect_and_remove_a_heartbeat_on_the_page(world):
    from django.test import Client

    from tests.factories import PersonFactory, it_staff_user

    it, reader = Client(), Client()
    it.force_login(it_staff_user())
    reader.force_login(PersonFactory().user)
    url = f"/integrations/systems/{world.database.slug}/heartbeats/new/"
    body = {"name": "nightly backup", "interval_minutes": "1440", "grace_minutes": "30"}
    body["severity"] = "sev3"

    assert reader.get(url).status_code == 403
    assert reader.post(url, body).status_code == 403
    assert not Heartbeat.objects.exists()

    answer = it.post(url, body)
    assert answer.status_code == 302
    assert answer["Location"] == f"/systems/{world.database.slug}/#integrations"
    heartbeat = Heartbeat.objects.get()
    assert (heartbeat.name, heartbeat.interval_minutes, heartbeat.grace_minutes) == (
        "nightly backup",
        1440,
        30,
    )
    page = it.get(f"/systems/{world.database.slug}/").content.decode()
    assert heartbeat.get_ping_path() in page

    # The same name again, and a zero interval: each problem beside its field, typing kept.
    again = it.post(url, body).content.decode()
    assert "already expects a heartbeat" in again and 'value="nightly backup"' in again
    zero = it.post(url, body | {"name": "cron", "interval_minutes": "0"}).content.decode()
    assert "greater than or equal to 1" in zero and 'value="cron"' in zero
    assert Heartbeat.objects.count() == 1

    remove = f"/integrations/heartbeats/{heartbeat.pk}/remove/"
    assert reader.post(remove).status_code == 403
    assert it.post(remove).status_code == 302
    assert not Heartbeat.objects.exists()
