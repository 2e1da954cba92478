"""The queue (`notifications.models.Due`): one row for each notification on its way out (pending,
held or sending) with when it is due, kept by PostgreSQL's triggers whatever writes the
notifications: the outbox's COPY, the ORM's inserts and updates, plain SQL, deletes, TRUNCATE."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from notifications.models import Due, Notification
from notifications.services.outbox import _insert

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
STATES = list(Notification.State.values)
ACTIVE = {"pending", "held", "sending"}


def _row(key: str, *, state: str = "pending", minutes: int = 0) -> Notification:
    return Notification(
        event_type=ContentType.objects.get_for_model(Notification),
        event_id=1,
        topic="t",
        kind=Notification.Kind.NOTICE,
        channel=Notification.Channel.WEBHOOK,
        address="http://127.0.0.1:9/",
        subject="s",
        idempotency_key=key,
        state=state,
        # What the check constraints ask of a sent or sending row.
        sent_at=AT if state == "sent" else None,
        lease_expires_at=AT if state == "sending" else None,
        deliver_after=AT + dt.timedelta(minutes=minutes),
        created_at=AT,
    )


def _queue() -> dict[int, dt.datetime]:
    return dict(Due.objects.values_list("notification_id", "deliver_after"))


def _expected() -> dict[int, dt.datetime]:
    return {
        n.pk: n.deliver_after
        for n in Notification.objects.only("pk", "state", "deliver_after")
        if n.state in ACTIVE
    }


def test_rows_written_by_the_outbox_copy_and_the_orm_are_queued_unless_finished():
    copied = _insert([_row("a"), _row("b", state="held", minutes=30)])
    created = Notification.objects.bulk_create([_row("c", minutes=5), _row("d", state="sent")])
    assert _queue() == {
        copied[0].pk: AT,
        copied[1].pk: AT + dt.timedelta(minutes=30),
        created[0].pk: AT + dt.timedelta(minutes=5),
    }
    # Written again (a second fan-out of the same event): nothing new, nothing queued twice.
    assert _insert([_row("a"), _row("b")]) == []
    assert len(_queue()) == 3


operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(STATES), st.integers(-60, 60)),
    st.tuples(st.just("state"), st.integers(0, 7), st.sampled_from(STATES)),
    st.tuples(st.just("deliver_after"), st.integers(0, 7), st.integers(-60, 60)),
    st.tuples(st.just("sql"), st.integers(0, 7), st.sampled_from(STATES)),
    st.tuples(st.just("delete"), st.integers(0, 7), st.just(None)),
    st.tuples(st.just("all"), st.sampled_from(STATES), st.just(None)),
    st.tuples(st.just("truncate"), st.booleans(), st.just(None)),
)


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=12))
def test_the_queue_holds_exactly_the_rows_on_their_way_out_after_any_writes(operations):
    """Random writes, one after the other, by each path: after every one the queue holds each
    pending, held or sending row with its time, and nothing else."""
    Notification.objects.all().delete()
    assert _queue() == {}
    for number, (kind, a, b) in enumerate(operations):
        ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
        target = ids[a % len(ids)] if ids and isinstance(a, int) else None
        if kind == "insert":
            _insert([_row(f"k{number}", state=a, minutes=b)])
        elif kind == "truncate":
            # The notifications alone (what the benchmark's registry does, fresh ids after it
            # included), or with the queue in the same statement (what Django's flush does).
            tables = (
                "notifications_notification, notifications_due"
                if a
                else "notifications_notification"
            )
            with connection.cursor() as cursor:
                # The foreign keys' checks still pending in this transaction run first.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elif target is None and kind != "all":
            continue
        elif kind == "state":
            # What the checks ask of the state the row moves to.
            Notification.objects.filter(pk=target).update(state=b, sent_at=AT, lease_expires_at=AT)
        elif kind == "deliver_after":
            Notification.objects.filter(pk=target).update(
                deliver_after=AT + dt.timedelta(minutes=b)
            )
        elif kind == "sql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE notifications_notification SET state = %s, sent_at = %s, "
                    "lease_expires_at = %s WHERE id = %s",
                    [b, AT, AT, target],
                )
        elif kind == "delete":
            Notification.objects.filter(pk=target).delete()
        else:
            Notification.objects.update(state=a, sent_at=AT, lease_expires_at=AT)
        assert _queue() == _expected(), (number, kind, a, b)
