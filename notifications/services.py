"""Writes of the delivery pipeline.

The contract for other apps (see /work/notes/pipeline-contract.md): `notices_send`, `pages_open`,
`pages_stop`, `page_ack`. Each is called INSIDE the transaction that writes the event: it writes
notification rows, and Celery messages go out only after that transaction commits. The sweeper
(`sweep`) is the safety net that re-enqueues anything a lost message or a dead worker left behind,
advances escalation timers and releases held notices as digests.

Every service takes `now=` so that tests drive time; the tasks pass `timezone.now()`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from oncall import escalation as oncall
from registry.errors import Conflict
from registry.models import ContactMethod, Person, Project, ProjectRole
from registry.permissions import is_it_staff
from registry.selectors import is_within_working_hours, next_working_start

from .models import Channel, DeliveryAttempt, Notification, Page

log = logging.getLogger(__name__)

ACK_SALT = "steward.notifications.page-ack"
CHANNEL_OF_KIND = {
    ContactMethod.Kind.EMAIL: Channel.EMAIL,
    ContactMethod.Kind.WEBHOOK: Channel.WEBHOOK,
    ContactMethod.Kind.SLACK: Channel.SLACK,
    ContactMethod.Kind.TEAMS: Channel.TEAMS,
    ContactMethod.Kind.SMS: Channel.SMS,
    # A phone call is not a channel Steward can place; a text to the same number is the closest.
    ContactMethod.Kind.PHONE: Channel.SMS,
}


# --- where a message goes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One contact channel of a person: a contact method, or their account email."""

    channel: str
    address: str
    method_id: int | None

    @property
    def ref(self) -> str:
        return f"{self.channel}-{self.method_id}" if self.method_id else f"{self.channel}-account"


def _methods(person: Person) -> list[ContactMethod]:
    cache = getattr(person, "_prefetched_objects_cache", {})
    if "contact_methods" in cache:
        methods = list(person.contact_methods.all())
    else:
        methods = list(ContactMethod.objects.filter(person=person))
    return sorted(methods, key=lambda m: (m.order, m.pk))


def _target(method: ContactMethod) -> Target:
    return Target(CHANNEL_OF_KIND[method.kind], method.address, method.pk)


def targets_for(person: Person, *, urgent: bool) -> list[Target]:
    """The person's contact methods that take pages (or notices), in their order; their account
    email when they have none."""
    flag = "for_pages" if urgent else "for_notices"
    targets = [_target(m) for m in _methods(person) if getattr(m, flag)]
    if not targets and person.email:
        targets = [Target(Channel.EMAIL, person.email, None)]
    return targets


def _fallback_target(person: Person, used_refs: set[str]) -> Target | None:
    """The person's next contact method not yet tried for this message, then their account email."""
    for method in _methods(person):
        target = _target(method)
        if target.ref not in used_refs:
            return target
    account = Target(Channel.EMAIL, person.email, None) if person.email else None
    if (
        account
        and account.ref not in used_refs
        and not any(
            t.channel == Channel.EMAIL and t.address.lower() == person.email.lower()
            for t in map(_target, _methods(person))
        )
    ):
        return account
    return None


def idempotency_key(
    *,
    event_type_id: int | None,
    event_id: int | None,
    topic: str,
    person_id: int,
    target: Target,
    round: int,
) -> str:
    key = f"n:{event_type_id}:{event_id}:{topic}:p{person_id}:{target.ref}:r{round}"
    if len(key) > 255:  # a very long topic: keep the key unique and within the column
        key = "n:h:" + hashlib.sha256(key.encode()).hexdigest()
    return key


# --- enqueueing after commit ------------------------------------------------------------------


# Sends travel SEND_BATCH ids to a Celery message: one claim and one read per message instead of
# per row, which is most of a send's cost to a fast receiver. Small enough that a batch claimed
# by a worker that dies waits for one lease, and that a page is never queued behind many others.
SEND_BATCH = 16


def _publish(ids: Sequence[int], *, urgent: bool, countdown: float | None = None) -> None:
    """Publish the sends of these ids: SEND_BATCH ids per Celery message (one per id when there
    is a countdown: a retry). A broker that is down must not fail the caller: the rows are
    committed and the sweeper will find them."""
    from . import tasks

    ids = list(ids)
    if countdown is None and len(ids) > 1:
        task, queue = (tasks.send_pages, "pages") if urgent else (tasks.send_many, "default")
        chunks = [ids[i : i + SEND_BATCH] for i in range(0, len(ids), SEND_BATCH)]
    else:
        task, queue = (tasks.send_page, "pages") if urgent else (tasks.send, "default")
        chunks = ids
    for chunk in chunks:
        try:
            task.apply_async(
                args=[chunk],
                queue=queue,
                countdown=countdown,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception:  # noqa: BLE001 — any broker error; the sweeper is the safety net
            log.warning("Could not enqueue notifications %s; the sweeper will.", chunk)
            return


# Above this many rows, the request publishes a few fan-out messages (chunks of ids) and a worker
# publishes the sends, so opening an outage on 5,000 projects does not publish 10,000 messages
# while the user waits.
FAN_OUT_ABOVE = 50
FAN_OUT_CHUNK = 500


def _publish_fan_out(ids: Sequence[int], *, urgent: bool) -> None:
    from . import tasks

    for start in range(0, len(ids), FAN_OUT_CHUNK):
        chunk = list(ids[start : start + FAN_OUT_CHUNK])
        try:
            (tasks.fan_out_pages if urgent else tasks.fan_out).apply_async(
                args=[chunk],
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
            )
        except Exception:  # noqa: BLE001 — any broker error; the sweeper is the safety net
            log.warning("Could not enqueue %s notifications; the sweeper will.", len(ids))
            return


class _CommitBatch:
    """The ids to publish when the current transaction commits: one on_commit callback per
    transaction however many services add to it (incidents pages 5,000 projects one call at a
    time). A batch whose callback Django dropped (the savepoint that registered it rolled back)
    is not reused, so ids of rolled-back rows are never published."""

    def __init__(self) -> None:
        self.ids: dict[bool, list[int]] = {True: [], False: []}

    def flush(self) -> None:
        # Rows written in a savepoint that rolled back were added too: publish only what exists.
        committed = set(
            Notification.objects.filter(pk__in=self.ids[True] + self.ids[False]).values_list(
                "pk", flat=True
            )
        )
        for urgent, ids in self.ids.items():
            ids = [i for i in ids if i in committed]
            if len(ids) > FAN_OUT_ABOVE:
                _publish_fan_out(ids, urgent=urgent)
            elif ids:
                _publish(ids, urgent=urgent)


_batches = threading.local()


def _current_batch() -> _CommitBatch | None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    batch = getattr(_batches, "batch", None)
    if batch is None or not any(entry[1] == batch.flush for entry in connection.run_on_commit):
        batch = _CommitBatch()
        _batches.batch = batch
        transaction.on_commit(batch.flush)
    return batch


def _enqueue_on_commit(notifications: Iterable[Notification], countdown: float | None = None):
    notifications = list(notifications)
    for urgent in (True, False):
        ids = [n.pk for n in notifications if (n.kind == Notification.Kind.PAGE) == urgent]
        _enqueue_ids_on_commit(ids, urgent=urgent, countdown=countdown)


def enqueue_on_commit(notifications: Iterable[Notification]) -> None:
    """Publish these rows' sends when the current transaction commits (the sweeper is the
    safety net if that never happens)."""
    _enqueue_on_commit(notifications)


def _enqueue_ids_on_commit(ids: list[int], *, urgent: bool, countdown: float | None = None):
    if not ids:
        return
    batch = _current_batch() if countdown is None else None
    if batch is not None:
        batch.ids[urgent].extend(ids)
    else:
        transaction.on_commit(lambda: _publish(ids, urgent=urgent, countdown=countdown))


# --- writing many rows fast -------------------------------------------------------------------


def _copy_escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _copy_converter(field: models.Field) -> Callable[[object], str]:
    """How one column's values are written in PostgreSQL's COPY text format."""
    if isinstance(field, models.JSONField):
        return lambda v: r"\N" if v is None else _copy_escape(json.dumps(v, separators=(",", ":")))
    if isinstance(field, models.BooleanField):
        return lambda v: r"\N" if v is None else ("t" if v else "f")
    if isinstance(field, models.DateTimeField):
        return lambda v: r"\N" if v is None else v.isoformat()
    if isinstance(field, models.IntegerField | models.ForeignKey):
        return lambda v: r"\N" if v is None else str(int(v))
    return lambda v: r"\N" if v is None else _copy_escape(str(v))


def rows_insert(model: type[models.Model], objs: list) -> list[int]:
    """Insert new instances with one PostgreSQL COPY (bulk_create on other databases), their ids
    taken from the table's sequence first so that the instances come back with their pks. Several
    times faster than bulk_create for the thousands of pages and notifications of a large outage,
    with the same guarantees: in the caller's transaction, every constraint checked (a duplicate
    raises IntegrityError), auto_now fields filled in. `objs` are instances (given their pks) or
    dicts of column values by attname (the fields' defaults fill the others). Returns the pks."""
    if not objs:
        return []
    as_dicts = isinstance(objs[0], dict)
    if connection.vendor != "postgresql":
        if as_dicts:
            objs = [model(**values) for values in objs]
        return [obj.pk for obj in model.objects.bulk_create(objs, batch_size=1000)]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    if as_dicts:
        defaults = {f.attname: f.get_default() for f in fields}
        objs = [defaults | values for values in objs]
        for values in objs:
            for f in stamped:
                values[f.attname] = timezone.now()
    else:
        for obj in objs:
            for f in stamped:
                f.pre_save(obj, add=True)
    columns = [meta.pk, *fields]
    convert = [_copy_converter(f) for f in columns]
    attnames = [f.attname for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(nextval(pg_get_serial_sequence(%s, %s))) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        [pks] = cursor.fetchone()
        for obj, pk in zip(objs, pks, strict=True):
            if as_dicts:
                obj[meta.pk.attname] = pk
            else:
                obj.pk = pk
        buffer = io.StringIO()
        for obj in objs:
            values = obj if as_dicts else obj.__dict__
            buffer.write("\t".join([c(values[a]) for c, a in zip(convert, attnames, strict=True)]))
            buffer.write("\n")
        buffer.seek(0)
        quoted = ", ".join(f'"{f.column}"' for f in columns)
        cursor.copy_expert(f'COPY "{meta.db_table}" ({quoted}) FROM STDIN', buffer)
    if not as_dicts:
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias
    return pks


# --- writing notifications --------------------------------------------------------------------


def _insert(rows: list[Notification]) -> list[Notification]:
    """Insert the rows whose key is new; returns those. Safe against a concurrent writer of the
    same keys (ON CONFLICT DO NOTHING), and then only the rows this call wrote are returned."""
    if not rows:
        return []
    keys = [r.idempotency_key for r in rows]
    existing = set(
        Notification.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    fresh = [r for r in rows if r.idempotency_key not in existing]
    if not fresh:
        return []
    if connection.vendor == "postgresql":
        # COPY is several times faster for an outage's thousands of rows, and as many statements
        # for one row as for thousands. A concurrent writer of one of these keys makes it fail as
        # a whole: then the path below, in the same transaction (the savepoint rolled back only
        # the COPY).
        try:
            with transaction.atomic():
                rows_insert(Notification, fresh)
        # COPY goes to the driver's cursor directly, so its error is the driver's own.
        except (IntegrityError, connection.Database.IntegrityError):
            for row in fresh:
                row.pk = None
                row._state.adding = True
        else:
            return fresh
    Notification.objects.bulk_create(fresh, ignore_conflicts=True)
    # ignore_conflicts leaves pks unset: read back what we wrote.
    return list(Notification.objects.filter(idempotency_key__in=[r.idempotency_key for r in fresh]))


def _notification_values(
    *,
    event_type_id,
    event_id,
    topic,
    kind,
    person,
    target,
    subject,
    body,
    link,
    round,
    now,
    project=None,
    page=None,
    state=Notification.State.PENDING,
    deliver_after=None,
    fallback_of=None,
) -> dict:
    """A new notification's column values (by attname): cheaper than a model instance when a
    large outage writes thousands of them (see `rows_insert`). `person` may be a person's id."""
    person_id = person if isinstance(person, int) else person.pk
    return {
        "event_type_id": event_type_id,
        "event_id": event_id,
        "topic": topic,
        "kind": kind,
        "recipient_id": person_id,
        "project_id": project.pk if project is not None else None,
        "contact_method_id": target.method_id,
        "channel": target.channel,
        "address": target.address,
        "subject": subject[:300],
        "body": body,
        "link": link[:500],
        "round": round,
        "idempotency_key": idempotency_key(
            event_type_id=event_type_id,
            event_id=event_id,
            topic=topic,
            person_id=person_id,
            target=target,
            round=round,
        ),
        "state": state,
        "deliver_after": deliver_after or now,
        "enqueued_at": now if state == Notification.State.PENDING else None,
        "page_id": page.pk if page is not None else None,
        "fallback_of_id": fallback_of.pk if fallback_of is not None else None,
        "created_at": now,
    }


def _new_notification(**fields) -> Notification:
    return Notification(**_notification_values(**fields))


def notices_send(
    *,
    event: models.Model,
    topic: str,
    recipients: Iterable[Person],
    subject: str,
    body: str,
    link: str = "",
    project: Project | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """A notice to each recipient over each contact method that takes notices. Idempotent on
    (event, topic, recipient, channel, round 0): a second call writes nothing and returns [].
    A notice outside the recipient's working hours is held until their next working start and
    then bundled with their other held notices into one digest (see `digests_release`)."""
    now = now or timezone.now()
    event_type_id = ContentType.objects.get_for_model(event).pk
    rows = []
    for person in _unique_people(recipients):
        if is_within_working_hours(person, now):
            state, deliver_after = Notification.State.PENDING, now
        else:
            start = next_working_start(person, now)
            # No working hours at all: nothing to wait for.
            state = Notification.State.HELD if start else Notification.State.PENDING
            deliver_after = start or now
        for target in targets_for(person, urgent=False):
            rows.append(
                _new_notification(
                    event_type_id=event_type_id,
                    event_id=event.pk,
                    topic=topic,
                    kind=Notification.Kind.NOTICE,
                    person=person,
                    target=target,
                    subject=subject,
                    body=body,
                    link=link,
                    round=0,
                    now=now,
                    project=project,
                    state=state,
                    deliver_after=deliver_after,
                )
            )
    written = _insert(rows)
    _enqueue_on_commit([n for n in written if n.state == Notification.State.PENDING])
    return written


@dataclass(frozen=True)
class Delivery:
    """A message to an address that is nobody's account: an anonymous subscriber, a project's
    outgoing webhook. `ref` names the owner of the address (`sub-12`, `hook-3`) and goes into the
    idempotency key, so a second call for the same event and topic writes nothing."""

    ref: str
    channel: str
    address: str
    body: str = ""
    webhook_endpoint_id: int | None = None


def message_key(*, event: models.Model, topic: str, ref: str, channel: str) -> str:
    """The idempotency key of a message to a bare address (see `messages_send`)."""
    event_type_id = ContentType.objects.get_for_model(event).pk
    key = f"m:{event_type_id}:{event.pk}:{topic}:{ref}:{channel}"
    if len(key) > 255:
        key = "m:h:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def messages_send(
    *,
    event: models.Model,
    topic: str,
    deliveries: Iterable[Delivery],
    subject: str,
    body: str = "",
    link: str = "",
    project: Project | None = None,
    now: datetime | None = None,
) -> list[Notification]:
    """A notice to each bare address, through the same rows, claims, retries and sweeper as
    every other notification; sent at once (an address has no working hours). A delivery's own
    `body` (an unsubscribe link, say) replaces the shared one. Idempotent on
    (event, topic, ref, channel)."""
    now = now or timezone.now()
    event_type_id = ContentType.objects.get_for_model(event).pk
    rows = []
    for delivery in deliveries:
        key = message_key(event=event, topic=topic, ref=delivery.ref, channel=delivery.channel)
        rows.append(
            Notification(
                event_type_id=event_type_id,
                event_id=event.pk,
                topic=topic,
                kind=Notification.Kind.NOTICE,
                recipient=None,
                project=project,
                channel=delivery.channel,
                address=delivery.address,
                subject=subject[:300],
                body=delivery.body or body,
                link=link[:500],
                idempotency_key=key,
                state=Notification.State.PENDING,
                deliver_after=now,
                enqueued_at=now,
                created_at=now,
                webhook_endpoint_id=delivery.webhook_endpoint_id,
            )
        )
    written = _insert(rows)
    _enqueue_on_commit(written)
    return written


def _unique_people(people: Iterable[Person]) -> list[Person]:
    seen: dict[int, Person] = {}
    for person in people:
        seen.setdefault(person.pk, person)
    return list(seen.values())


# --- pages and escalation ---------------------------------------------------------------------


def event_systems(event: models.Model | None) -> list:
    """The event's IT systems, read once per event object (an outage pages thousands of projects
    in one loop with the same instance)."""
    if event is None or not hasattr(event, "systems"):
        return []
    cached = getattr(event, "_steward_systems", None)
    if cached is None:
        cached = list(event.systems.all())
        event._steward_systems = cached
    return cached


def default_escalation_levels(
    project: Project, event: models.Model | None, at: datetime | None = None
) -> list[tuple[list[Person], timedelta]]:
    """The registry's escalation rules: the project's policy when it has one, else on-call →
    owners and maintainers → backups → the IT contacts of the event's systems."""
    systems = event_systems(event)
    return oncall.escalation_levels(project, systems, at, it_contacts=_it_contacts(event, systems))


def _default_escalation_many(
    projects: Sequence[Project], event: models.Model | None, at: datetime | None = None
) -> dict[int, tuple[list, int]]:
    """`default_escalation_levels` and the repeats for many projects in a fixed number of queries:
    project id → (levels, repeats)."""
    contacts = _it_contacts(event, event_systems(event))
    return {
        pid: (e.levels, e.repeats)
        for pid, e in oncall.escalation_many(projects, at, it_contacts=contacts).items()
    }


# A policy may offer a batch form as its `many` attribute (see `escalation_for_many`).
default_escalation_levels.many = _default_escalation_many


def _it_contacts(event: models.Model | None, systems: list) -> list[Person]:
    """The contacts of the event's IT systems: the same for every project of one event."""
    cached = getattr(event, "_steward_it_contacts", None)
    if cached is None:
        cached = (
            list(Person.objects.filter(it_systems__in=systems).distinct().order_by("id"))
            if systems
            else []
        )
        if event is not None:
            event._steward_it_contacts = cached
    return cached


def escalation_levels_for(
    project: Project, event: models.Model | None, at: datetime | None = None
) -> list[tuple[list[Person], timedelta]]:
    """The pluggable escalation policy (settings.STEWARD_ESCALATION_LEVELS): (people, delay
    before the next level) per level, without empty levels and with each person once per level.
    A policy may also return bare lists of people; they get the default delay."""
    return _clean_levels(import_string(settings.STEWARD_ESCALATION_LEVELS)(project, event, at))


def _clean_levels(levels: Iterable) -> list[tuple[list[Person], timedelta]]:
    result = []
    for level in levels:
        people, delay = level if isinstance(level, tuple) else (level, _escalation_delay())
        people = _unique_people(people)
        if people:
            result.append((people, delay))
    return result


def escalation_for_many(
    projects: Sequence[Project], event: models.Model | None, at: datetime | None = None
) -> dict[int, tuple[list[tuple[list[Person], timedelta]], int]]:
    """`escalation_levels_for` and `escalation_repeats_for` of many projects of one event:
    project id → (levels, repeats). Uses the policy's batch form (its `many` attribute: a callable
    `(projects, event, at) -> {project id: (levels, repeats)}`) when it has one, so an outage on
    thousands of projects asks in a fixed number of queries; else asks project by project."""
    policy = import_string(settings.STEWARD_ESCALATION_LEVELS)
    many = getattr(policy, "many", None)
    if many is None:
        return {
            p.pk: (escalation_levels_for(p, event, at), escalation_repeats_for(p)) for p in projects
        }
    return {
        pid: (_clean_levels(levels), repeats)
        for pid, (levels, repeats) in many(projects, event, at).items()
    }


def escalation_repeats_for(project: Project) -> int:
    return oncall.escalation_repeats(project)


def _escalation_delay() -> timedelta:
    return timedelta(seconds=settings.STEWARD_ESCALATION_DELAY_SECONDS)


def _page_topic(page: Page) -> str:
    return f"page.{page.project_id}"


def _level_rows(
    page: Page,
    people: dict[int, Person],
    *,
    now: datetime,
    build=_new_notification,
    targets: dict[int, list[Target]] | None = None,
) -> list:
    """The notifications of the page's current level: instances, or column values when `build`
    is `_notification_values`. `targets` caches each person's targets across pages."""
    rows = []
    for person_id in page.levels[page.level] if page.levels else []:
        person = people.get(person_id)
        if person is None:  # deleted since the page opened
            continue
        if targets is None or person_id not in targets:
            found = targets_for(person, urgent=True)
            if targets is not None:
                targets[person_id] = found
        else:
            found = targets[person_id]
        for target in found:
            rows.append(
                build(
                    event_type_id=page.event_type_id,
                    event_id=page.event_id,
                    topic=_page_topic(page),
                    kind=Notification.Kind.PAGE,
                    person=person,
                    target=target,
                    subject=page.subject,
                    body=page.body,
                    link=page.link,
                    round=page.step,
                    now=now,
                    project=page.project,
                    page=page,
                )
            )
    return rows


def _page_targets(person_ids: set[int]) -> dict[int, list[Target]]:
    """`targets_for(person, urgent=True)` of many people in two queries and no model instances,
    keyed by the ids of the people that exist."""
    targets: dict[int, list[Target]] = defaultdict(list)
    for person_id, kind, address, method_id in (
        ContactMethod.objects.filter(person_id__in=person_ids, for_pages=True)
        .order_by("person_id", "order", "id")
        .values_list("person_id", "kind", "address", "id")
    ):
        targets[person_id].append(Target(CHANNEL_OF_KIND[kind], address, method_id))
    for person_id, email in Person.objects.filter(pk__in=person_ids - targets.keys()).values_list(
        "id", "email"
    ):
        targets[person_id] = [Target(Channel.EMAIL, email, None)] if email else []
    return dict(targets)


def _people(ids: Iterable[int]) -> dict[int, Person]:
    return Person.objects.prefetch_related("contact_methods").in_bulk(list(set(ids)))


def _page_level(page: Page, *, now: datetime) -> list[Notification]:
    """Write the notifications of the page's current level (idempotent on its step)."""
    ids = page.levels[page.level] if page.levels else []
    written = _insert(_level_rows(page, _people(ids), now=now))
    _enqueue_on_commit(written)
    return written


def _has_next(page: Page) -> bool:
    last = page.repeats == page.round and page.level == len(page.levels) - 1
    return bool(page.levels) and not last


def _delay_after(page: Page) -> timedelta:
    if page.delays and page.level < len(page.delays):
        return timedelta(seconds=page.delays[page.level])
    return _escalation_delay()


@dataclass(frozen=True)
class PageRequest:
    project: Project
    subject: str
    body: str


def pages_open(
    *,
    event: models.Model,
    project: Project,
    subject: str,
    body: str,
    link: str = "",
    now: datetime | None = None,
) -> Page:
    """Page the project's first escalation level now, day or night, and start the timer.
    Idempotent per (event, project): a second call returns the existing page and writes nothing."""
    [page] = pages_open_many(
        event=event, requests=[PageRequest(project, subject, body)], link=link, now=now
    )
    return page


def pages_open_many(
    *,
    event: models.Model,
    requests: Iterable[PageRequest],
    link: str = "",
    now: datetime | None = None,
) -> list[Page]:
    """`pages_open` for many projects of one event at once: the pages, their first level's people
    and notifications are written in a few statements whatever the number of projects (the
    escalation policy is asked once for all of them when it has a batch form). Returns the pages
    in request order."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event)
    requests = list({r.project.pk: r for r in requests}.values())
    existing = {
        p.project_id: p
        for p in Page.objects.filter(
            event_type=event_type,
            event_id=event.pk,
            project_id__in=[r.project.pk for r in requests],
        )
    }
    fresh = []
    escalations = escalation_for_many(
        [r.project for r in requests if r.project.pk not in existing], event, now
    )
    for request in requests:
        if request.project.pk in existing:
            continue
        levels, repeats = escalations[request.project.pk]
        page = Page(
            event_type=event_type,
            event_id=event.pk,
            project=request.project,
            subject=request.subject[:300],
            body=request.body,
            link=link[:500],
            levels=[[p.pk for p in people] for people, _delay in levels],
            delays=[int(delay.total_seconds()) for _people, delay in levels],
            repeats=repeats,
            opened_at=now,
        )
        page.next_escalation_at = now + _delay_after(page) if _has_next(page) else None
        fresh.append(page)
    if fresh:
        try:
            with transaction.atomic():
                rows_insert(Page, fresh)
        except IntegrityError:
            # Someone opened one of these pages meanwhile: one at a time, keeping theirs.
            return [
                pages_open_many(event=event, requests=[r], link=link, now=now)[0] for r in requests
            ]
        targets = _page_targets(
            {pid for page in fresh for pid in (page.levels[0] if page.levels else [])}
        )
        people = {pid: pid for pid in targets}  # person ids stand in for people here
        rows = [
            row
            for page in fresh
            for row in _level_rows(
                page, people, now=now, build=_notification_values, targets=targets
            )
        ]
        _enqueue_ids_on_commit(rows_insert(Notification, rows), urgent=True)
    by_project = existing | {page.project_id: page for page in fresh}
    return [by_project[r.project.pk] for r in requests]


def page_escalate(*, page: Page, now: datetime) -> bool:
    """Move a due open page to its next level and page it. The caller holds the row lock.
    Returns False when the page has run out of levels and repeats (it stays open, unacked)."""
    if not _has_next(page):
        page.next_escalation_at = None
        page.save(update_fields=["next_escalation_at"])
        return False
    page.level += 1
    if page.level >= len(page.levels):
        page.level, page.round = 0, page.round + 1
    page.step += 1
    page.next_escalation_at = now + _delay_after(page) if _has_next(page) else None
    page.save(update_fields=["level", "round", "step", "next_escalation_at"])
    _page_level(page, now=now)
    return True


def _cancel_unsent(pages: Iterable[int]) -> int:
    return Notification.objects.filter(
        page_id__in=list(pages), state__in=[Notification.State.PENDING, Notification.State.HELD]
    ).update(state=Notification.State.CANCELLED, lease_token="")  # nosec B106: a lease id, not a password


@transaction.atomic
def page_ack(*, page: Page, person: Person | None, via: str, now: datetime | None = None) -> Page:
    """Acknowledge: stop the page's escalation and cancel what it has not sent yet. Harmless on a
    page already acknowledged or stopped (returns it unchanged)."""
    now = now or timezone.now()
    locked = Page.objects.select_for_update().get(pk=page.pk)
    if locked.state != Page.State.OPEN:
        return locked
    locked.state = Page.State.ACKNOWLEDGED
    locked.acknowledged_at = now
    locked.acknowledged_by = person
    locked.acknowledged_via = via[:16]
    locked.next_escalation_at = None
    locked.save(
        update_fields=[
            "state",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_via",
            "next_escalation_at",
        ]
    )
    _cancel_unsent([locked.pk])
    from .webhook_services import webhooks_emit_ack

    webhooks_emit_ack(page=locked, now=now)
    return locked


@transaction.atomic
def pages_stop(
    *, event: models.Model, reason: str = "resolved", now: datetime | None = None
) -> int:
    """Stop every open page of the event (resolution, cancellation) and cancel what they have not
    sent yet; returns how many pages stopped."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event)
    ids = list(
        Page.objects.select_for_update()
        .filter(event_type=event_type, event_id=event.pk, state=Page.State.OPEN)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    Page.objects.filter(pk__in=ids).update(
        state=Page.State.STOPPED, stopped_at=now, stop_reason=reason[:100], next_escalation_at=None
    )
    _cancel_unsent(ids)
    return len(ids)


def may_ack(user, page: Page) -> bool:
    """Who may acknowledge on the web or the API: anyone paged for it, the project's people,
    IT staff."""
    if not user.is_authenticated:
        return False
    if is_it_staff(user):
        return True
    person = getattr(user, "person", None)
    if person is None:
        return False
    return (
        any(person.pk in level for level in page.levels)
        or ProjectRole.objects.filter(project_id=page.project_id, person=person).exists()
    )


def page_ack_by_user(*, actor, page: Page, via: str, now: datetime | None = None) -> Page:
    if not may_ack(actor, page):
        raise PermissionDenied("Only the people paged, the project's people or IT staff ack.")
    return page_ack(page=page, person=getattr(actor, "person", None), via=via, now=now)


def notification_ack(*, actor, notification: Notification, now: datetime | None = None) -> Page:
    """The API's `notifications/{id}/ack/`: acknowledge the page this notification belongs to."""
    if notification.page_id is None:
        raise Conflict("Only a page can be acknowledged; this is a notice.", code="not_a_page")
    return page_ack_by_user(actor=actor, page=notification.page, via="api", now=now)


# --- signed acknowledge links -----------------------------------------------------------------


class AckLinkError(Exception):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def ack_token(*, page: Page | int, person: Person | int) -> str:
    """A signed token that acknowledges one page as one person, and nothing else."""
    page_id = page if isinstance(page, int) else page.pk
    person_id = person if isinstance(person, int) else person.pk
    return signing.dumps({"page": page_id, "person": person_id}, salt=ACK_SALT, compress=False)


def ack_url(*, page: Page | int, person: Person | int) -> str:
    return f"{settings.SITE_URL}/notifications/ack/{ack_token(page=page, person=person)}/"


def ack_link_resolve(token: str) -> tuple[Page, Person | None]:
    """The page and person a token names; AckLinkError (400 forged, 410 expired/gone) otherwise."""
    try:
        data = signing.loads(
            token, salt=ACK_SALT, max_age=settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise AckLinkError(
            "This acknowledge link has expired. Sign in to acknowledge the page.", status=410
        ) from exc
    except signing.BadSignature as exc:
        raise AckLinkError(
            "This acknowledge link is not valid: it was altered or is not an acknowledge link.",
            status=400,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("page"), int):
        raise AckLinkError("This acknowledge link is not valid.", status=400)
    page = Page.objects.select_related("project").filter(pk=data["page"]).first()
    if page is None:
        raise AckLinkError("The page this link acknowledges no longer exists.", status=410)
    person = Person.objects.filter(pk=data.get("person")).first()
    return page, person


def ack_link_use(*, token: str, now: datetime | None = None) -> Page:
    page, person = ack_link_resolve(token)
    return page_ack(page=page, person=person, via="link", now=now)


# --- sending ----------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    return Q(
        state=Notification.State.PENDING,
        deliver_after__lte=now,
    ) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) | Q(
        state=Notification.State.SENDING, lease_expires_at__lt=now
    )


def notifications_claim(*, notification_ids: Sequence[int], now: datetime) -> list[Notification]:
    """Take rows for sending with ONE conditional UPDATE: only a due pending row, or a sending
    row whose lease expired (its worker died), moves to `sending` with a fresh lease. Two workers
    racing for a row: exactly one gets it. Returns the rows this call took, in id order, with
    what sending needs (one more query)."""
    token = uuid.uuid4().hex
    claimed = (
        Notification.objects.filter(pk__in=list(notification_ids))
        .filter(_claimable(now))
        .update(
            state=Notification.State.SENDING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS),
            attempts=models.F("attempts") + 1,
        )
    )
    if not claimed:
        return []
    return list(
        # The recipient is read only if a send fails for good (to fall back); the page only for
        # its state.
        Notification.objects.select_related("page", "project", "event_type", "webhook_endpoint")
        .defer("page__levels", "page__delays", "page__body", "page__subject")
        .filter(pk__in=list(notification_ids), lease_token=token)
        .order_by("id")
    )


def notification_claim(*, notification_id: int, now: datetime) -> Notification | None:
    """`notifications_claim` for one row: the row, or None when another worker has it (or it is
    not due, or already sent)."""
    claimed = notifications_claim(notification_ids=[notification_id], now=now)
    return claimed[0] if claimed else None


def retry_delay(*, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    base = settings.STEWARD_RETRY_BASE_SECONDS
    cap = settings.STEWARD_RETRY_MAX_SECONDS
    backoff = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = backoff / 2 + random.uniform(0, backoff / 2)  # nosec B311: retry jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _finish(notification: Notification, **fields) -> bool:
    """Write the outcome only if we still hold the lease (a slow worker whose lease expired and
    whose row another worker re-took must not overwrite it)."""
    return bool(
        Notification.objects.filter(
            pk=notification.pk,
            state=Notification.State.SENDING,
            lease_token=notification.lease_token,
        ).update(lease_expires_at=None, lease_token="", **fields)  # nosec B106: a lease id
    )


def _finish_sent(notification: Notification, *, started: datetime, latency: int, status) -> bool:
    """`_finish(state=sent)` and its DeliveryAttempt row in ONE statement (atomic on its own):
    the same conditional update on the lease, and the attempt written only when it matched. The
    ORM's two statements and transaction cost a fast send several times more. PostgreSQL only
    (SQLite has no UPDATE in a WITH): see `_send_claimed`."""
    sql = (
        "WITH done AS (UPDATE notifications_notification SET state = %s, sent_at = %s, "
        "lease_expires_at = NULL, lease_token = '' "
        "WHERE id = %s AND state = %s AND lease_token = %s RETURNING id) "
        "INSERT INTO notifications_deliveryattempt (notification_id, number, started_at, "
        "latency_ms, outcome, status_code, error) "
        "SELECT id, %s, %s, %s, %s, %s, '' FROM done"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                Notification.State.SENT,
                timezone.now(),
                notification.pk,
                Notification.State.SENDING,
                notification.lease_token,
                notification.attempts,
                started,
                latency,
                DeliveryAttempt.Outcome.SENT,
                status,
            ],
        )
        return cursor.rowcount == 1


def notification_send(
    *,
    notification_id: int,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> str:
    """Claim, deliver over the channel, record the attempt, then: sent; or pending again after a
    backoff (transient error, attempts left); or failed and handed to the person's next contact
    method (permanent error, or no attempts left). Safe to run twice: the second run finds the
    row claimed or sent and does nothing. Returns what happened."""
    now = now or timezone.now()
    notification = notification_claim(notification_id=notification_id, now=now)
    if notification is None:
        return "skipped"
    return _send_claimed(notification, now=now)


def _longest_send() -> float:
    """The longest one delivery may take before its channel gives up (its timeouts)."""
    return max(
        settings.STEWARD_WEBHOOK_CONNECT_TIMEOUT + settings.STEWARD_WEBHOOK_READ_TIMEOUT,
        float(settings.EMAIL_TIMEOUT or 0),
    )


def notifications_send(
    *, notification_ids: Sequence[int], now: datetime | None = None
) -> dict[str, int]:
    """`notification_send` for several rows with one claim (one conditional UPDATE for all of
    them, one read): the per-message cost of a large fan-out. Each row is then delivered and
    finished on its own, as `notification_send` does, so a worker killed midway re-sends at most
    the row in flight. Rows still waiting when the lease could run out before they are done are
    released (pending again, their attempt not counted) and re-published, so a slow receiver
    never lets a lease expire under a row this worker still means to send. Returns how many rows
    ended each way."""
    now = now or timezone.now()
    outcomes: dict[str, int] = defaultdict(int)
    claimed = notifications_claim(notification_ids=notification_ids, now=now)
    outcomes["skipped"] = len(set(notification_ids)) - len(claimed)
    deadline = time.monotonic() + settings.STEWARD_LEASE_SECONDS - _longest_send() - 1
    for index, notification in enumerate(claimed):
        if index and time.monotonic() > deadline:
            rest = [n.pk for n in claimed[index:]]
            Notification.objects.filter(
                pk__in=rest,
                state=Notification.State.SENDING,
                lease_token=notification.lease_token,
            ).update(
                state=Notification.State.PENDING,
                lease_token="",  # nosec B106: a lease id, not a password
                lease_expires_at=None,
                attempts=models.F("attempts") - 1,
                enqueued_at=timezone.now(),
            )
            _publish(rest, urgent=notification.kind == Notification.Kind.PAGE)
            outcomes["released"] += len(rest)
            break
        outcomes[_send_claimed(notification, now=now)] += 1
    return dict(outcomes)


def _send_claimed(notification: Notification, *, now: datetime) -> str:
    from . import channels

    # Pages acknowledged or stopped since the row was written are not sent.
    if notification.page_id and notification.page.state != Page.State.OPEN:
        _finish(notification, state=Notification.State.CANCELLED)
        return "cancelled"
    # Nor deliveries to an outgoing webhook disabled since.
    if notification.webhook_endpoint_id and not notification.webhook_endpoint.is_active:
        _finish(notification, state=Notification.State.CANCELLED, last_error="Endpoint disabled.")
        return "cancelled"
    started = timezone.now()
    try:
        status_code = channels.deliver(notification)
    except channels.DeliveryError as exc:
        latency = _ms_since(started)
        return _failed(notification, exc, started=started, latency=latency, now=now)
    latency = _ms_since(started)
    if notification.kind != Notification.Kind.DIGEST and connection.vendor == "postgresql":
        sent = _finish_sent(notification, started=started, latency=latency, status=status_code)
        return "sent" if sent else "lost-lease"
    # A digest also marks what it bundled; SQLite (the one-command demo) cannot run
    # `_finish_sent`'s single statement. Both take the two writes in a transaction.
    with transaction.atomic():
        if not _finish(notification, state=Notification.State.SENT, sent_at=timezone.now()):
            return "lost-lease"
        DeliveryAttempt.objects.create(
            notification=notification,
            number=notification.attempts,
            started_at=started,
            latency_ms=latency,
            outcome=DeliveryAttempt.Outcome.SENT,
            status_code=status_code,
        )
        if notification.kind == Notification.Kind.DIGEST:
            notification.bundled.update(state=Notification.State.SENT, sent_at=timezone.now())
    return "sent"


def _ms_since(started: datetime) -> int:
    return max(0, int((timezone.now() - started).total_seconds() * 1000))


def _failed(notification: Notification, exc, *, started, latency: int, now: datetime) -> str:
    from . import channels

    attempts_left = notification.attempts < settings.STEWARD_DELIVERY_MAX_ATTEMPTS
    retry = isinstance(exc, channels.TransientError) and attempts_left
    error = str(exc)[:2000]
    with transaction.atomic():
        if retry:
            delay = retry_delay(attempt=notification.attempts, retry_after=exc.retry_after)
            fields = {
                "state": Notification.State.PENDING,
                "next_attempt_at": now + timedelta(seconds=delay),
                "enqueued_at": now + timedelta(seconds=delay),
                "last_error": error,
            }
        else:
            fields = {"state": Notification.State.FAILED, "last_error": error}
        if not _finish(notification, **fields):
            return "lost-lease"
        DeliveryAttempt.objects.create(
            notification=notification,
            number=notification.attempts,
            started_at=started,
            latency_ms=latency,
            outcome=DeliveryAttempt.Outcome.RETRY if retry else DeliveryAttempt.Outcome.FAILED,
            status_code=exc.status_code,
            error=error,
        )
        if retry:
            _enqueue_on_commit([notification], countdown=delay)
            return "retry"
        notification_fall_back(notification=notification, now=now)
    return "failed"


def notification_fall_back(*, notification: Notification, now: datetime) -> Notification | None:
    """After a notification failed for good, the same message to the person's next contact method
    (one not yet used for this message). Idempotent: the key names the new channel. A message to
    a bare address (no person) has nothing to fall back on."""
    if notification.recipient_id is None:
        return None
    siblings = Notification.objects.filter(
        event_type_id=notification.event_type_id,
        event_id=notification.event_id,
        topic=notification.topic,
        recipient_id=notification.recipient_id,
        round=notification.round,
        kind=notification.kind,
    )
    if notification.kind == Notification.Kind.DIGEST:
        siblings = siblings.filter(deliver_after=notification.deliver_after)
    used = {
        Target(c, a, m).ref
        for c, a, m in siblings.values_list("channel", "address", "contact_method_id")
    }
    target = _fallback_target(notification.recipient, used)
    if target is None:
        return None
    fallback = _new_notification(
        event_type_id=notification.event_type_id,
        event_id=notification.event_id,
        topic=notification.topic,
        kind=notification.kind,
        person=notification.recipient,
        target=target,
        subject=notification.subject,
        body=notification.body,
        link=notification.link,
        round=notification.round,
        now=now,
        project=notification.project,
        page=notification.page,
        fallback_of=notification,
    )
    if notification.kind == Notification.Kind.DIGEST:
        fallback.idempotency_key = _digest_key(
            notification.recipient_id, target, notification.deliver_after
        )
    written = _insert([fallback])
    if written and notification.kind == Notification.Kind.DIGEST:
        notification.bundled.update(digest=written[0])
    _enqueue_on_commit(written)
    return written[0] if written else None


# --- the sweeper ------------------------------------------------------------------------------


@dataclass
class SweepResult:
    enqueued: int = 0
    escalated: int = 0
    digests: int = 0


def _digest_key(person_id: int, target: Target, at: datetime) -> str:
    return f"digest:p{person_id}:{target.ref}:{at.strftime('%Y%m%dT%H%M%SZ')}"


def digests_release(*, now: datetime) -> list[Notification]:
    """Held notices whose time has come: one digest per person and contact channel, holding all
    of that person's held notices (whatever their events). Rows are locked with SKIP LOCKED, so
    two sweepers bundle each notice once."""
    with transaction.atomic():
        held = list(
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=Notification.State.HELD, digest__isnull=True, deliver_after__lte=now)
            .select_related("recipient")
            .order_by("recipient_id", "created_at", "id")[: settings.STEWARD_SWEEP_BATCH]
        )
        groups: dict[tuple[int, Target], list[Notification]] = defaultdict(list)
        for n in held:
            groups[(n.recipient_id, Target(n.channel, n.address, n.contact_method_id))].append(n)
        digests = []
        for (person_id, target), notices in groups.items():
            person = notices[0].recipient
            at = max(n.deliver_after for n in notices)
            lines = [f"{len(notices)} notices while you were away:", ""]
            for n in notices:
                lines += [f"• {n.subject}", *(f"  {line}" for line in n.body.splitlines()[:6])]
                if n.link:
                    lines.append(f"  {n.link}")
                lines.append("")
            digest = Notification(
                topic="digest",
                kind=Notification.Kind.DIGEST,
                recipient=person,
                contact_method_id=target.method_id,
                channel=target.channel,
                address=target.address,
                subject=f"Steward digest: {len(notices)} notices"
                if len(notices) > 1
                else notices[0].subject,
                body="\n".join(lines).strip(),
                link=notices[0].link if len(notices) == 1 else "",
                idempotency_key=_digest_key(person_id, target, at),
                deliver_after=at,
                enqueued_at=now,
                created_at=now,
            )
            written = _insert([digest])
            if not written:  # a digest for that person and moment exists: join it
                written = [Notification.objects.get(idempotency_key=digest.idempotency_key)]
            Notification.objects.filter(pk__in=[n.pk for n in notices]).update(digest=written[0])
            digests.extend(written)
        _enqueue_on_commit(digests)
    return digests


def escalations_advance(*, now: datetime) -> int:
    """Open pages whose timer is due go to their next level. SKIP LOCKED: a page being
    acknowledged right now is left alone, and two sweepers never escalate one page twice."""
    escalated = 0
    with transaction.atomic():
        due = list(
            Page.objects.select_for_update(skip_locked=True)
            .filter(state=Page.State.OPEN, next_escalation_at__lte=now)
            .order_by("next_escalation_at")[: settings.STEWARD_SWEEP_BATCH]
        )
        for page in due:
            escalated += page_escalate(page=page, now=now)
    return escalated


def stale_enqueue(*, now: datetime) -> int:
    """Re-publish rows a lost message or a dead worker left: due pending rows with no message for
    a while, and sending rows whose lease expired."""
    stale = now - timedelta(seconds=settings.STEWARD_REENQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(
                Q(
                    state=Notification.State.PENDING,
                    deliver_after__lte=now,
                    enqueued_at__lte=stale,
                )
                & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                | Q(state=Notification.State.SENDING, lease_expires_at__lt=now)
            )
            .only("id", "kind")
            .order_by("deliver_after", "id")[: settings.STEWARD_SWEEP_BATCH]
        )
        if rows:
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(enqueued_at=now)
            _enqueue_on_commit(rows)
    return len(rows)


def sweep(*, now: datetime | None = None) -> SweepResult:
    """The periodic safety net (beat, every 15 s)."""
    now = now or timezone.now()
    result = SweepResult()
    result.digests = len(digests_release(now=now))
    result.escalated = escalations_advance(now=now)
    result.enqueued = stale_enqueue(now=now)
    return result
