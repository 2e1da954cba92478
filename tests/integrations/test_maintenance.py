"""Maintenance windows hold what monitors send about their systems: stored and shown on the change,
paging nobody; what still fires when the window ends pages as usual, once."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from changes import services as changes
from changes import windows
from changes.models import HeldAlert, MaintenanceWindow
from incidents.models import Outage
from integrations import services, tasks
from integrations.models import InboundEvent
from notifications import services as delivery
from notifications.models import Notification, Page
from tests.e2e_support import celery_worker, smtp_sink, wait_for  # noqa: F401
from tests.factories import SystemFactory, it_staff_user

from .conftest import alertmanager, pagerduty


def post(path: str, body: dict) -> int:
    return Client().post(path, data=json.dumps(body), content_type="application/json").status_code


def scheduled_change(system, *, start, end, extra=()):
    staff = it_staff_user()
    change = changes.change_create(
        actor=staff,
        title="Database upgrade",
        planned_start_at=start,
        planned_end_at=end,
        systems=[system],
        maintenance_systems=list(extra),
        reminder_lead_minutes=[],
    )
    return changes.change_schedule(actor=staff, change=change, now=start - timedelta(hours=1))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_alerts_during_a_change_page_nobody_and_what_still_fires_after_pages_once(
    world,
    celery_worker,  # noqa: F811
    smtp_sink,  # noqa: F811
):
    worker = celery_worker(smtp_port=smtp_sink.port)
    now = timezone.now()
    end = now + timedelta(seconds=4)
    change = scheduled_change(world.database, start=now - timedelta(minutes=30), end=end)
    owners_told = Notification.objects.filter(topic="change.scheduled").values_list(
        "body", flat=True
    )
    assert all("your app is in a maintenance window" in body for body in owners_told)
    assert owners_told

    # Alertmanager's and PagerDuty's shapes, during the window: held, not paged.
    am_path = f"/integrations/alertmanager/{world.database.integration_key}/"
    assert post(am_path, alertmanager()) == 202
    assert post("/v2/enqueue", pagerduty(world.database)) == 202
    assert post(am_path, alertmanager()) == 202  # Alertmanager repeats itself
    assert Outage.objects.count() == 0
    assert Page.objects.count() == 0
    assert sorted(InboundEvent.objects.values_list("outcome", flat=True)) == ["held"] * 3
    held = {h.source: h for h in HeldAlert.objects.all()}
    assert set(held) == {"alertmanager", "events_api"}
    assert held["alertmanager"].events == 2

    # The Events API alert stops during the window: nobody will hear of it.
    resolve = {
        "routing_key": world.database.integration_key,
        "dedup_key": "samplekeyhere",
        "event_action": "resolve",
    }
    assert post("/v2/enqueue", resolve) == 202
    assert InboundEvent.objects.order_by("-pk").first().outcome == "cleared"

    # Shown on the change, to anyone signed in.
    reader = Client()
    reader.force_login(it_staff_user())
    shown = reader.get(f"/api/v1/changes/{change.pk}/").json()["maintenance"]
    assert {h["source"]: h["firing"] for h in shown["held"]} == {
        "alertmanager": True,
        "events_api": False,
    }
    page = reader.get(f"/it/changes/{change.pk}/").content.decode()
    assert "BlackBox probe failure" in page and "still firing" in page

    # The window ends with Alertmanager's alert still firing: beat's task, on the real worker.
    time.sleep(max(0.0, (end - timezone.now()).total_seconds()) + 0.2)
    tasks.maintenance_windows_release.delay()
    wait_for(
        lambda: Notification.objects.filter(kind="page", state="sent").count() == 1,
        timeout=30,
        while_waiting=lambda: delivery.sweep(now=timezone.now()),
        message="the page of the alert still firing",
    )
    outage = Outage.objects.get()
    assert outage.dedup_key == held["alertmanager"].key
    # The change's notice to the owner goes out in their working hours (at once during them,
    # later outside them): counted apart from the pages, whatever the hour the test runs at.
    pages = [m for m in smtp_sink.messages if m["Subject"].startswith("[PAGE] ")]
    notices = [m["Subject"] for m in smtp_sink.messages if m not in pages]
    assert set(notices) <= {"IT change scheduled: Database upgrade"}
    [message] = pages
    assert message["To"] == "olga@example.com"
    assert "BlackBox probe failure" in message["Subject"]

    # Once: the task again, and Alertmanager repeating, page nobody more.
    tasks.maintenance_windows_release.delay()
    assert post(am_path, alertmanager()) == 202
    time.sleep(1.0)
    delivery.sweep(now=timezone.now())
    assert Page.objects.count() == 1
    assert Outage.objects.count() == 1
    assert HeldAlert.objects.get(source="alertmanager").outage == outage
    assert MaintenanceWindow.objects.get().released_at is not None
    assert "Traceback" not in worker.log()


@pytest.mark.django_db
def test_a_heartbeat_missed_in_a_window_pages_when_it_ends_if_still_missing(world):
    now = timezone.now()
    staff = it_staff_user()
    window = windows.maintenance_window_open(
        actor=staff,
        title="Rack move",
        systems=[world.database],
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    beat = services.heartbeat_create(
        system=world.database, name="backup", interval_minutes=5, now=now - timedelta(hours=2)
    )
    other = services.heartbeat_create(
        system=world.database, name="cron", interval_minutes=5, now=now - timedelta(hours=2)
    )

    assert services.heartbeats_check(now=now) == 0
    assert Outage.objects.count() == 0
    assert HeldAlert.objects.filter(window=window).count() == 2
    services.heartbeat_ping(heartbeat=other, now=now + timedelta(minutes=1))  # back: cleared

    assert services.maintenance_windows_release(now=now + timedelta(minutes=30)) == 0  # not over
    assert services.maintenance_windows_release(now=now + timedelta(hours=2)) == 1
    assert services.maintenance_windows_release(now=now + timedelta(hours=3)) == 0
    outage = Outage.objects.get()
    beat.refresh_from_db()
    assert beat.outage == outage
    assert Page.objects.count() == 1
    services.heartbeat_ping(heartbeat=beat, now=now + timedelta(hours=4))
    outage.refresh_from_db()
    assert outage.status == Outage.Status.RESOLVED


@pytest.mark.django_db
def test_named_downstream_systems_are_held_too_and_other_systems_page(world):
    app = SystemFactory(name="App server", slug="app-server")
    from tests.changes.conftest import edge

    edge(app, world.database)
    now = timezone.now()
    scheduled_change(
        world.database, start=now - timedelta(minutes=5), end=now + timedelta(hours=1), extra=[app]
    )

    assert post("/v2/enqueue", pagerduty(app, dedup_key="app-down")) == 202
    assert Outage.objects.count() == 0
    assert post("/v2/enqueue", pagerduty(world.sso, dedup_key="sso-down")) == 202
    assert Outage.objects.get().systems.get() == world.sso


@pytest.mark.django_db
def test_only_downstream_systems_join_a_changes_window(world):
    staff = it_staff_user()
    now = timezone.now()
    with pytest.raises(Exception) as refused:
        changes.change_create(
            actor=staff,
            title="Upgrade",
            planned_start_at=now,
            planned_end_at=now + timedelta(hours=1),
            systems=[world.database],
            maintenance_systems=[world.sso],
        )
    assert "maintenance_systems" in refused.value.message_dict
