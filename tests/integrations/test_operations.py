"""/healthz reports each part; /metrics is read back with Prometheus' own parser and checked
against the database."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from incidents.models import Outage
from integrations.models import InboundEvent
from notifications import tasks as notification_tasks
from notifications.models import DeliveryAttempt, Notification, Page
from steward import health
from steward.health import SWEEPER_TASK, redis_connection, task_ran_at, task_ran_record
from tests.factories import PersonFactory, it_staff_user

from .conftest import pagerduty

# --- /healthz ----------------------------------------------------------------------------------


def test_healthz_reports_every_part_up(client, db):
    task_ran_record(SWEEPER_TASK, at=time.time() - 20)

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["web"] == {"status": "ok"}
    assert body["database"] == {"status": "ok"}
    assert body["broker"] == {"status": "ok", "kind": "redis"}
    assert body["sweeper"]["status"] == "ok"
    assert 19 <= body["sweeper"]["last_run_seconds_ago"] < 60


def test_the_sweeper_task_records_its_run(client, db):
    assert task_ran_at(SWEEPER_TASK) is None
    assert client.get("/healthz").json()["sweeper"]["status"] == "unknown"

    notification_tasks.sweep()

    assert time.time() - task_ran_at(SWEEPER_TASK) < 60
    assert client.get("/healthz").json()["sweeper"]["status"] == "ok"


def test_a_stale_sweeper_is_a_503(client, db, settings):
    settings.STEWARD_SWEEPER_MAX_AGE_SECONDS = 300
    task_ran_record(SWEEPER_TASK, at=time.time() - 301)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert response.json()["sweeper"]["status"] == "stale"


def test_the_web_scope_ignores_a_stale_sweeper_for_load_balancers(client, db, settings):
    settings.STEWARD_SWEEPER_MAX_AGE_SECONDS = 300
    task_ran_record(SWEEPER_TASK, at=time.time() - 301)

    response = client.get("/healthz?scope=web")

    assert response.status_code == 200
    assert set(response.json()) == {"status", "web", "database"}


def test_a_broker_that_does_not_answer_is_a_503(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["status"] == "down" and body["broker"]["kind"] == "redis"
    assert body["database"] == {"status": "ok"}


def test_a_database_that_fails_is_a_503(client, db, monkeypatch):
    class Broken:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Broken())
    response = health.healthz(RequestFactory().get("/healthz"))
    assert response.status_code == 503
    assert json.loads(response.content)["database"] == {
        "status": "down",
        "error": "OperationalError",
    }


# --- /metrics ----------------------------------------------------------------------------------


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_match_the_database(client, world, settings):
    enqueue = client.post(
        "/v2/enqueue",
        data=json.dumps(pagerduty(world.database)),
        content_type="application/json",
    )
    assert enqueue.status_code == 202
    page_row = Notification.objects.get(kind="page")
    Notification.objects.filter(pk=page_row.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=1),
        deliver_after=timezone.now() - dt.timedelta(hours=1),
    )
    sent = Notification.objects.create(
        event=Outage.objects.get(),
        topic="t",
        kind="notice",
        recipient=world.owner,
        channel="webhook",
        address="http://127.0.0.1:9/",
        subject="s",
        idempotency_key="metrics-test-sent",
        state="sent",
        attempts=3,
        sent_at=timezone.now(),
        # The attempt that went through is kept on the row; those that failed are rows.
        sent_latency_ms=4000,
        sent_status_code=200,
        deliver_after=timezone.now(),
        created_at=timezone.now(),
    )
    for number, latency in enumerate((30, 200), start=1):
        DeliveryAttempt.objects.create(
            notification=sent,
            number=number,
            started_at=timezone.now(),
            latency_ms=latency,
            outcome="retry",
            status_code=503,
        )

    samples = scrape(client)

    for state in Notification.State.values:
        for channel in Notification.Channel.values:
            expected = Notification.objects.filter(state=state, channel=channel).count()
            assert value(samples, "steward_notifications", state=state, channel=channel) == expected
    assert value(samples, "steward_notifications", state="pending", channel="email") == 1
    assert value(samples, "steward_notifications", state="sent", channel="webhook") == 1
    assert value(samples, "steward_notification_queue_depth", urgency="page") == 1
    assert value(samples, "steward_notification_queue_depth", urgency="notice") == 0
    assert (
        3600
        <= value(
            samples,
            "steward_oldest_pending_page_seconds",
        )
        < 3700
    )
    opened_at = Page.objects.get().opened_at
    assert value(samples, "steward_oldest_unacknowledged_page_seconds") == pytest.approx(
        (timezone.now() - opened_at).total_seconds(), abs=30
    )
    histogram = "steward_delivery_latency_seconds"
    assert value(samples, f"{histogram}_bucket", channel="webhook", le="0.05") == 1
    assert value(samples, f"{histogram}_bucket", channel="webhook", le="0.25") == 2
    assert value(samples, f"{histogram}_bucket", channel="webhook", le="2.5") == 2
    assert value(samples, f"{histogram}_bucket", channel="webhook", le="5.0") == 3
    assert value(samples, f"{histogram}_bucket", channel="webhook", le="+Inf") == 3
    assert value(samples, f"{histogram}_count", channel="webhook") == 3
    assert value(samples, f"{histogram}_sum", channel="webhook") == pytest.approx(4.23)
    assert (
        value(samples, "steward_inbound_events_total", source="events_api", outcome="opened")
        == InboundEvent.objects.count()
        == 1
    )
    assert value(samples, "steward_heartbeats") == 0


def test_metrics_count_requests_by_method_and_status(client, db):
    before = scrape(client)
    key = ("steward_http_requests_total", (("method", "POST"), ("status", "400")))
    client.post("/v2/enqueue", data="{", content_type="application/json")
    client.post("/v2/enqueue", data="{", content_type="application/json")

    after = scrape(client)

    assert after[key] - before.get(key, 0) == 2
    get_key = ("steward_http_requests_total", (("method", "GET"), ("status", "200")))
    assert after[get_key] - before.get(get_key, 0) >= 1  # the first scrape itself


def test_metrics_read_the_broker_queue_lengths(client, db, settings):
    settings.CELERY_TASK_ROUTES = {"x.y": {"queue": "i1-metrics-test"}}
    connection = redis_connection()
    connection.delete("i1-metrics-test")
    connection.rpush("i1-metrics-test", "a", "b", "c")
    try:
        samples = scrape(client)
    finally:
        connection.delete("i1-metrics-test")
    assert value(samples, "steward_broker_queue_length", queue="i1-metrics-test") == 3


def test_metrics_want_the_bearer_token_when_one_is_set(client, db, settings):
    settings.STEWARD_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrông").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token")


# --- the IT system page -------------------------------------------------------------------------


def test_it_staff_see_the_key_and_the_urls_to_paste_and_readers_do_not(client, world):
    from integrations.services import heartbeat_create

    beat = heartbeat_create(system=world.database, name="nightly <backup>", interval_minutes=60)
    page = f"/systems/{world.database.slug}/"

    client.force_login(it_staff_user())
    html = client.get(page).content.decode()
    assert world.database.integration_key in html
    assert "http://127.0.0.1:8000/v2/enqueue" in html
    assert f"/integrations/alertmanager/{world.database.integration_key}/" in html
    assert f"/integrations/heartbeat/{beat.key}/" in html
    assert "nightly &lt;backup&gt;" in html
    assert "Nothing received yet." in html
    client.post(
        "/v2/enqueue",
        data=json.dumps(pagerduty(world.database)),
        content_type="application/json",
    )
    html = client.get(page).content.decode()
    assert "Example alert on host1.example.com" in html
    assert "Opened an outage".lower() in html

    client.force_login(PersonFactory().user)
    html = client.get(page).content.decode()
    assert world.database.integration_key not in html
    assert beat.key not in html
