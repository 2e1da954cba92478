"""The batched escalation path (`oncall.escalation.escalation_many`, used by `pages_open_many` and so
by every outage) agrees with the single-project path, project by project, and asks the database a
fixed number of times however many projects an outage touches."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from notifications import services as notifications
from notifications.models import DeliveryAttempt
from notifications.services import enqueue, sending
from oncall import escalation as oncall
from oncall import services as oncall_services
from oncall.models import RotationLayer
from registry.models import Project, ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory, SystemFactory, TeamFactory
from tests.oncall.helpers import layer, person, rotation, utc

pytestmark = pytest.mark.django_db
AT = utc(2025, 1, 7, 12)


def _outage(systems):
    from incidents.events import outage_event
    from incidents.models import Outage

    outage = Outage.objects.create(title="Core database down")
    outage.systems.set(systems)
    return outage_event(outage)


def _pks(levels):
    return [([p.pk for p in people], delay) for people, delay in levels]


def _mixed_registry() -> list[Project]:
    """Projects covering every branch: nothing at all; owners and backups only; an own rotation;
    a team rotation plus an own one (order by name); an override; a policy with every target,
    including its team's rotation."""
    ann, bob, cat, dan, eve = (person(n) for n in ("Ann", "Bob", "Cat", "Dan", "Eve"))
    contact = person("Contact")
    system = SystemFactory()
    system.contacts.add(contact)

    bare = ProjectFactory(name="Bare")

    roles_only = ProjectFactory(name="Roles only")
    ProjectRoleFactory(project=roles_only, person=ann, role=ProjectRole.Role.OWNER, order=1)
    ProjectRoleFactory(project=roles_only, person=bob, role=ProjectRole.Role.MAINTAINER, order=0)
    ProjectRoleFactory(project=roles_only, person=cat, role=ProjectRole.Role.BACKUP)

    own = ProjectFactory(name="Own rotation")
    layer(
        rotation(own),
        [ann, bob],
        length=RotationLayer.Length.DAILY,
        start_date=date(2025, 1, 6),
    )

    team = TeamFactory()
    team.members.add(dan, eve)
    teamed = ProjectFactory(name="Team rotation", team=team)
    team_rotation = oncall_services.rotation_create(actor=None, name="b team", team=team)
    layer(team_rotation, [dan])
    layer(rotation(teamed, name="a own"), [eve])
    ProjectRoleFactory(project=teamed, person=cat, role=ProjectRole.Role.OWNER)
    sibling = ProjectFactory(name="Same team", team=team)

    covered = ProjectFactory(name="Override")
    rot = rotation(covered)
    layer(rot, [ann])
    oncall_services.override_create(
        actor=None, rotation=rot, person=dan, start_at=utc(2025, 1, 7), end_at=utc(2025, 1, 8)
    )

    with_policy = ProjectFactory(name="Policy", team=team)
    ProjectRoleFactory(project=with_policy, person=bob, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=with_policy, person=eve, role=ProjectRole.Role.BACKUP)
    mine = rotation(with_policy, name="mine")
    layer(mine, [dan, ann], length=RotationLayer.Length.DAILY, start_date=date(2025, 1, 6))
    oncall_services.escalation_policy_create(
        actor=None,
        project=with_policy,
        repeat_count=1,
        levels=[
            {"target": "rotation", "rotation": mine, "delay_minutes": 5},
            {"target": "rotation", "rotation": team_rotation, "delay_minutes": 6},
            {"target": "person", "person": cat, "delay_minutes": 7},
            {"target": "team", "team": team, "delay_minutes": 8},
            {"target": "it_contacts", "delay_minutes": 9},
            {"target": "owners", "delay_minutes": 10},
            {"target": "backups", "delay_minutes": 11},
        ],
    )
    projects = [bare, roles_only, own, teamed, sibling, covered, with_policy]
    return list(Project.objects.filter(pk__in=[p.pk for p in projects]).order_by("id")), system


def test_batched_levels_agree_with_the_single_project_path():
    projects, system = _mixed_registry()
    contacts = list(system.contacts.order_by("id"))
    batch = oncall.escalation_many(projects, AT, it_contacts=contacts)
    assert set(batch) == {p.pk for p in projects}
    for project in projects:
        single = oncall.escalation_levels(project, [system], AT, it_contacts=contacts)
        assert _pks(batch[project.pk].levels) == _pks(single), project.name
        assert batch[project.pk].repeats == oncall.escalation_repeats(project), project.name
    # The branches really differ (the comparison above is not between empty answers).
    by_name = {p.name: p.pk for p in projects}
    assert batch[by_name["Team rotation"]].levels[0][0]  # both rotations resolve someone
    assert [p.display_name for p in batch[by_name["Team rotation"]].levels[0][0]] == ["Eve", "Dan"]
    assert [p.display_name for p in batch[by_name["Override"]].levels[0][0]] == ["Dan"]
    policy = [[p.display_name for p in people] for people, _ in batch[by_name["Policy"]].levels]
    assert policy == [["Ann"], ["Dan"], ["Cat"], ["Dan", "Eve"], ["Contact"], ["Bob"], ["Eve"]]


def test_pages_open_many_pages_what_pages_open_would_page_one_by_one():
    projects, system = _mixed_registry()
    one_by_one = _outage([system])
    singles = {p.pk: notifications.escalation_levels_for(p, one_by_one, AT) for p in projects}
    pages = notifications.pages_open_many(
        event=_outage([system]),
        requests=[notifications.PageRequest(p, "Down", "") for p in projects],
        now=AT,
    )
    for page in pages:
        expected = singles[page.project_id]
        assert page.levels == [[p.pk for p in people] for people, _ in expected]
        assert page.delays == [int(d.total_seconds()) for _, d in expected]
        assert page.repeats == notifications.escalation_repeats_for(page.project)


def test_batched_levels_take_a_fixed_number_of_queries():
    projects, system = _mixed_registry()
    contacts = list(system.contacts.all())
    with CaptureQueriesContext(connection) as few:
        oncall.escalation_many(projects[:2], AT, it_contacts=contacts)
    with CaptureQueriesContext(connection) as many:
        oncall.escalation_many(projects, AT, it_contacts=contacts)
    for _ in range(20):
        extra = ProjectFactory(team=projects[3].team)
        layer(rotation(extra), [person(f"P{extra.pk}")])
        ProjectRoleFactory(project=extra)
    more = list(Project.objects.order_by("id"))
    with CaptureQueriesContext(connection) as most:
        result = oncall.escalation_many(more, AT, it_contacts=contacts)
    assert len(result) == len(more)
    assert len(many) == len(most) <= 12
    assert len(few) <= len(many)


# --- sending in batches -------------------------------------------------------------------------


def _webhook_pages(http_sink, event, count):
    """`count` projects, each with one owner paged over a webhook to the sink; their page rows."""
    from registry.models import ContactMethod
    from tests.notifications.conftest import person_with

    requests = []
    for i in range(count):
        project = ProjectFactory(name=f"App {i}")
        owner = person_with((ContactMethod.Kind.WEBHOOK, http_sink.url(f"/o{i}"), True, True))
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        requests.append(notifications.PageRequest(project, f"Down: {project.name}", ""))
    notifications.pages_open_many(event=event, requests=requests, now=AT)
    from notifications.models import Notification

    return list(Notification.objects.filter(kind="page").order_by("id"))


def test_a_batch_is_claimed_once_and_each_row_is_sent_and_logged_once(http_sink, event):
    from notifications.models import Notification

    rows = _webhook_pages(http_sink, event, 5)
    ids = [r.pk for r in rows]
    Notification.objects.filter(pk=ids[0]).update(
        state="sent", sent_at=AT
    )  # sent by someone else already
    # A serving worker has its content types cached (the first send of a process reads them).
    ContentType.objects.get_for_id(rows[0].event_type_id)
    with CaptureQueriesContext(connection) as queries:
        outcomes = notifications.notifications_send(notification_ids=[*ids, ids[1]], now=AT)
    assert outcomes == {"skipped": 1, "sent": 4}
    # One claim for the batch (which returns what sending reads), then one statement records
    # every send; the writes commit without waiting for the disk.
    assert len(queries) == 2
    writes = [q["sql"] for q in queries.captured_queries]
    assert all(sql.startswith("SET LOCAL synchronous_commit = off;") for sql in writes)
    assert sorted(http_sink.keys().values()) == [1, 1, 1, 1]
    assert set(http_sink.keys()) == {r.idempotency_key for r in rows[1:]}
    sent = Notification.objects.filter(pk__in=ids[1:])
    assert all(n.state == "sent" and n.lease_token == "" and n.sent_at for n in sent)
    # Each attempt that went through is kept on its row: no DeliveryAttempt row is written.
    assert not DeliveryAttempt.objects.filter(notification_id__in=ids).exists()
    attempts = {n.pk: n.attempts_made for n in sent}
    assert sorted(attempts) == ids[1:]
    assert all(
        [(a.number, a.outcome, a.status_code) for a in made] == [(1, "sent", 200)]
        for made in attempts.values()
    )
    # Run again (a redelivered message): nothing is sent twice.
    assert notifications.notifications_send(notification_ids=ids, now=AT) == {"skipped": 5}
    assert len(http_sink.requests) == 4


def test_each_send_of_a_batch_is_in_the_sent_journal_before_the_batch_is_recorded(
    http_sink, event, monkeypatch
):
    """A batch records its sends together, after the last: until then, each message that went
    out is in this host's sent journal (so a worker killed midway repeats only the one on the
    wire), and once recorded none is left there, nor anything in Redis's."""
    from notifications.models import Notification

    rows = _webhook_pages(http_sink, event, 4)
    ids = [r.pk for r in rows]
    real_mark_sent = sending._mark_sent
    noted_when_recorded = []

    def mark_sent(delivered):
        noted_when_recorded.extend(sending._local_journal().notes())
        return real_mark_sent(delivered)

    monkeypatch.setattr(sending, "_mark_sent", mark_sent)
    assert notifications.notifications_send(notification_ids=ids, now=AT) == {
        "skipped": 0,
        "sent": 4,
    }
    assert [note[0] for note in noted_when_recorded] == ids
    for note in noted_when_recorded:
        pk, entry = sending._delivered_of_note(note)
        [attempt] = Notification.objects.get(pk=pk).attempts_made
        assert entry == {
            "started": attempt.started_at.isoformat(),
            "latency": attempt.latency_ms,
            "status": 200,
        }
    assert sending._local_journal().notes() == []
    assert all(sending._journal_read(pk) is None for pk in ids)


def test_what_a_batch_could_not_record_is_left_to_the_journal_in_redis(
    http_sink, event, monkeypatch, settings
):
    """The database fails for good while a batch is being recorded: its sends go to the Redis
    journal (what the next claim and the sweeper read), and this host's is cleared for the next
    batch."""
    rows = _webhook_pages(http_sink, event, 3)
    ids = [r.pk for r in rows]
    settings.STEWARD_RECORD_RETRY_SECONDS = 0.1

    def down(delivered):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(sending, "_mark_sent", down)
    with pytest.raises(OperationalError):
        notifications.notifications_send(notification_ids=ids, now=AT)
    assert len(http_sink.requests) == 3
    assert all(sending._journal_read(pk)["status"] == 200 for pk in ids)
    assert sending._local_journal().notes() == []


def test_two_batch_claims_never_share_a_row(http_sink, event):
    rows = _webhook_pages(http_sink, event, 4)
    ids = [r.pk for r in rows]
    first = notifications.notifications_claim(notification_ids=ids[:3], now=AT)
    second = notifications.notifications_claim(notification_ids=ids, now=AT)
    assert [n.pk for n in first] == ids[:3]
    assert [n.pk for n in second] == ids[3:]
    assert len({n.lease_token for n in first}) == 1
    # A lost lease is taken back by a later claim, and the first worker cannot finish it.
    later = AT + timedelta(seconds=django_settings.STEWARD_LEASE_SECONDS + 1)
    again = notifications.notifications_claim(notification_ids=ids[:1], now=later)
    assert [n.pk for n in again] == ids[:1]
    late = sending.Delivered(first[0], started=AT, latency=1, status=200)
    assert sending._finish_sent([late]) == set()


def _hot_updates() -> tuple[int, int]:
    """Rows of notifications_notification this transaction updated: all, and in place (HOT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
            "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
            ["notifications_notification"] * 2,
        )
        return cursor.fetchone()


def test_a_claim_and_a_record_update_their_rows_in_place_and_the_queue_follows(http_sink, event):
    """A claim (pending → sending) and a record (sending → sent) change no indexed value of the
    notification table: the queue is a table of its own (`Due`). PostgreSQL then updates each
    row on its own page without a new entry in each of the table's indexes (a HOT update), which
    halved what a batch's claim cost, then its record's. The queue's triggers add a row's `Due`
    with the row and drop it as the row leaves the queue, in the same statement."""
    from notifications.models import Due, Notification

    rows = _webhook_pages(http_sink, event, 4)
    ids = [r.pk for r in rows]
    before_all, before_hot = _hot_updates()
    claimed = notifications.notifications_claim(notification_ids=ids, now=AT)
    after_all, after_hot = _hot_updates()
    assert len(claimed) == 4
    assert (after_all - before_all, after_hot - before_hot) == (4, 4)
    assert Notification.objects.filter(pk__in=ids, state="sending", active=True).count() == 4
    assert Notification.objects.filter(pk__in=ids, due__deliver_after=AT).count() == 4
    delivered = [sending.Delivered(n, started=AT, latency=1, status=200) for n in claimed]
    assert sending._finish_sent(delivered) == set(ids)
    done_all, done_hot = _hot_updates()
    assert (done_all - after_all, done_hot - after_hot) == (4, 4)
    assert not Notification.objects.filter(pk__in=ids, active=True).exists()
    assert not Due.objects.filter(notification_id__in=ids).exists()


def _plans(statement, params: dict) -> list[str]:
    """The statement's plan sent whole, and its generic plan prepared (what a server session
    that has run it a few times settles on: `steward.prepared`)."""
    body = statement.plain.split("; ", 1)[1]
    prepare = statement.prepare.replace(f"PREPARE {statement.name} ", "PREPARE explained ", 1)
    execute = statement.execute.split("; ", 1)[1].replace(statement.name, "explained", 1)
    plans = []
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {body}", params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute(prepare)
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"EXPLAIN {execute}", params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
        cursor.execute("RESET plan_cache_mode")
        cursor.execute("DEALLOCATE explained")
    return plans


def test_a_batch_is_claimed_and_recorded_by_id_while_thousands_of_rows_are_active(http_sink, event):
    """During a big fan-out the table holds thousands of active rows that statistics, gathered
    while the table was quiet, have never seen. The claim and the record find their batch by id
    (probes of the primary key) and read no other index of the table: in the benchmark's
    fan-out, reading the queue's former partial index cost a batch several milliseconds."""
    from notifications.models import Notification

    rows = _webhook_pages(http_sink, event, 4)
    ids = [r.pk for r in rows]
    # 3,000 more rows being sent, written after the table's last ANALYZE (here: none).
    columns = [
        f.column
        for f in Notification._meta.concrete_fields
        if f.column not in {"id", "idempotency_key", "state", "lease_token", "lease_expires_at"}
        and not f.generated
    ]
    listed = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO notifications_notification ({listed}, idempotency_key, state, "  # noqa: S608
            "lease_token, lease_expires_at) "
            f"SELECT {listed}, idempotency_key || ':' || i, 'sending', 'other', %s "
            "FROM notifications_notification, generate_series(1, 750) AS i WHERE id = ANY(%s)",
            [AT + timedelta(minutes=5), ids],
        )
    now = AT + timedelta(minutes=1)
    claim = _plans(
        sending._claim_sql()[0],
        {"token": "t", "until": now + timedelta(minutes=1), "ids": ids, "now": now},
    )
    record = _plans(
        sending._RECORD_SENT,
        {
            "ids": ids,
            "tokens": ["t"] * 4,
            "started": [now] * 4,
            "latencies": [1] * 4,
            "statuses": [200] * 4,
        },
    )
    # No index of the table but its primary key (the queue's former partial index was one that
    # such a plan read whole).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'notifications_notification'"
        )
        others = {name for (name,) in cursor.fetchall()} - {"notifications_notification_pkey"}
    assert others
    for plan in (*claim, *record):
        assert "notifications_notification_pkey" in plan, plan
        assert not [name for name in others if name in plan], plan
    # And they still claim and record (the CASE says what the OR said).
    assert notifications.notifications_send(notification_ids=ids, now=now) == {
        "skipped": 0,
        "sent": 4,
    }


def test_a_batch_releases_the_rows_it_could_not_send_within_its_lease(
    http_sink, event, monkeypatch, settings
):
    from notifications.models import Notification

    published = []
    monkeypatch.setattr(
        enqueue,
        "_publish",
        lambda ids, urgent, countdown=None: published.append((list(ids), urgent)),
    )
    rows = _webhook_pages(http_sink, event, 3)
    ids = [r.pk for r in rows]
    settings.STEWARD_LEASE_SECONDS = 1  # shorter than one send may take: release after the first
    outcomes = notifications.notifications_send(notification_ids=ids, now=AT)
    assert outcomes == {"skipped": 0, "sent": 1, "released": 2}
    assert len(http_sink.requests) == 1
    released = Notification.objects.filter(pk__in=ids[1:])
    assert all(
        n.state == "pending"
        and n.attempts == 0
        and not n.lease_token
        and n.lease_expires_at is None
        for n in released
    )
    assert published == [(ids[1:], True)]
    # Released rows are claimable again at once.
    settings.STEWARD_LEASE_SECONDS = 60
    assert notifications.notifications_send(notification_ids=ids, now=AT) == {
        "skipped": 1,
        "sent": 2,
    }


def test_sends_are_published_in_batches_on_their_queues(monkeypatch):
    from notifications import tasks

    sent = []
    for task in (tasks.send, tasks.send_page, tasks.send_many, tasks.send_pages):
        monkeypatch.setattr(
            task, "apply_async", lambda t=task, **kw: sent.append((t.name, kw["args"][0], kw))
        )
    batch, spread = enqueue.SEND_BATCH, django_settings.STEWARD_SEND_SPREAD
    total = spread * batch + batch // 2  # more than fills `spread` batches
    enqueue._publish(list(range(1, total + 1)), urgent=True)
    assert [(name, len(ids)) for name, ids, _ in sent] == [
        *[("notifications.send_pages", batch)] * spread,
        ("notifications.send_pages", batch // 2),
    ]
    assert {kw["queue"] for *_, kw in sent} == {"pages"}
    assert [i for _, ids, _ in sent for i in ids] == list(range(1, total + 1))
    sent.clear()
    enqueue._publish([1, 2], urgent=False)
    enqueue._publish([3], urgent=False)
    enqueue._publish([4, 5], urgent=True, countdown=2.0)  # retries go one by one
    assert [(name, ids, kw["queue"]) for name, ids, kw in sent] == [
        ("notifications.send_many", [1], "default"),  # spread: two processes may take them
        ("notifications.send_many", [2], "default"),
        ("notifications.send", 3, "default"),
        ("notifications.send_page", 4, "pages"),
        ("notifications.send_page", 5, "pages"),
    ]


@pytest.mark.parametrize(
    ("total", "sizes"),
    [
        (2, [1, 1]),
        (8, [1] * 8),
        (9, [2, 2, 2, 2, 1]),
        (100, [13] * 7 + [9]),  # a mid-sized outage keeps every process busy
        (256, [32] * 8),
        (257, [32] * 8 + [1]),
        (1000, [32] * 31 + [8]),
    ],
)
def test_sends_are_spread_over_processes_until_their_batches_are_full(total, sizes, settings):
    settings.STEWARD_SEND_SPREAD = 8
    ids = list(range(1, total + 1))
    batches = enqueue.send_batches(ids)
    assert [len(b) for b in batches] == sizes
    assert [i for b in batches for i in b] == ids
    assert enqueue.send_batches([]) == []
    settings.STEWARD_SEND_SPREAD = 1  # no spreading: batches full from the first
    assert [len(b) for b in enqueue.send_batches(ids)] == [
        min(32, total - start) for start in range(0, total, 32)
    ]


def assert_claimed_as_the_orm_reads_them(claimed) -> None:
    """Each claimed row, and what sending reads of it (page, project, event type, outgoing
    webhook), holds the values the ORM reads from the database, converted the same way, with
    no further query to reach them. What the claim leaves unread is exactly what it says it
    leaves (`sending._NOTIFICATION_UNREAD`, `_PAGE_READ`, `_PROJECT_READ`)."""
    from notifications.models import Notification

    def same(model, got, unread):
        assert got.get_deferred_fields() == {model._meta.get_field(f).attname for f in unread}
        fresh = model.objects.get(pk=got.pk)
        for field in model._meta.concrete_fields:
            if field.name not in unread:
                assert getattr(got, field.attname) == getattr(fresh, field.attname), field.name

    def unread_but(model, read):
        return {f.name for f in model._meta.concrete_fields} - read

    with CaptureQueriesContext(connection) as queries:
        related = [
            (n, n.page if n.page_id else None, n.project if n.project_id else None) for n in claimed
        ]
        endpoints = [n.webhook_endpoint for n in claimed if n.webhook_endpoint_id]
        kinds = [n.event_type.model for n in claimed if n.event_type_id]
    assert len(queries) == 0
    assert len(kinds) == len([n for n in claimed if n.event_type_id])
    for notification, page, project in related:
        same(Notification, notification, sending._NOTIFICATION_UNREAD)
        if page is not None:
            same(type(page), page, unread_but(type(page), sending._PAGE_READ))
        if project is not None:
            same(type(project), project, unread_but(type(project), sending._PROJECT_READ))
    for endpoint in endpoints:
        same(type(endpoint), endpoint, set())


def test_the_claim_builds_rows_through_the_model_when_its_init_signals_are_listened_to(
    http_sink, event
):
    """The claim builds its instances without `Model.__init__`, which sends pre_init and
    post_init: when anything listens for them on a model the claim reads, it goes through
    `from_db` (and so `__init__`), and the listener hears every row."""
    from django.db.models.signals import post_init

    from notifications.models import Notification

    rows = _webhook_pages(http_sink, event, 3)
    heard = []

    def listener(sender, instance, **kwargs):
        heard.append(instance.pk)

    post_init.connect(listener, sender=Notification)
    try:
        claimed = notifications.notifications_claim(notification_ids=[r.pk for r in rows], now=AT)
    finally:
        post_init.disconnect(listener, sender=Notification)
    assert [n.pk for n in claimed] == [r.pk for r in rows]
    assert heard == [r.pk for r in rows]
    assert_claimed_as_the_orm_reads_them(claimed)


def test_the_claim_returns_each_row_with_what_sending_reads(http_sink, event):
    rows = _webhook_pages(http_sink, event, 3)
    claimed = notifications.notifications_claim(notification_ids=[r.pk for r in rows], now=AT)
    assert [n.pk for n in claimed] == [r.pk for r in rows]
    assert all(n.page_id and n.project_id and n.event_type_id for n in claimed)
    assert_claimed_as_the_orm_reads_them(claimed)
