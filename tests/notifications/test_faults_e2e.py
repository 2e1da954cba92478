"""Faults, counted at real sinks: the SMTP server down for ten minutes in the middle of a fan-out
(with a controllable clock, so ten minutes take seconds), PostgreSQL restarted while messages are
on the wire, Redis restarted empty, a worker SIGKILLed.

- SMTP down: this process plays worker and beat with `now` moved 15 s a step, against a real
  aiosmtpd that is stopped and started again; every page must really go through it afterwards.
- PostgreSQL restart: a real worker; the test database refuses new connections and every
  connection to it but the test's own is terminated (what a restart does to the worker),
  while the receiver holds its answers; then connections are allowed again. Only this test run's
  database is touched.
- Redis restart: FLUSHDB and every client connection to this run's Redis database dropped.
- SIGKILL: the worker and its pool processes killed at once, mid fan-out.
"""

import datetime as dt
import json
import re
import time
from collections import Counter

import psycopg2
import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from incidents.events import outage_event
from incidents.models import Outage
from notifications import services
from notifications.channels import message_id
from notifications.models import Notification
from steward import health
from tests.e2e_support import wait_for
from tests.factories import SystemFactory

from .conftest import build_projects, sends_beyond_attempts

pytestmark = [pytest.mark.e2e]

FAST = {
    "STEWARD_RETRY_BASE_SECONDS": "0.3",
    "STEWARD_RETRY_MAX_SECONDS": "2",
    "STEWARD_LEASE_SECONDS": "4",
    "STEWARD_WEBHOOK_READ_TIMEOUT": "1.5",
    "STEWARD_RECORD_RETRY_SECONDS": "30",
}


@pytest.fixture
def fast_sweeper(settings):
    settings.STEWARD_REENQUEUE_AFTER_SECONDS = 1
    settings.STEWARD_LEASE_SECONDS = 4


def sweep():
    services.sweep(now=timezone.now())


def all_done() -> bool:
    return not Notification.objects.exclude(state__in=["sent", "cancelled", "failed"]).exists()


def open_pages(projects, *, now=None):
    outage = Outage.objects.create(title="Core database down")
    outage.systems.set([SystemFactory()])
    event = outage_event(outage)
    with transaction.atomic():
        for project in projects:
            services.pages_open(
                event=event,
                project=project,
                subject=f"Core database down: {project.name}",
                body="Investigating.",
                now=now,
            )


# --- SMTP down for ten minutes, on a controllable clock ----------------------------------------


@pytest.mark.django_db
class TestSmtpDownForTenMinutes:
    PROJECTS = 60
    SENT_BEFORE = 16  # the fan-out is under way when the mail server goes away
    STEP = dt.timedelta(seconds=15)

    @pytest.fixture(autouse=True)
    def _settings(self, settings, smtp_sink):
        settings.STEWARD_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = smtp_sink.port
        settings.EMAIL_TIMEOUT = 2
        settings.STEWARD_RETRY_BASE_SECONDS = 5
        settings.STEWARD_PAGE_RETRY_MAX_SECONDS = 60
        settings.STEWARD_ESCALATION_DELAY_SECONDS = 3600  # no escalation in these 15 minutes
        settings.STEWARD_REENQUEUE_AFTER_SECONDS = 30

    @staticmethod
    def send_due(now, limit=None):
        """What the workers do at `now`: send every due row, 16 to a claim."""
        ids = list(
            Notification.objects.filter(state="pending").order_by("pk").values_list("pk", flat=True)
        )[:limit]
        for start in range(0, len(ids), 16):
            services.notifications_send(notification_ids=ids[start : start + 16], now=now)

    def test_every_page_arrives_once_when_the_mail_server_comes_back(self, smtp_sink, http_sink):
        projects = build_projects(http_sink, self.PROJECTS, channels=("email",))
        start = timezone.now()
        open_pages(projects, now=start)
        self.send_due(start, limit=self.SENT_BEFORE)
        assert len(smtp_sink.messages) == self.SENT_BEFORE

        smtp_sink.down()
        now, degraded_seen = start, False
        while now < start + dt.timedelta(minutes=10):
            services.sweep(now=now)
            self.send_due(now)
            degraded_seen |= "email" in health.degraded_channels()
            now += self.STEP
        waiting = Notification.objects.filter(state="pending")
        assert waiting.count() == self.PROJECTS - self.SENT_BEFORE  # none given up on
        # More attempts than the old budget of five, spaced minutes apart at most.
        assert min(waiting.values_list("attempts", flat=True)) > 5
        assert degraded_seen  # IT saw the mail channel fail (banner, /healthz, /metrics)
        assert len(smtp_sink.messages) == self.SENT_BEFORE

        smtp_sink.up()
        while not all_done() and now < start + dt.timedelta(minutes=15):
            services.sweep(now=now)
            self.send_due(now)
            now += self.STEP
        assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
        # Counted at the mail server: every page, each once.
        expected = Counter(message_id(n) for n in Notification.objects.all())
        assert len(expected) == self.PROJECTS
        assert smtp_sink.message_ids() == expected
        # Sent within a minute and a half of the server's return (the backoff's cap plus a step).
        assert now - (start + dt.timedelta(minutes=10)) <= dt.timedelta(seconds=90)
        assert "email" not in health.degraded_channels()


# --- a real worker: PostgreSQL restarted, Redis restarted empty, SIGKILL ----------------------


def _admin_connection():
    """A connection to the server's maintenance database (not the test database)."""
    db = connection.settings_dict
    return psycopg2.connect(
        dbname="postgres",
        user=db["USER"],
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        password=db["PASSWORD"] or None,
    )


def postgres_restart(*, down_seconds: float) -> int:
    """What a restart does to every other client of the test database: their connections are
    cut, and new ones refused for `down_seconds`. Returns how many were cut."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [own] = cursor.fetchone()
    admin = _admin_connection()
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> %s",
                [name, own],
            )
            [cut] = cursor.fetchone()
            time.sleep(down_seconds)
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        admin.close()
    return cut


def redis_restart_empty() -> int:
    """FLUSHDB and drop every client connected to this run's Redis database (the worker's
    broker and health connections), as a restart without persistence would."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    own = str(client.client_id())
    db = str(client.connection_pool.connection_kwargs.get("db", 0))
    killed = 0
    for info in client.client_list():
        if str(info.get("db")) == db and str(info["id"]) != own:
            killed += client.client_kill_filter(_id=info["id"])
    return killed


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast_sweeper")
class TestARealWorkerOutlastsFaults:
    def test_postgres_restarted_mid_delivery_sends_nothing_twice(
        self, celery_worker, smtp_sink, http_sink
    ):
        worker = celery_worker(smtp_port=smtp_sink.port, **FAST)
        projects = build_projects(http_sink, 30, channels=("webhook", "email"))
        for i in range(30):  # each receiver holds its answer: messages are on the wire
            http_sink.plan(f"/o{i}", [("sleep", 0.4)])
        open_pages(projects)
        wait_for(lambda: len(http_sink.requests) >= 4, timeout=30, message="the fan-out")
        cut = postgres_restart(down_seconds=2.5)
        assert cut >= 1  # the worker's connections
        wait_for(all_done, timeout=90, while_waiting=sweep, interval=0.5, message="every page")
        assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
        # Counted at the receivers: every page, none twice (but for a retry its row records as
        # a failed attempt: the receiver took longer than the worker's read timeout).
        webhooks = Notification.objects.filter(channel="webhook")
        assert sends_beyond_attempts(http_sink.keys(), webhooks) == {}
        emails = Notification.objects.filter(channel="email")
        assert sends_beyond_attempts(smtp_sink.message_ids(), emails, key=message_id) == {}
        # The fault did hit a message between its send and its record: the worker waited for the
        # database to record it, or left it to the sent journal for whoever took it next.
        assert re.search(
            "recorded as sent after the database came back|left to the sent journal", worker.log()
        )

    def test_redis_restarted_empty_mid_delivery_loses_nothing(
        self, celery_worker, smtp_sink, http_sink
    ):
        celery_worker(smtp_port=smtp_sink.port, **FAST)
        projects = build_projects(http_sink, 30, channels=("webhook", "email"))
        for i in range(30):
            http_sink.plan(f"/o{i}", [("sleep", 0.1)])
        open_pages(projects)
        wait_for(lambda: len(http_sink.requests) >= 5, timeout=30, message="the fan-out")
        assert redis_restart_empty() >= 1
        wait_for(all_done, timeout=90, while_waiting=sweep, interval=0.5, message="every page")
        assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
        webhooks = Notification.objects.filter(channel="webhook")
        assert sends_beyond_attempts(http_sink.keys(), webhooks) == {}
        emails = Notification.objects.filter(channel="email")
        assert sends_beyond_attempts(smtp_sink.message_ids(), emails, key=message_id) == {}

    def test_a_worker_killed_repeats_at_most_what_was_in_flight_with_its_keys(
        self, celery_worker, smtp_sink, http_sink
    ):
        worker = celery_worker(smtp_port=smtp_sink.port, **FAST)
        projects = build_projects(http_sink, 40, channels=("webhook", "email"))
        for i in range(40):
            http_sink.plan(f"/o{i}", [("sleep", 0.15)])
        open_pages(projects)
        wait_for(lambda: len(http_sink.requests) >= 8, timeout=30, message="the fan-out")
        worker.kill()
        # In flight: rows taken by the dead worker and not recorded (at most one a process is
        # actually on the wire).
        in_flight = set(
            Notification.objects.filter(state="sending").values_list("idempotency_key", flat=True)
        )
        first = {}
        for request in list(http_sink.requests):
            first.setdefault(request.key, request)
        worker.start()
        wait_for(all_done, timeout=90, while_waiting=sweep, interval=0.5, message="every page")
        assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
        emails = Notification.objects.filter(channel="email")
        email_keys = {message_id(n): n.idempotency_key for n in emails}
        # Repeats: messages sent more often than their rows record attempts (a retry after a
        # read timeout is an attempt its row records).
        webhooks = Notification.objects.filter(channel="webhook")
        repeated = set(sends_beyond_attempts(http_sink.keys(), webhooks)) | {
            email_keys[m]
            for m in sends_beyond_attempts(smtp_sink.message_ids(), emails, key=message_id)
        }
        # No more repeats than messages in flight (one per pool process), each among them.
        assert len(repeated) <= 2
        assert repeated <= in_flight

        # Each repeat carries its original key and the same document (its acknowledge link is
        # signed afresh: only its timestamp differs).
        def document(request):
            body = json.loads(request.body)
            body.pop("ack_url")
            return body

        for request in http_sink.requests:
            if request.key in repeated and request is not first[request.key]:
                assert document(request) == document(first[request.key])
                assert document(request)["idempotency_key"] == request.key
