"""End to end: a real Celery worker process on Redis, PostgreSQL, a local SMTP server (aiosmtpd)
and a local HTTP sink. Rows are written the way the incidents app writes them (inside the event's
transaction); the worker sends them; this process plays beat by calling the sweeper.

Exactly once is counted at the sinks: by Idempotency-Key (webhooks) and Message-ID (email). When a
worker is SIGKILLed after a receiver answered but before the row was marked sent, the message goes
out again with the same key — at-least-once on the wire, exactly once at a receiver that honours
the key; those tests assert no key is missing, no key was *accepted* twice outside that window,
and the re-sends are bounded by the worker's concurrency.
"""

import datetime as dt
import hashlib
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from incidents.events import outage_event
from incidents.models import Outage
from notifications import services
from notifications.channels import message_id
from notifications.models import Notification, Page
from registry.models import ProjectRole
from tests.e2e_support import wait_for
from tests.factories import PersonFactory, ProjectRoleFactory, SystemFactory

from .conftest import build_projects, sends_beyond_attempts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST = {
    "STEWARD_RETRY_BASE_SECONDS": "0.3",
    "STEWARD_RETRY_MAX_SECONDS": "2",
    "STEWARD_LEASE_SECONDS": "4",
    "STEWARD_WEBHOOK_READ_TIMEOUT": "0.7",
    "STEWARD_DELIVERY_MAX_ATTEMPTS": "12",
}


@pytest.fixture(autouse=True)
def fast_sweeper(settings):
    settings.STEWARD_REENQUEUE_AFTER_SECONDS = 1
    settings.STEWARD_LEASE_SECONDS = 4


def sweep():
    services.sweep(now=timezone.now())


def all_sent() -> bool:
    return not Notification.objects.exclude(state__in=["sent", "cancelled", "failed"]).exists()


def outage_on(system, title="Core database down"):
    outage = Outage.objects.create(title=title)
    outage.systems.set([system])
    return outage


def open_pages(outage, projects):
    event = outage_event(outage)  # what incidents hands the pipeline, once per write
    with transaction.atomic():  # like incidents.outage_open: rows and event in one transaction
        return [
            services.pages_open(
                event=event,
                project=p,
                subject=f"{outage.title}: {p.name}",
                body="Investigating.",
                link="http://steward.test/it/outages/1/",
            )
            for p in projects
        ]


def expected_keys(channel):
    return Counter(
        Notification.objects.filter(channel=channel).values_list("idempotency_key", flat=True)
    )


def test_a_page_reaches_each_responder_once_per_channel_and_the_ack_link_stops_escalation(
    celery_worker, smtp_sink, http_sink
):
    celery_worker(smtp_port=smtp_sink.port, **FAST)
    system = SystemFactory()
    it_contact = PersonFactory(email="it-duty@example.com")
    system.contacts.add(it_contact)
    projects = build_projects(http_sink, 3, channels=("email", "webhook", "slack"))
    backup = PersonFactory(email="backup@example.com")
    ProjectRoleFactory(project=projects[0], person=backup, role=ProjectRole.Role.BACKUP)
    outage = outage_on(system)
    pages = open_pages(outage, projects)

    wait_for(all_sent, timeout=30, message="the first level to be delivered")
    assert Notification.objects.count() == 9
    # Each message once (but for a retry its row records as an attempt), with its key.
    http_rows = Notification.objects.filter(channel__in=["webhook", "slack"])
    assert sends_beyond_attempts(http_sink.keys(), http_rows) == {}
    assert sorted({m["To"] for m in smtp_sink.messages}) == [
        f"owner{i}@example.com" for i in range(3)
    ]
    email_rows = Notification.objects.filter(channel="email")
    assert sends_beyond_attempts(smtp_sink.message_ids(), email_rows, key=message_id) == {}
    # The Message-ID is derived from the idempotency key: a retry carries the same one.
    assert {message_id(n) for n in email_rows} == {
        f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@steward>"
        for key in email_rows.values_list("idempotency_key", flat=True)
    }
    # The email has text and HTML parts and the acknowledge link.
    message = smtp_sink.messages[0]
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    body = message.get_body(preferencelist=("plain",)).get_content()
    ack_path = body.split(settings.SITE_URL, 1)[1].split()[0]
    assert ack_path.startswith("/notifications/ack/")

    # Page 0 is acknowledged from the email link (GET shows a form; POST acknowledges, signed out).
    client = Client()
    ack_path = next(
        line.split(settings.SITE_URL)[1].strip()
        for m in smtp_sink.messages
        if m["To"] == "owner0@example.com"
        for line in m.get_body(preferencelist=("plain",)).get_content().splitlines()
        if "/notifications/ack/" in line
    )
    assert client.get(ack_path).status_code == 200
    assert Page.objects.get(pk=pages[0].pk).state == "open"
    assert client.post(ack_path).status_code == 200
    assert Page.objects.get(pk=pages[0].pk).state == "acknowledged"
    assert client.post(ack_path).status_code == 200  # twice: harmless

    # The escalation timer comes due (the clock moved): page 1 and 2 escalate to the IT system's
    # contact; page 0, acknowledged, does not reach its backup.
    Page.objects.filter(state="open").update(
        next_escalation_at=timezone.now() - dt.timedelta(seconds=1)
    )
    Page.objects.filter(pk=pages[0].pk).update()  # untouched: no timer
    sweep()
    wait_for(all_sent, timeout=30, message="the escalation to be delivered")
    to = Counter(m["To"] for m in {m["Message-ID"]: m for m in smtp_sink.messages}.values())
    # One message for both escalated pages of the outage (one sweep, one person), listing both.
    assert to["it-duty@example.com"] == 1
    [escalated] = {
        m["Message-ID"]: m for m in smtp_sink.messages if m["To"] == "it-duty@example.com"
    }.values()
    assert "2 apps down: App 1, App 2" in escalated["Subject"]
    assert to["backup@example.com"] == 0
    assert sends_beyond_attempts(http_sink.keys(), http_rows) == {}
    assert sends_beyond_attempts(smtp_sink.message_ids(), email_rows, key=message_id) == {}


def test_held_notices_arrive_as_one_digest_at_the_start_of_working_hours(
    celery_worker, smtp_sink, http_sink
):
    celery_worker(smtp_port=smtp_sink.port, **FAST)
    now = timezone.now()
    # Someone whose working hours are never now: every weekday, one hour that is not this one.
    hour = (now.hour + 12) % 24
    hours = {
        d: [[f"{hour:02d}:00", f"{hour:02d}:30"]]
        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    away = PersonFactory(email="away@example.com", working_hours=hours)
    outage = outage_on(SystemFactory())
    with transaction.atomic():
        for topic in ("outage.updated.1", "outage.updated.2", "outage.resolved"):
            services.notices_send(
                event=outage_event(outage), topic=topic, recipients=[away], subject=topic, body="b"
            )
    assert Notification.objects.filter(state="held").count() == 3
    sweep()
    assert smtp_sink.messages == []
    # Their working day starts.
    Notification.objects.update(deliver_after=timezone.now())
    sweep()
    wait_for(lambda: len(smtp_sink.messages) >= 1 and all_sent(), timeout=20, message="the digest")
    [digest] = smtp_sink.messages
    assert digest["To"] == "away@example.com"
    assert "3 notices" in digest["Subject"]
    assert Notification.objects.filter(kind="notice", state="sent").count() == 3


def test_a_worker_killed_mid_fan_out_loses_nothing(celery_worker, smtp_sink, http_sink):
    worker = celery_worker(smtp_port=smtp_sink.port, **FAST)
    projects = build_projects(http_sink, 40, channels=("webhook",))
    for i in range(40):  # each receiver answers slowly, so the fan-out is still running
        http_sink.plan(f"/o{i}", [("sleep", 0.15)])
    open_pages(outage_on(SystemFactory()), projects)
    wait_for(lambda: len(http_sink.requests) >= 8, timeout=20, message="the fan-out to start")
    worker.kill()
    delivered_before = len(http_sink.requests)
    assert delivered_before < 40
    worker.start()
    wait_for(all_sent, timeout=60, while_waiting=sweep, interval=0.5, message="every page")
    expected = expected_keys("webhook")
    assert len(expected) == 40
    assert set(http_sink.keys()) == set(expected)  # none lost
    # Re-sent only what was in flight when the worker died (at most one per pool process); a
    # retry the row records as a failed attempt is not a re-send.
    resent = set(sends_beyond_attempts(http_sink.keys(), Notification.objects.all()))
    assert len(resent) <= 2
    assert all(n.attempts >= 2 for n in Notification.objects.filter(idempotency_key__in=resent))


def test_redis_flushed_mid_fan_out_loses_nothing_and_sends_nothing_twice(
    celery_worker, smtp_sink, http_sink
):
    celery_worker(smtp_port=smtp_sink.port, **FAST)
    projects = build_projects(http_sink, 40, channels=("webhook", "email"))
    for i in range(40):
        http_sink.plan(f"/o{i}", [("sleep", 0.1)])
    open_pages(outage_on(SystemFactory()), projects)
    wait_for(lambda: len(http_sink.requests) >= 5, timeout=20, message="the fan-out to start")
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # Redis restarted empty
    wait_for(all_sent, timeout=60, while_waiting=sweep, interval=0.5, message="every page")
    webhooks = Notification.objects.filter(channel="webhook")
    assert sends_beyond_attempts(http_sink.keys(), webhooks) == {}
    emails = Notification.objects.filter(channel="email")
    assert sends_beyond_attempts(smtp_sink.message_ids(), emails, key=message_id) == {}


def test_webhooks_answering_500_429_and_timing_out_are_each_delivered_once(
    celery_worker, smtp_sink, http_sink
):
    celery_worker(smtp_port=smtp_sink.port, **FAST)
    projects = build_projects(http_sink, 3, channels=("webhook",))
    http_sink.plan("/o0", [500, 502, 500])
    http_sink.plan("/o1", [(429, 2)])
    http_sink.plan("/o2", [("sleep", 1.5)])  # longer than the worker's 0.7 s read timeout
    started = timezone.now()
    open_pages(outage_on(SystemFactory()), projects)
    wait_for(all_sent, timeout=45, while_waiting=sweep, interval=0.5, message="every page")
    rows = {n.address.rsplit("/", 1)[1]: n for n in Notification.objects.all()}
    assert http_sink.accepted_keys() == expected_keys("webhook")  # each accepted exactly once
    assert http_sink.keys()[rows["o0"].idempotency_key] == 4
    assert [a.status_code for a in rows["o0"].attempts_made] == [
        500,
        502,
        500,
        200,
    ]
    # Retry-After: 2 s honoured.
    sends = [r.at for r in http_sink.requests if r.key == rows["o1"].idempotency_key]
    assert len(sends) == 2 and sends[1] - sends[0] >= 1.9
    assert "Timeout" in rows["o2"].attempt_log.first().error
    assert rows["o2"].sent_at > started


def test_smtp_down_for_a_while_then_every_email_arrives_once(celery_worker, smtp_sink, http_sink):
    celery_worker(smtp_port=smtp_sink.port, **FAST)
    smtp_sink.down()
    projects = build_projects(http_sink, 5, channels=("email",))
    open_pages(outage_on(SystemFactory()), projects)
    wait_for(
        lambda: Notification.objects.filter(attempts__gte=2).count() == 5,
        timeout=30,
        while_waiting=sweep,
        interval=0.3,
        message="failed attempts while SMTP is down",
    )
    assert Notification.objects.filter(state="sent").count() == 0
    smtp_sink.up()
    wait_for(all_sent, timeout=45, while_waiting=sweep, interval=0.5, message="every email")
    emails = Notification.objects.filter(channel="email")
    assert len(emails) == 5
    assert sends_beyond_attempts(smtp_sink.message_ids(), emails, key=message_id) == {}
    assert Notification.objects.filter(state="sent").count() == 5
