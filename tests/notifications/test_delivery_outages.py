"""Delivery that outlasts outages, with a controllable clock: pages retried until acknowledged or
superseded, notices for hours, fallback only to methods chosen for the kind of message, one row's
error kept to that row, a sent message recorded across a lost database connection, and a channel
that keeps failing shown to IT (banner, /healthz, /metrics, a notice over another channel)."""

import datetime as dt
import functools
import os
import signal
import smtplib
import subprocess
import sys
from email.errors import HeaderParseError

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.mail import BadHeaderError
from django.db import InterfaceError, OperationalError, transaction
from django.test import override_settings
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from integrations.metrics import metrics_text
from notifications import channels, services
from notifications.models import DeliveryAttempt, Notification, Page
from notifications.services import sending
from registry.models import ContactMethod, ProjectRole
from steward import health
from tests.e2e_support import free_port
from tests.factories import (
    ContactMethodFactory,
    ProjectFactory,
    ProjectRoleFactory,
    it_staff_user,
)

from .conftest import MONDAY_10, person_with

pytestmark = pytest.mark.django_db
SEC = dt.timedelta(seconds=1)

# A process that writes one note (argv: the directory, the notes' format and capacity, then the
# note's four numbers) in its sent journal, as a batch does once a message went out, and waits
# to be killed.
_NOTE_AND_WAIT = """
import struct, sys, time
from pathlib import Path
from steward import local_journal
directory, layout, capacity, *note = sys.argv[1:]
journal = local_journal.for_thread(Path(directory), struct.Struct(layout), int(capacity))
journal.note(*map(int, note))
print("noted", flush=True)
time.sleep(60)
"""


def open_page(event, project, *people, subject="Core database down"):
    for role, person in zip(
        [ProjectRole.Role.OWNER, ProjectRole.Role.BACKUP], people, strict=False
    ):
        ProjectRoleFactory(project=project, person=person, role=role)
    return services.pages_open(
        event=event, project=project, subject=subject, body="b", link="", now=MONDAY_10
    )


def dead_url() -> str:
    """A webhook nobody listens on: the connection is refused (a transient error)."""
    return f"http://127.0.0.1:{free_port()}/dead"


# --- pages: retried until acknowledged or superseded, with a backoff in minutes ---------------


def two_apps_paged_together(event, http_sink):
    """Wiki and Billing, both owned by one person with a backup (each reachable by webhook),
    paged in one call: the owner gets one message listing both pages."""
    owner = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/o"), True, True))
    backup = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/b"), True, True))
    projects = [ProjectFactory(name=name) for name in ("Wiki", "Billing")]
    for project in projects:
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        ProjectRoleFactory(project=project, person=backup, role=ProjectRole.Role.BACKUP)
    wiki, billing = services.pages_open_many(
        event=event,
        requests=[services.PageRequest(p, f"Down: {p.name}", "") for p in projects],
        headline="Core database down",
        now=MONDAY_10,
    )
    return owner, backup, wiki, billing


class TestAPageOutlastsAnOutage:
    @pytest.fixture(autouse=True)
    def _settings(self, settings):
        settings.STEWARD_RETRY_BASE_SECONDS = 5
        settings.STEWARD_RETRY_MAX_SECONDS = 600
        settings.STEWARD_PAGE_RETRY_MAX_SECONDS = 60
        settings.STEWARD_DELIVERY_MAX_ATTEMPTS = 5
        settings.STEWARD_ESCALATION_DELAY_SECONDS = 3600

    def test_a_page_is_retried_past_any_attempt_limit_with_a_backoff_in_minutes(
        self, event, project
    ):
        owner = person_with((ContactMethod.Kind.WEBHOOK, dead_url(), True, True))
        open_page(event, project, owner)
        [row] = Notification.objects.filter(kind="page")
        now = MONDAY_10
        for _ in range(12):  # more than twice STEWARD_DELIVERY_MAX_ATTEMPTS
            assert services.notification_send(notification_id=row.pk, now=now) == "retry"
            row.refresh_from_db()
            delay = (row.next_attempt_at - now).total_seconds()
            assert 0 < delay <= 60
            now = row.next_attempt_at
        assert (row.state, row.attempts) == ("pending", 12)
        # 12 attempts took minutes, not hours.
        assert now - MONDAY_10 < dt.timedelta(minutes=12)

    def test_an_acknowledged_page_is_not_retried(self, event, project, http_sink):
        owner = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/o"), True, True))
        http_sink.plan("/o", [503])
        page = open_page(event, project, owner)
        [row] = Notification.objects.filter(kind="page")
        assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "retry"
        services.page_ack(page=page, person=owner, via="web", now=MONDAY_10 + SEC)
        row.refresh_from_db()
        later = MONDAY_10 + dt.timedelta(minutes=5)
        assert services.notification_send(notification_id=row.pk, now=later) == "skipped"
        assert row.state == "cancelled"
        assert len(http_sink.requests) == 1

    def test_a_page_superseded_by_its_next_level_is_not_retried(self, event, project, http_sink):
        owner = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/o"), True, True))
        backup = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/b"), True, True))
        http_sink.plan("/o", [503, 503])
        page = open_page(event, project, owner, backup)
        [row] = Notification.objects.filter(kind="page", recipient=owner)
        assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "retry"
        # The escalation timer comes due: the backup's level has the page now.
        due = Page.objects.get(pk=page.pk).next_escalation_at
        services.sweep(now=due)
        assert Notification.objects.filter(kind="page", recipient=backup).exists()
        row.refresh_from_db()
        assert services.notification_send(notification_id=row.pk, now=due + SEC) == "cancelled"
        row.refresh_from_db()
        assert row.state == "cancelled"
        assert "Superseded" in row.last_error
        assert [r.path for r in http_sink.requests].count("/o") == 1

    def test_a_page_that_fails_as_its_level_is_superseded_stops(self, event, project, http_sink):
        owner = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/o"), True, True))
        backup = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/b"), True, True))
        http_sink.plan("/o", [503])
        page = open_page(event, project, owner, backup)
        [row] = Notification.objects.filter(kind="page", recipient=owner)
        # The page escalates while its first attempt is on the wire.
        row = services.notification_claim(notification_id=row.pk, now=MONDAY_10)
        services.sweep(now=Page.objects.get(pk=page.pk).next_escalation_at)
        assert sending._send_claimed(row, now=MONDAY_10) == "cancelled"
        assert not Notification.objects.filter(fallback_of=row).exists()

    def test_a_message_listing_several_pages_retries_while_one_is_open_and_not_escalated(
        self, event, http_sink
    ):
        """One message lists two apps' pages: acknowledging one while the message is on the wire
        does not stop the retry (the other is still open), escalating only one does not either;
        once both have escalated (their next level has them), it stops."""
        owner, backup, wiki, billing = two_apps_paged_together(event, http_sink)
        [row] = Notification.objects.filter(recipient=owner)
        assert sorted(row.page_ids) == sorted([wiki.pk, billing.pk])
        http_sink.plan("/o", [503, 503, 503])

        # Wiki is acknowledged while the first attempt is on the wire.
        claimed = services.notification_claim(notification_id=row.pk, now=MONDAY_10)
        services.page_ack(page=Page.objects.get(pk=row.page_id), person=None, via="web")
        assert sending._send_claimed(claimed, now=MONDAY_10) == "retry"
        row.refresh_from_db()
        assert row.state == "pending"
        assert Page.objects.get(pk=row.page_id).state == "open"  # it points at the open one

        # Only Billing is left; it escalates: its next level has it, the retry stops.
        now = row.next_attempt_at
        still_open = Page.objects.get(pk=row.page_id)
        services.sweep(now=still_open.next_escalation_at)
        [next_level] = Notification.objects.filter(recipient=backup)
        assert next_level.page_ids == [still_open.pk]
        assert services.notification_send(notification_id=row.pk, now=now) == "cancelled"
        row.refresh_from_db()
        assert "Superseded" in row.last_error
        assert [r.path for r in http_sink.requests].count("/o") == 1

    def test_a_message_is_not_superseded_while_one_of_its_pages_has_not_escalated(
        self, event, http_sink
    ):
        owner, backup, wiki, billing = two_apps_paged_together(event, http_sink)
        [row] = Notification.objects.filter(recipient=owner)
        http_sink.plan("/o", [503, 503])
        assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "retry"
        # Billing's timer is later (its policy waits longer): only Wiki escalates now.
        due = Page.objects.get(pk=wiki.pk).next_escalation_at
        Page.objects.filter(pk=billing.pk).update(next_escalation_at=due + dt.timedelta(hours=1))
        services.sweep(now=due)
        assert services.notification_send(notification_id=row.pk, now=due + SEC) == "retry"
        assert [r.path for r in http_sink.requests].count("/o") == 2

    @pytest.mark.parametrize(
        "other_kind, other_address",
        [
            (ContactMethod.Kind.SMS, "+15550101"),
            (ContactMethod.Kind.SLACK, "https://hooks.slack.test/x"),
            (ContactMethod.Kind.EMAIL, "pager@example.com"),
        ],
    )
    def test_a_page_that_keeps_failing_falls_over_only_to_a_method_chosen_for_pages(
        self, event, project, other_kind, other_address
    ):
        owner = person_with(
            (ContactMethod.Kind.WEBHOOK, dead_url(), True, True),
            (ContactMethod.Kind.EMAIL, "not-for-pages@example.com", False, True),
            email="account@example.com",
        )
        open_page(event, project, owner)
        [row] = Notification.objects.filter(kind="page")
        # A method for pages added since the page went out: the one it may fall over to.
        ContactMethodFactory(
            person=owner, kind=other_kind, address=other_address, for_pages=True, order=5
        )
        now = MONDAY_10
        for attempt in range(1, 6):
            assert services.notification_send(notification_id=row.pk, now=now) == "retry"
            fallbacks = list(Notification.objects.filter(fallback_of=row))
            # Falls over after STEWARD_PAGE_FALLBACK_AFTER_ATTEMPTS (3), once, and keeps trying.
            assert len(fallbacks) == (1 if attempt >= 3 else 0)
            row.refresh_from_db()
            now = row.next_attempt_at
        [fallback] = fallbacks
        assert (fallback.channel, fallback.address, fallback.kind) == (
            services.CHANNEL_OF_KIND[other_kind],
            other_address,
            "page",
        )
        assert not Notification.objects.filter(address="not-for-pages@example.com").exists()
        assert not Notification.objects.filter(address="account@example.com").exists()

    def test_a_page_falls_over_to_nothing_when_no_other_method_is_for_pages(self, event, project):
        owner = person_with(
            (ContactMethod.Kind.WEBHOOK, "http://hook.test/refused", True, True),
            (ContactMethod.Kind.EMAIL, "not-for-pages@example.com", False, True),
            (ContactMethod.Kind.SMS, "+15550102", False, False),
            email="account@example.com",
        )
        open_page(event, project, owner)
        [row] = Notification.objects.filter(kind="page")
        row = services.notification_claim(notification_id=row.pk, now=MONDAY_10)
        refused = channels.PermanentError("HTTP 410: gone", status_code=410)
        assert sending._failed(row, refused, started=MONDAY_10, latency=1, now=MONDAY_10) == (
            "failed"
        )
        assert Notification.objects.count() == 1


# --- notices: a retry budget in hours -------------------------------------------------------


class TestANoticeRetriesForHours:
    @pytest.fixture(autouse=True)
    def _settings(self, settings):
        settings.STEWARD_RETRY_BASE_SECONDS = 5
        settings.STEWARD_RETRY_MAX_SECONDS = 600
        settings.STEWARD_NOTICE_RETRY_HOURS = 12
        settings.STEWARD_DELIVERY_MAX_ATTEMPTS = 1000

    @pytest.mark.parametrize("held_hours", [0, 30])
    def test_a_notice_is_retried_for_its_budget_from_when_it_was_due_then_fails(
        self, event, held_hours
    ):
        person = person_with((ContactMethod.Kind.WEBHOOK, dead_url(), True, True))
        [row] = services.notices_send(
            event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
        )
        due = MONDAY_10 + dt.timedelta(hours=held_hours)
        Notification.objects.filter(pk=row.pk).update(deliver_after=due)
        now = due
        while now < due + dt.timedelta(hours=12):
            assert services.notification_send(notification_id=row.pk, now=now) == "retry"
            row.refresh_from_db()
            assert (row.next_attempt_at - now).total_seconds() <= 600
            now = row.next_attempt_at
        assert row.attempts > 60  # an hour's worth at the 10-minute cap, and then some
        assert services.notification_send(notification_id=row.pk, now=now) == "failed"
        row.refresh_from_db()
        assert row.state == "failed"
        assert "12 hours" in row.last_error

    def test_an_hour_of_failures_is_well_within_the_budget(self, event):
        person = person_with((ContactMethod.Kind.WEBHOOK, dead_url(), True, True))
        [row] = services.notices_send(
            event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
        )
        now = MONDAY_10 + dt.timedelta(hours=11, minutes=59)
        assert services.notification_send(notification_id=row.pk, now=now) == "retry"

    @override_settings(STEWARD_DELIVERY_MAX_ATTEMPTS=4)
    def test_a_notice_taken_again_past_its_attempt_limit_fails_unsent(self, event, http_sink):
        """A row whose worker died sending it each time (its lease ran out) is not taken again
        and again: past the attempt limit it fails without being sent."""
        person = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/p"), True, True))
        [row] = services.notices_send(
            event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
        )
        Notification.objects.filter(pk=row.pk).update(
            state="sending",
            attempts=4,
            lease_token="gone",  # nosec B106
            lease_expires_at=MONDAY_10 - SEC,
        )
        assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "failed"
        row.refresh_from_db()
        assert (row.state, row.attempts) == ("failed", 5)
        assert http_sink.requests == []


# --- one row's error is that row's alone ------------------------------------------------------


class ProviderError(Exception):
    """What a provider's own library raises (not one of the channel's errors)."""


ROW_ERRORS = [
    (BadHeaderError("Header values can't contain newlines ('Core\\ndown')"), "failed"),
    (HeaderParseError("bad header"), "failed"),
    (ProviderError("Twilio said 21211"), "failed"),
    (KeyError("project"), "failed"),
    (ValueError("bug"), "failed"),
    (smtplib.SMTPServerDisconnected("gone"), "retry"),
    (ConnectionResetError("reset"), "retry"),
    (channels.TransientError("HTTP 503", status_code=503), "retry"),
    (channels.PermanentError("HTTP 404", status_code=404), "failed"),
]


def _delivering(monkeypatch, deliver, *, when: str = "sent") -> None:
    """Each row's delivery is `deliver(row)`: called when the row is sent, or, `when="made
    ready"`, when the batch makes its messages ready (`channels.prepare`), before any is sent."""

    def made_ready(notification):
        status = deliver(notification)
        return lambda: status

    if when == "sent":
        monkeypatch.setattr(channels, "prepare", lambda n: functools.partial(deliver, n))
    else:
        monkeypatch.setattr(channels, "prepare", made_ready)


class TestOneRowsErrorStaysItsOwn:
    @pytest.fixture
    def batch(self, event):
        """Two people, each reachable by email, webhook and SMS (for notices): six rows."""
        sick = person_with(
            (ContactMethod.Kind.EMAIL, "sick@example.com", True, True),
            (ContactMethod.Kind.WEBHOOK, "http://hook.test/sick", True, True),
            (ContactMethod.Kind.SMS, "+15550103", True, True),
        )
        well = person_with(
            (ContactMethod.Kind.EMAIL, "well@example.com", True, True),
            (ContactMethod.Kind.WEBHOOK, "http://hook.test/well", True, True),
            (ContactMethod.Kind.SMS, "+15550104", True, True),
        )
        rows = services.notices_send(
            event=event,
            topic="t",
            recipients=[sick, well],
            subject="Core\ndown",
            body="",
            now=MONDAY_10,
        )
        assert len(rows) == 6
        return rows, sick

    @pytest.mark.parametrize("when", ["sent", "made ready"])
    @pytest.mark.parametrize("channel", ["email", "webhook", "sms"])
    @pytest.mark.parametrize("error, outcome", ROW_ERRORS, ids=lambda e: type(e).__name__)
    def test_the_row_fails_or_retries_alone_and_the_batch_is_sent(
        self, batch, monkeypatch, channel, error, outcome, when
    ):
        rows, sick_person = batch
        delivered = []

        def deliver(notification):
            if notification.channel == channel and notification.recipient_id == sick_person.pk:
                raise error
            delivered.append(notification.pk)
            return 200

        _delivering(monkeypatch, deliver, when=when)
        ids = sorted(n.pk for n in rows)
        result = services.notifications_send(notification_ids=ids, now=MONDAY_10)
        assert result == {"skipped": 0, "sent": 5, outcome: 1}
        sick = Notification.objects.get(channel=channel, recipient=sick_person)
        assert sorted(delivered) == sorted(set(ids) - {sick.pk})
        assert sick.state == ("pending" if outcome == "retry" else "failed")
        assert sick.attempts == 1
        assert type(error).__name__ in sick.last_error or str(error) in sick.last_error
        assert sick.attempt_log.get().outcome == outcome
        # Not taken again before its time; never left `sending` to be re-taken each lease.
        again = services.notifications_send(notification_ids=ids, now=MONDAY_10 + SEC)
        assert again == {"skipped": 6}

    @pytest.mark.parametrize("where", ["fall_back", "record"])
    def test_a_bug_in_the_bookkeeping_of_one_row_fails_that_row_only(
        self, batch, monkeypatch, where
    ):
        rows, _ = batch
        first = min(n.pk for n in rows)

        def deliver(notification):
            if where == "fall_back" and notification.pk == first:
                raise channels.PermanentError("refused")
            return 200

        def broken_fall_back(**kwargs):
            raise RuntimeError("bug in fall back")

        real_mark_sent = sending._mark_sent

        def broken_mark_sent(delivered):
            if any(d.notification.pk == first for d in delivered):
                raise RuntimeError("bug in record")
            return real_mark_sent(delivered)

        _delivering(monkeypatch, deliver)
        monkeypatch.setattr(sending, "notification_fall_back", broken_fall_back)
        monkeypatch.setattr(sending, "_mark_sent", broken_mark_sent)
        result = services.notifications_send(notification_ids=[n.pk for n in rows], now=MONDAY_10)
        assert result == {"skipped": 0, "failed": 1, "sent": 5}
        row = Notification.objects.get(pk=first)
        assert row.state == "failed"
        assert "bug in" in row.last_error

    @pytest.mark.parametrize("when", ["sent", "made ready"])
    def test_the_tasks_time_limit_is_not_taken_for_a_row_failure(self, batch, monkeypatch, when):
        """Celery's soft time limit stops the task: the row it hit is not marked failed (it may
        have gone out), it waits for its lease like the rest of the batch."""
        rows, _ = batch

        def deliver(notification):
            raise SoftTimeLimitExceeded()

        _delivering(monkeypatch, deliver, when=when)
        with pytest.raises(SoftTimeLimitExceeded):
            services.notifications_send(notification_ids=[n.pk for n in rows], now=MONDAY_10)
        assert set(Notification.objects.values_list("state", flat=True)) == {"sending"}
        assert not DeliveryAttempt.objects.exists()

    def test_a_real_title_with_a_line_break_never_stalls_the_outage(self, event, project):
        """Whatever the mail library makes of a title with a line break (refused, or folded by
        a fix elsewhere), every page of the outage ends sent or failed, none `sending`."""
        people = [
            person_with((ContactMethod.Kind.EMAIL, f"p{i}@example.com", True, True))
            for i in range(3)
        ]
        for person in people:
            ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.OWNER)
        services.pages_open(
            event=event,
            project=project,
            subject="Monitor says:\nCore database down\r\nBcc: x@example.com",
            body="b",
            now=MONDAY_10,
        )
        ids = list(Notification.objects.values_list("pk", flat=True))
        result = services.notifications_send(notification_ids=ids, now=MONDAY_10)
        assert sum(result.values()) == 3
        assert not Notification.objects.filter(state="sending").exists()
        for message in mail.outbox:
            assert "x@example.com" not in message.bcc


# --- a sent message is recorded, not sent again -----------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestASentMessageIsRecorded:
    @pytest.fixture
    def row(self, event, http_sink):
        person = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/p"), True, True))
        with transaction.atomic():
            [row] = services.notices_send(
                event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
            )
        return row

    @pytest.mark.parametrize("error", [OperationalError, InterfaceError])
    def test_the_record_is_retried_across_a_lost_connection(
        self, row, http_sink, monkeypatch, error
    ):
        real = sending._mark_sent
        journal = []

        def flaky(delivered):
            journal.append(sending._journal_read(delivered[0].notification.pk))
            if len(journal) <= 3:
                raise error("server closed the connection unexpectedly")
            return real(delivered)

        monkeypatch.setattr(sending, "_mark_sent", flaky)
        assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "sent"
        row.refresh_from_db()
        assert row.state == "sent"
        assert len(http_sink.requests) == 1
        # Noted in the journal from the first failure on, and struck off once recorded.
        assert journal[0] is None and all(entry is not None for entry in journal[1:])
        assert sending._journal_read(row.pk) is None

    def test_a_row_taken_again_after_its_record_was_lost_is_recorded_not_resent(
        self, row, http_sink, monkeypatch, settings
    ):
        settings.STEWARD_RECORD_RETRY_SECONDS = 0.2

        def down(delivered):
            raise OperationalError("the database system is shutting down")

        monkeypatch.setattr(sending, "_mark_sent", down)
        with pytest.raises(OperationalError):
            services.notification_send(notification_id=row.pk, now=MONDAY_10)
        assert len(http_sink.requests) == 1
        assert sending._journal_read(row.pk) is not None
        monkeypatch.undo()
        # The lease runs out; a worker takes the row again: recorded from the journal.
        later = MONDAY_10 + dt.timedelta(seconds=settings.STEWARD_LEASE_SECONDS + 1)
        assert services.notification_send(notification_id=row.pk, now=later) == "sent"
        row.refresh_from_db()
        assert row.state == "sent"
        assert len(http_sink.requests) == 1
        assert sending._journal_read(row.pk) is None

    @pytest.mark.parametrize("found_by", ["taking the row again", "the sweeper"])
    def test_what_a_killed_process_noted_on_this_host_is_recorded_not_resent(
        self, row, http_sink, settings, found_by
    ):
        """A worker process sends a row and is SIGKILLed before its batch is recorded: its note
        is in this host's journal only. Whoever takes the row again, or the sweeper, finds it
        there and records the send instead of sending again."""
        [claimed] = services.notifications_claim(notification_ids=[row.pk], now=MONDAY_10)
        started = MONDAY_10 + dt.timedelta(microseconds=123)
        note = sending._note(sending.Delivered(claimed, started=started, latency=12, status=202))
        directory = sending._local_journal_directory()
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _NOTE_AND_WAIT,
                str(directory),
                sending._NOTE.format,
                str(sending._NOTE_CAPACITY),
                *map(str, note),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout.readline().strip() == "noted"
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
        later = MONDAY_10 + dt.timedelta(seconds=settings.STEWARD_LEASE_SECONDS + 1)
        if found_by == "the sweeper":
            assert services.sweep(now=later).recorded == 1
        else:
            assert services.notification_send(notification_id=row.pk, now=later) == "sent"
        assert http_sink.requests == []
        row.refresh_from_db()
        assert row.state == "sent"
        [attempt] = row.attempts_made
        assert (attempt.started_at, attempt.latency_ms, attempt.status_code) == (started, 12, 202)
        assert not row.attempt_log.exists()  # the attempt that went through is on the row
        assert sending._journal_read(row.pk) is None
        assert list(directory.glob(f"{writer.pid}-*")) == []

    def test_the_sweeper_records_what_the_journal_holds(
        self, row, http_sink, monkeypatch, settings
    ):
        settings.STEWARD_RECORD_RETRY_SECONDS = 0.2

        def down(delivered):
            raise OperationalError("the database system is starting up")

        monkeypatch.setattr(sending, "_mark_sent", down)
        with pytest.raises(OperationalError):
            services.notification_send(notification_id=row.pk, now=MONDAY_10)
        monkeypatch.undo()
        # While its worker's lease runs, the row is that worker's to record.
        assert services.sweep(now=MONDAY_10 + SEC).recorded == 0
        expired = MONDAY_10 + dt.timedelta(seconds=settings.STEWARD_LEASE_SECONDS + 1)
        assert services.sweep(now=expired).recorded == 1
        row.refresh_from_db()
        assert row.state == "sent"
        assert [a.outcome for a in row.attempts_made] == [DeliveryAttempt.Outcome.SENT]
        assert services.sweep(now=expired + SEC).recorded == 0
        # Nothing is due: the stale-row sweep does not send it again.
        later = MONDAY_10 + dt.timedelta(minutes=10)
        services.sweep(now=later)
        assert services.notification_send(notification_id=row.pk, now=later) == "skipped"
        assert len(http_sink.requests) == 1


# --- a channel that keeps failing is shown to IT ----------------------------------------------


class TestAFailingChannelIsShownToIT:
    @pytest.fixture(autouse=True)
    def _settings(self, settings):
        settings.STEWARD_CHANNEL_DEGRADED_AFTER = 6

    @pytest.fixture
    def failing_webhooks(self, event):
        """Three people whose webhooks are refused, each tried twice: six failures in a row over
        three addresses."""
        people = [
            person_with((ContactMethod.Kind.WEBHOOK, dead_url(), True, True)) for _ in range(3)
        ]
        rows = services.notices_send(
            event=event, topic="t", recipients=people, subject="s", body="", now=MONDAY_10
        )
        for row in rows:
            services.notification_send(notification_id=row.pk, now=MONDAY_10)
            row.refresh_from_db()
            services.notification_send(notification_id=row.pk, now=row.next_attempt_at)
        return rows

    @pytest.fixture
    def it_person(self):
        user = it_staff_user(email="it@example.com")
        ContactMethodFactory(
            person=user.person, kind="webhook", address="http://hook.test/it", order=0
        )
        ContactMethodFactory(
            person=user.person, kind="email", address="it-mail@example.com", order=1
        )
        return user

    def test_healthz_shows_the_channel_degraded(self, client, failing_webhooks):
        response = client.get("/healthz")
        assert response.status_code == 503
        report = response.json()
        assert report["status"] == "degraded"
        webhook = report["channels"]["failing"]["webhook"]
        assert webhook["status"] == "degraded"
        assert webhook["consecutive_failures"] == 6
        assert "connect" in webhook["last_error"].lower()

    def test_a_success_ends_the_run(self, client, failing_webhooks):
        health.channel_success_record("webhook")
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["channels"] == {"status": "ok", "failing": {}}

    def test_one_dead_receiver_is_not_the_channel(self, client, event):
        person = person_with((ContactMethod.Kind.WEBHOOK, dead_url(), True, True))
        [row] = services.notices_send(
            event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
        )
        now = MONDAY_10
        for _ in range(8):
            services.notification_send(notification_id=row.pk, now=now)
            row.refresh_from_db()
            now = row.next_attempt_at
        report = client.get("/healthz").json()["channels"]
        assert report["status"] == "ok"
        assert report["failing"]["webhook"]["consecutive_failures"] == 8

    def test_metrics_show_the_channel_degraded(self, failing_webhooks):
        text = metrics_text().decode()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        degraded = {
            s.labels["channel"]: s.value for s in families["steward_channel_degraded"].samples
        }
        failures = {
            s.labels["channel"]: s.value
            for s in families["steward_channel_consecutive_failures"].samples
        }
        assert degraded["webhook"] == 1 and degraded["email"] == 0
        assert failures["webhook"] == 6 and failures["sms"] == 0

    def test_it_staff_see_a_banner_and_others_do_not(self, client, failing_webhooks, it_person):
        from tests.factories import PersonFactory

        url = reverse("registry:directory")
        client.force_login(it_person)
        assert "Delivery is failing over webhook" in client.get(url).content.decode()
        client.force_login(PersonFactory().user)
        assert "Delivery is failing" not in client.get(url).content.decode()
        health.channel_success_record("webhook")
        client.force_login(it_person)
        assert "Delivery is failing" not in client.get(url).content.decode()

    def test_only_it_staff_pages_ask_redis_for_the_banner(
        self, client, failing_webhooks, it_person, monkeypatch
    ):
        """Whether the reader is IT staff comes with their account; everyone else's page asks
        Redis nothing for a banner they would not be shown."""
        from notifications import context_processors
        from tests.factories import PersonFactory

        asked = []

        def degraded_channels():
            asked.append(True)
            return health.degraded_channels()

        monkeypatch.setattr(context_processors, "degraded_channels", degraded_channels)
        url = reverse("registry:directory")
        client.force_login(PersonFactory().user)
        assert client.get(url).status_code == 200
        assert asked == []
        client.force_login(it_person)
        assert "Delivery is failing over webhook" in client.get(url).content.decode()
        assert asked  # once for each template the page renders with the request

    def test_it_staff_get_one_notice_over_another_channel(self, failing_webhooks, it_person):
        result = services.sweep(now=MONDAY_10 + dt.timedelta(minutes=1))
        assert result.alerts == 1
        [alert] = Notification.objects.filter(recipient=it_person.person)
        assert (alert.channel, alert.address, alert.kind) == (
            "email",
            "it-mail@example.com",
            "notice",
        )
        assert "webhook" in alert.subject
        # Not again while the incident lasts, however often the sweeper runs.
        for minutes in (2, 3, 30):
            services.sweep(now=MONDAY_10 + dt.timedelta(minutes=minutes))
        assert Notification.objects.filter(recipient=it_person.person).count() == 1
