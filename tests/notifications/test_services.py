"""The delivery engine's services against PostgreSQL, with a controllable clock; the channels talk
to a real local HTTP sink and Django's locmem mail outbox (SMTP itself is in the e2e tests)."""

import datetime as dt
import threading

import pytest
from django.core import mail, signing
from django.db import connection
from django.test import override_settings

from notifications import channels, services
from notifications.models import DeliveryAttempt, Notification, Page
from notifications.services import enqueue
from registry.models import ContactMethod, ProjectRole
from tests.factories import ContactMethodFactory, PersonFactory, ProjectRoleFactory

from .conftest import MONDAY_10, person_with

pytestmark = pytest.mark.django_db
MIN = dt.timedelta(minutes=1)


def send_all(now):
    """Send every row due at `now`, as the workers would; returns the outcomes."""
    ids = Notification.objects.filter(state="pending").values_list("pk", flat=True)
    return [services.notification_send(notification_id=i, now=now) for i in ids]


# --- notices, idempotency, working hours -------------------------------------------------------


def test_a_notice_goes_to_each_method_that_takes_notices_and_a_second_call_writes_nothing(
    event, responders, project
):
    owner, backup = responders
    written = services.notices_send(
        event=event,
        topic="outage.updated",
        recipients=[owner, backup, owner],
        subject="Update",
        body="Still down",
        project=project,
        now=MONDAY_10,
    )
    # The owner's webhook takes pages only; the owner listed twice is notified once.
    assert sorted((n.recipient_id, n.channel) for n in written) == sorted(
        [(owner.pk, "email"), (backup.pk, "email")]
    )
    again = services.notices_send(
        event=event,
        topic="outage.updated",
        recipients=[owner, backup],
        subject="Update",
        body="Still down",
        project=project,
        now=MONDAY_10,
    )
    assert again == []
    assert Notification.objects.count() == 2
    # Another topic is another message.
    services.notices_send(
        event=event,
        topic="outage.resolved",
        recipients=[owner],
        subject="Resolved",
        body="",
        now=MONDAY_10,
    )
    assert Notification.objects.count() == 3


def test_a_person_without_contact_methods_gets_their_account_email(event):
    person = PersonFactory(email="plain@example.com")
    [notice] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="b", now=MONDAY_10
    )
    assert (notice.channel, notice.address, notice.contact_method_id) == (
        "email",
        "plain@example.com",
        None,
    )


def test_notices_outside_working_hours_are_held_and_released_as_one_digest_at_the_start_of_work(
    event,
):
    # 10:00 UTC Monday is 19:00 in Tokyo (after work) and 05:00 in New York (before work).
    tokyo = PersonFactory(time_zone="Asia/Tokyo", email="tokyo@example.com")
    new_york = PersonFactory(time_zone="America/New_York", email="ny@example.com")
    london = PersonFactory(time_zone="Europe/London", email="london@example.com")
    for topic in ("change.scheduled", "change.moved", "change.cancelled"):
        services.notices_send(
            event=event,
            topic=topic,
            recipients=[tokyo, new_york, london],
            subject=topic,
            body="...",
            now=MONDAY_10,
        )
    held = Notification.objects.filter(state="held")
    assert set(held.values_list("recipient_id", flat=True)) == {tokyo.pk, new_york.pk}
    assert Notification.objects.filter(recipient=london, state="pending").count() == 3
    tokyo_start = dt.datetime(2025, 3, 4, 0, 0, tzinfo=dt.UTC)  # Tue 09:00 JST
    ny_start = dt.datetime(2025, 3, 3, 14, 0, tzinfo=dt.UTC)  # Mon 09:00 EST
    assert set(held.filter(recipient=tokyo).values_list("deliver_after", flat=True)) == {
        tokyo_start
    }

    # Before New York's day starts, nothing is released.
    assert services.sweep(now=ny_start - MIN).digests == 0
    # At its start, one digest for New York; Tokyo still waits.
    assert services.sweep(now=ny_start).digests == 1
    digest = Notification.objects.get(kind="digest")
    assert digest.recipient == new_york
    assert digest.bundled.count() == 3
    assert "3 notices" in digest.subject and "change.moved" in digest.body
    # Sweeping again releases nothing more.
    assert services.sweep(now=ny_start + MIN).digests == 0

    assert services.sweep(now=tokyo_start).digests == 1
    mail.outbox.clear()
    send_all(tokyo_start)
    assert sorted(m.to[0] for m in mail.outbox) == ["london@example.com"] * 3 + [
        "ny@example.com",
        "tokyo@example.com",
    ]
    # The bundled notices are sent with their digest.
    assert not Notification.objects.filter(state="held").exists()


# --- pages and escalation ----------------------------------------------------------------------


@override_settings(STEWARD_ESCALATION_DELAY_SECONDS=600, STEWARD_ESCALATION_REPEATS=1)
def test_an_unacknowledged_page_escalates_level_by_level_on_time_and_stops_after_its_repeats(
    event, project, responders, system
):
    owner, backup = responders
    it_contact = PersonFactory(email="it@example.com")
    system.contacts.add(it_contact)
    t0 = MONDAY_10
    page = services.pages_open(event=event, project=project, subject="Down", body="b", now=t0)
    assert page.levels == [[owner.pk], [backup.pk], [it_contact.pk]]
    paged = lambda: list(  # noqa: E731
        Notification.objects.order_by("round", "id").values_list("round", "recipient_id", "channel")
    )
    assert paged() == [(0, owner.pk, "email"), (0, owner.pk, "webhook")]
    assert services.pages_open(event=event, project=project, subject="x", body="", now=t0) == page
    assert len(paged()) == 2

    assert services.sweep(now=t0 + 9 * MIN).escalated == 0
    assert services.sweep(now=t0 + 10 * MIN).escalated == 1
    assert paged()[-1] == (1, backup.pk, "email")
    # A sweep that comes late or twice does not skip a level.
    assert services.sweep(now=t0 + 10 * MIN).escalated == 0
    assert services.sweep(now=t0 + 20 * MIN).escalated == 1
    assert paged()[-1] == (2, it_contact.pk, "email")
    for minutes in (30, 40, 50):  # the repeat: owner, backup, IT again
        assert services.sweep(now=t0 + minutes * MIN).escalated == 1
    assert [r[:2] for r in paged()[-4:]] == [
        (3, owner.pk),
        (3, owner.pk),
        (4, backup.pk),
        (5, it_contact.pk),
    ]
    page.refresh_from_db()
    assert page.next_escalation_at is None and page.state == "open"
    assert services.sweep(now=t0 + 24 * 60 * MIN).escalated == 0


def test_acknowledging_stops_escalation_and_cancels_what_was_not_sent(event, project, responders):
    owner, _backup = responders
    page = services.pages_open(event=event, project=project, subject="Down", body="", now=MONDAY_10)
    services.page_ack(page=page, person=owner, via="web", now=MONDAY_10 + MIN)
    page.refresh_from_db()
    assert (page.state, page.acknowledged_by, page.acknowledged_via) == (
        "acknowledged",
        owner,
        "web",
    )
    assert set(Notification.objects.values_list("state", flat=True)) == {"cancelled"}
    assert services.sweep(now=MONDAY_10 + 60 * MIN).escalated == 0
    assert Notification.objects.count() == 2
    # Twice is harmless and keeps the first acknowledgement.
    again = services.page_ack(page=page, person=None, via="link", now=MONDAY_10 + 5 * MIN)
    assert (again.acknowledged_by, again.acknowledged_at) == (owner, MONDAY_10 + MIN)


def test_pages_stop_stops_every_page_of_the_event(event, project, responders):
    other = ProjectRoleFactory(role=ProjectRole.Role.OWNER).project
    services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    services.pages_open(event=event, project=other, subject="b", body="", now=MONDAY_10)
    assert services.pages_stop(event=event, reason="resolved", now=MONDAY_10 + MIN) == 2
    assert set(Page.objects.values_list("state", "stop_reason")) == {("stopped", "resolved")}
    assert services.pages_stop(event=event, now=MONDAY_10 + MIN) == 0
    assert services.sweep(now=MONDAY_10 + 60 * MIN).escalated == 0
    assert not Notification.objects.filter(state="pending").exists()
    assert send_all(MONDAY_10 + 60 * MIN) == []


def test_a_page_stopped_after_a_row_was_claimable_is_not_sent(event, project, responders):
    page = services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    row = page.notifications.first()
    Page.objects.filter(pk=page.pk).update(state="stopped", next_escalation_at=None)
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "cancelled"
    assert mail.outbox == []


# --- claiming and sending ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_a_row_one_claims_it(event):
    person = PersonFactory()
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        try:
            results.append(services.notification_claim(notification_id=row.pk, now=MONDAY_10))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [r for r in results if r is not None]
    assert len(results) == 8 and len(claimed) == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("sending", 1)
    # The lease expires (the worker died): another claim succeeds, and only then.
    assert services.notification_claim(notification_id=row.pk, now=MONDAY_10 + MIN / 2) is None
    assert services.notification_claim(notification_id=row.pk, now=MONDAY_10 + 2 * MIN)


def test_sending_twice_sends_once_and_the_log_records_the_attempt(event):
    person = PersonFactory(email="x@example.com")
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="Hi", body="b", now=MONDAY_10
    )
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "sent"
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "skipped"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.extra_headers["Message-ID"] == channels.message_id(row)
    assert [a[1] for a in message.alternatives] == ["text/html"]
    # The attempt that went through is kept on the row, not as a DeliveryAttempt of its own.
    assert not DeliveryAttempt.objects.exists()
    row.refresh_from_db()
    [attempt] = row.attempts_made
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "sent", 250)
    assert attempt.started_at == row.sent_at and attempt.latency_ms == row.sent_latency_ms


@override_settings(STEWARD_RETRY_BASE_SECONDS=10, STEWARD_DELIVERY_MAX_ATTEMPTS=3)
def test_a_failing_webhook_is_retried_with_backoff_and_retry_after_then_falls_back(
    event, http_sink
):
    person = person_with(
        (ContactMethod.Kind.WEBHOOK, http_sink.url("/hook"), True, True),
        (ContactMethod.Kind.EMAIL, "pages-only@example.com", True, False),
        (ContactMethod.Kind.SLACK, http_sink.url("/slack"), False, False),
        email="fallback@example.com",
    )
    http_sink.plan("/hook", [500, (429, 120), 503])
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    now = MONDAY_10
    assert services.notification_send(notification_id=row.pk, now=now) == "retry"
    row.refresh_from_db()
    first_delay = (row.next_attempt_at - now).total_seconds()
    assert 5 <= first_delay <= 10  # base 10 s, half of it jittered
    # Not due yet: nobody may claim it.
    assert (
        services.notification_send(notification_id=row.pk, now=now + dt.timedelta(seconds=4))
        == "skipped"
    )

    now = row.next_attempt_at
    assert services.notification_send(notification_id=row.pk, now=now) == "retry"
    row.refresh_from_db()
    assert (row.next_attempt_at - now).total_seconds() >= 120  # Retry-After wins over backoff

    now = row.next_attempt_at
    assert services.notification_send(notification_id=row.pk, now=now) == "failed"
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 3)
    assert list(row.attempt_log.values_list("outcome", "status_code")) == [
        ("retry", 500),
        ("retry", 429),
        ("failed", 503),
    ]
    # No fallback: the notice went to every method that takes notices already, and the others
    # (the email for pages only, the Slack the person switched off, their account email) are
    # not theirs for notices.
    assert not Notification.objects.filter(fallback_of=row).exists()
    assert len(http_sink.requests) == 3


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_permanent_http_error_is_not_retried_and_falls_back_at_once(event, http_sink, status):
    person = person_with(
        (ContactMethod.Kind.WEBHOOK, http_sink.url("/hook"), True, True),
        email="account@example.com",
    )
    http_sink.plan("/hook", [status])
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    # Methods added since the notice was written: one switched off for notices, one for them.
    ContactMethodFactory(
        person=person, kind="sms", address="+15550100", for_pages=True, for_notices=False, order=1
    )
    ContactMethodFactory(
        person=person, kind="email", address="p@example.com", for_pages=False, order=2
    )
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "failed"
    row.refresh_from_db()
    assert (row.state, row.attempts) == ("failed", 1)
    fallback = Notification.objects.get(fallback_of=row)
    assert (fallback.channel, fallback.address, fallback.contact_method_id) == (
        "email",
        "p@example.com",
        person.contact_methods.get(kind="email").pk,
    )
    services.notification_send(notification_id=fallback.pk, now=MONDAY_10)
    assert mail.outbox[0].to == ["p@example.com"]
    # Nothing left to fall back to: the email never fails here, and a failure would find no method.
    assert services.notification_fall_back(notification=fallback, now=MONDAY_10) is None


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_transient_http_errors_are_retried(event, http_sink, status):
    person = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/hook"), True, True))
    http_sink.plan("/hook", [status])
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "retry"


@override_settings(STEWARD_WEBHOOK_READ_TIMEOUT=0.3)
def test_a_webhook_that_times_out_is_retried(event, http_sink):
    person = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/hook"), True, True))
    http_sink.plan("/hook", [("sleep", 1)])
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "retry"
    assert "Timeout" in row.attempt_log.get().error


def test_the_backoff_grows_exponentially_with_jitter_and_is_capped():
    with override_settings(STEWARD_RETRY_BASE_SECONDS=2, STEWARD_RETRY_MAX_SECONDS=60):
        for attempt, low, high in [(1, 1, 2), (2, 2, 4), (3, 4, 8), (10, 30, 60)]:
            delays = {services.retry_delay(attempt=attempt, retry_after=None) for _ in range(50)}
            assert all(low <= d <= high for d in delays)
            assert len(delays) > 1  # jittered
        assert services.retry_delay(attempt=1, retry_after=30) >= 30
        assert services.retry_delay(attempt=1, retry_after=10_000) == 60


def test_the_webhook_is_signed_and_carries_the_idempotency_key(event, http_sink, settings):
    import hashlib
    import hmac

    settings.STEWARD_WEBHOOK_SECRET = "s3cret"
    person = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url("/hook"), True, True))
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="b", now=MONDAY_10
    )
    services.notification_send(notification_id=row.pk, now=MONDAY_10)
    [request] = http_sink.requests
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-steward-signature"] == f"sha256={expected}"
    assert request.headers["idempotency-key"] == row.idempotency_key
    assert request.json()["idempotency_key"] == row.idempotency_key


def test_teams_and_slack_get_their_own_shapes_with_an_ack_button(event, project, http_sink):
    person = person_with(
        (ContactMethod.Kind.SLACK, http_sink.url("/slack"), True, True),
        (ContactMethod.Kind.TEAMS, http_sink.url("/teams"), True, True),
    )
    ProjectRoleFactory(project=project, person=person)
    services.pages_open(event=event, project=project, subject="Down", body="b", now=MONDAY_10)
    send_all(MONDAY_10)
    by_path = {r.path: r.json() for r in http_sink.requests}
    [attachment] = by_path["/teams"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [(a["type"], a["title"]) for a in card["actions"]] == [("Action.OpenUrl", "Acknowledge")]
    assert "/notifications/ack/" in card["actions"][0]["url"]
    assert any(block.get("text") == "Down" for block in card["body"])
    buttons = by_path["/slack"]["blocks"][1]["elements"]
    assert "/notifications/ack/" in buttons[0]["url"]


# --- the sweeper -------------------------------------------------------------------------------


@override_settings(STEWARD_REENQUEUE_AFTER_SECONDS=30, STEWARD_LEASE_SECONDS=60)
def test_the_sweeper_re_enqueues_only_rows_whose_message_may_be_lost(event, monkeypatch):
    published = []
    monkeypatch.setattr(
        enqueue, "_publish", lambda ids, urgent, countdown=None: published.extend(ids)
    )
    person = PersonFactory()
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    assert services.sweep(now=MONDAY_10 + dt.timedelta(seconds=10)).enqueued == 0
    assert services.sweep(now=MONDAY_10 + dt.timedelta(seconds=31)).enqueued == 1
    # Just re-enqueued: not again at once.
    assert services.sweep(now=MONDAY_10 + dt.timedelta(seconds=32)).enqueued == 0
    # A claimed row whose worker died comes back when its lease expires.
    services.notification_claim(notification_id=row.pk, now=MONDAY_10 + dt.timedelta(seconds=40))
    assert services.sweep(now=MONDAY_10 + dt.timedelta(seconds=90)).enqueued == 0
    assert services.sweep(now=MONDAY_10 + dt.timedelta(seconds=101)).enqueued == 1


# --- signed acknowledge links ------------------------------------------------------------------


def test_an_ack_link_names_one_page_and_one_person(event, project, responders):
    owner, _ = responders
    page = services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    token = services.ack_token(page=page, person=owner)
    assert services.ack_link_resolve(token) == (page, owner)
    services.ack_link_use(token=token, now=MONDAY_10 + MIN)
    page.refresh_from_db()
    assert (page.state, page.acknowledged_by, page.acknowledged_via) == (
        "acknowledged",
        owner,
        "link",
    )


def test_an_ack_token_is_what_djangos_signing_makes_and_follows_the_secret(settings):
    """Made by a signer kept per secret (`ack_links._AckSigner`): the token Django's
    `signing.dumps` makes in the same second, and a new secret signs with the new secret."""
    from notifications.services.ack_links import ACK_SALT

    for page, person in ((1, 2), (123456789, 7), (4, 0)):
        token = services.ack_token(page=page, person=person)
        same = signing.dumps({"page": page, "person": person}, salt=ACK_SALT, compress=False)
        # Equal unless the second turned between the two.
        assert token == same or token.split(":")[1] != same.split(":")[1]
        assert signing.loads(token, salt=ACK_SALT) == {"page": page, "person": person}
    old, original = services.ack_token(page=1, person=2), settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-" * 4
    new = services.ack_token(page=1, person=2)
    assert new != old
    assert signing.loads(new, salt=ACK_SALT) == {"page": 1, "person": 2}
    with pytest.raises(signing.BadSignature):
        signing.loads(old, salt=ACK_SALT)  # the old secret is no longer accepted...
    settings.SECRET_KEY_FALLBACKS = [original]
    assert signing.loads(old, salt=ACK_SALT) == {"page": 1, "person": 2}  # ...unless kept


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        # Signed by Steward, but for another purpose (another salt).
        lambda token: signing.dumps({"page": 1, "person": 1}, salt="steward.something-else"),
        lambda token: signing.dumps({"page": 1, "person": 1}),
        lambda token: "not-a-token",
    ],
)
def test_a_forged_or_other_purpose_token_is_refused(event, project, responders, forge):
    page = services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    with pytest.raises(services.AckLinkError) as excinfo:
        services.ack_link_resolve(forge(services.ack_token(page=page, person=responders[0])))
    assert excinfo.value.status == 400
    page.refresh_from_db()
    assert page.state == "open"


def test_an_expired_ack_link_is_refused_as_gone(event, project, responders, settings):
    page = services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    token = services.ack_token(page=page, person=responders[0])
    settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS = -1
    with pytest.raises(services.AckLinkError) as excinfo:
        services.ack_link_resolve(token)
    assert excinfo.value.status == 410


def test_pages_open_many_writes_what_pages_open_would_and_keeps_existing_pages(
    event, project, responders, django_assert_max_num_queries
):
    from tests.factories import ProjectFactory

    owner, _ = responders
    first = services.pages_open(event=event, project=project, subject="a", body="", now=MONDAY_10)
    others = []
    for _ in range(20):
        other = ProjectFactory()
        ProjectRoleFactory(project=other, person=PersonFactory())
        others.append(other)
    requests = [services.PageRequest(p, f"down: {p.name}", "b") for p in [project, *others]]
    pages = services.pages_open_many(event=event, requests=requests, now=MONDAY_10)
    assert pages[0] == first and [p.project for p in pages[1:]] == others
    assert Notification.objects.filter(kind="page").count() == 2 + 20
    assert all(p.next_escalation_at == MONDAY_10 + 10 * MIN for p in pages[1:])
    # Idempotent: nothing new the second time, in a handful of queries.
    with django_assert_max_num_queries(3):
        again = services.pages_open_many(event=event, requests=requests, now=MONDAY_10)
    assert again == pages and Notification.objects.count() == 22


@pytest.mark.django_db(transaction=True)
def test_messages_go_out_once_per_row_after_commit_and_never_for_a_rollback(event, monkeypatch):
    from django.db import transaction

    published = []
    monkeypatch.setattr(
        enqueue, "_publish", lambda ids, urgent, countdown=None: published.append(list(ids))
    )
    monkeypatch.setattr(
        enqueue, "_publish_fan_out", lambda ids, urgent: published.append(("fan-out", len(ids)))
    )
    people = [PersonFactory() for _ in range(3)]

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        services.notices_send(
            event=event, topic="a", recipients=people, subject="s", body="", now=MONDAY_10
        )
        raise Boom
    assert published == [] and Notification.objects.count() == 0

    with transaction.atomic():
        services.notices_send(
            event=event, topic="a", recipients=people[:2], subject="s", body="", now=MONDAY_10
        )
        try:
            with transaction.atomic():  # a savepoint that rolls back: its rows are not published
                services.notices_send(
                    event=event, topic="b", recipients=people, subject="s", body=""
                )
                raise Boom
        except Boom:
            pass
        services.notices_send(
            event=event, topic="c", recipients=people[2:], subject="s", body="", now=MONDAY_10
        )
        assert published == []  # nothing before commit
    ids = set(Notification.objects.values_list("pk", flat=True))
    assert len(ids) == 3
    assert [set(batch) for batch in published] == [ids]  # one publish for the transaction


@pytest.mark.django_db(transaction=True)
@override_settings(STEWARD_LEASE_SECONDS=60)
def test_the_sweeper_publishes_a_row_whose_worker_died_mid_send(event, monkeypatch):
    published = []
    monkeypatch.setattr(
        enqueue, "_publish", lambda ids, urgent, countdown=None: published.extend(ids)
    )
    [row] = services.notices_send(
        event=event, topic="t", recipients=[PersonFactory()], subject="s", body="", now=MONDAY_10
    )
    published.clear()
    services.notification_claim(notification_id=row.pk, now=MONDAY_10)  # ...and the worker died
    services.sweep(now=MONDAY_10 + 2 * MIN)
    assert published == [row.pk]


def test_pages_and_everything_else_travel_on_separate_queues():
    from steward.celery import app

    def queue(task_name: str) -> str:
        return app.amqp.router.route({}, task_name)["queue"].name

    pages = {"send_page", "send_pages", "fan_out_pages"}
    default = {"send", "send_many", "fan_out"}
    assert {queue(f"notifications.{name}") for name in pages} == {"pages"}
    assert {queue(f"notifications.{name}") for name in default} == {"default"}
    assert app.conf.beat_schedule["notifications-sweep"]["schedule"] == 15.0
    # Time limits well under the Redis visibility timeout: no redelivery of a running task.
    assert app.conf.task_time_limit < app.conf.broker_transport_options["visibility_timeout"] / 10
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1


# --- messages to bare addresses ----------------------------------------------------------------


def test_messages_to_bare_addresses_are_rows_sent_once_without_working_hours(event, http_sink):
    deliveries = [
        services.Delivery(
            ref="sub-1", channel="email", address="fan@example.com", body="bye: /u/1"
        ),
        services.Delivery(ref="hook-2", channel="webhook", address=http_sink.url("/hook")),
    ]
    sunday_night = dt.datetime(2025, 3, 2, 23, 0, tzinfo=dt.UTC)

    written = services.messages_send(
        event=event,
        topic="status",
        deliveries=deliveries,
        subject="Down",
        body="shared",
        now=sunday_night,
    )
    again = services.messages_send(
        event=event,
        topic="status",
        deliveries=deliveries,
        subject="Down",
        body="shared",
        now=sunday_night,
    )

    assert again == []
    assert {(n.channel, n.address, n.recipient_id, n.state) for n in written} == {
        ("email", "fan@example.com", None, "pending"),
        ("webhook", http_sink.url("/hook"), None, "pending"),
    }
    assert {n.channel: n.body for n in written} == {"email": "bye: /u/1", "webhook": "shared"}
    assert set(send_all(sunday_night)) == {"sent"}
    assert [m.to for m in mail.outbox] == [["fan@example.com"]]
    assert [r.path for r in http_sink.requests] == ["/hook"]


def test_a_bare_address_that_fails_for_good_has_nothing_to_fall_back_on(event, http_sink):
    http_sink.plan("/x", [404])
    [row] = services.messages_send(
        event=event,
        topic="status",
        deliveries=[
            services.Delivery(ref="hook-9", channel="webhook", address=http_sink.url("/x"))
        ],
        subject="Down",
        now=MONDAY_10,
    )

    services.notification_send(notification_id=row.pk, now=MONDAY_10)

    row.refresh_from_db()
    assert row.state == "failed"
    assert Notification.objects.count() == 1


def test_an_email_to_a_follower_says_why_they_get_it_and_not_that_they_support_the_app(
    event, project
):
    [row] = services.messages_send(
        event=event,
        topic="status",
        deliveries=[services.Delivery(ref="sub-1", channel="email", address="fan@example.com")],
        subject="Wiki is down",
        body="Unsubscribe: https://steward.example.com/u/x",
        project=project,
        now=MONDAY_10,
    )
    services.notification_send(notification_id=row.pk, now=MONDAY_10)

    [message] = mail.outbox
    assert "because you follow Wiki" in message.body
    assert "you support" not in message.body


def test_rows_written_by_copy_fall_back_to_skipping_duplicates_when_copy_conflicts(event):
    """Rows are written with COPY; a key that COPY cannot write (here: twice in one call, as a
    concurrent writer would make it) sends the call down the ON CONFLICT path, in the same
    transaction, and each key is written once."""
    same = services.Delivery(ref="sub-1", channel="email", address="a@example.com")
    other = services.Delivery(ref="sub-2", channel="email", address="b@example.com")
    written = services.messages_send(
        event=event, topic="t", deliveries=[same, same, other], subject="s", now=MONDAY_10
    )
    assert sorted(n.address for n in written) == ["a@example.com", "b@example.com"]
    assert all(n.pk for n in written)
    assert Notification.objects.filter(topic="t").count() == 2
    again = services.messages_send(
        event=event, topic="t", deliveries=[same, other], subject="s", now=MONDAY_10
    )
    assert again == []
