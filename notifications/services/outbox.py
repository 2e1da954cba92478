"""Outbox rows: where a message goes (a person's contact channels), the idempotency keys that
make every write safe to repeat, and the fast insert of many rows in the event's transaction."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from registry.models import ContactMethod, Person

from ..events import Event
from ..models import Channel, Notification

CHANNEL_OF_KIND = {
    ContactMethod.Kind.EMAIL: Channel.EMAIL,
    ContactMethod.Kind.WEBHOOK: Channel.WEBHOOK,
    ContactMethod.Kind.SLACK: Channel.SLACK,
    ContactMethod.Kind.SLACK_USER: Channel.SLACK_DM,
    ContactMethod.Kind.TEAMS: Channel.TEAMS,
    ContactMethod.Kind.SMS: Channel.SMS,
    ContactMethod.Kind.PHONE: Channel.VOICE,
    ContactMethod.Kind.APPRISE: Channel.APPRISE,
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


def _fallback_target(person: Person, used_refs: set[str], *, urgent: bool) -> Target | None:
    """The person's next contact method for this kind of message not yet tried for it: only
    methods they chose for pages (`urgent`) or for notices, never one they turned off for it."""
    for target in targets_for(person, urgent=urgent):
        if target.ref not in used_refs:
            return target
    return None


def _unique_people(people: Iterable[Person]) -> list[Person]:
    seen: dict[int, Person] = {}
    for person in people:
        seen.setdefault(person.pk, person)
    return list(seen.values())


# --- idempotency keys -------------------------------------------------------------------------


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


def message_key(*, event: Event, topic: str, ref: str, channel: str) -> str:
    """The idempotency key of a message to a bare address (see `messages_send`)."""
    instance = event.instance
    event_type_id = ContentType.objects.get_for_model(instance).pk
    key = f"m:{event_type_id}:{instance.pk}:{topic}:{ref}:{channel}"
    if len(key) > 255:
        key = "m:h:" + hashlib.sha256(key.encode()).hexdigest()
    return key


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
    if isinstance(field, ArrayField) and isinstance(field.base_field, models.IntegerField):
        return lambda v: r"\N" if v is None else "{" + ",".join(str(int(i)) for i in v) + "}"
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
    """Insert new instances with one PostgreSQL COPY, their ids taken from the table's sequence first so that the instances come back with their pks. Several
    times faster than bulk_create for the thousands of pages and notifications of a large outage,
    with the same guarantees: in the caller's transaction, every constraint checked (a duplicate
    raises IntegrityError), auto_now fields filled in. `objs` are instances (given their pks) or
    dicts of column values by attname (the fields' defaults fill the others). Returns the pks."""
    if not objs:
        return []
    as_dicts = isinstance(objs[0], dict)
    meta = model._meta
    # PostgreSQL computes generated columns: COPY may not name them.
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
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
        Notification.objects.filter(idempotency_key__any=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    fresh = [r for r in rows if r.idempotency_key not in existing]
    if not fresh:
        return []
    # COPY is several times faster for an outage's thousands of rows, and as many statements for
    # one row as for thousands. A concurrent writer of one of these keys makes it fail as a whole:
    # then ON CONFLICT DO NOTHING below, in the same transaction (the savepoint rolled back only
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
    return list(
        Notification.objects.filter(idempotency_key__any=[r.idempotency_key for r in fresh])
    )


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
    pages=None,
    state=Notification.State.PENDING,
    deliver_after=None,
    fallback_of=None,
) -> dict:
    """A new notification's column values (by attname): cheaper than a model instance when a
    large outage writes thousands of them (see `rows_insert`). `person` may be a person's id.
    `pages` are the pages a page's message lists (default: `page` alone, or all that the message
    it falls back for listed)."""
    person_id = person if isinstance(person, int) else person.pk
    if pages is not None:
        page_ids = [p.pk for p in pages]
    elif fallback_of is not None and fallback_of.page_ids:
        page_ids = list(fallback_of.page_ids)
    else:
        page_ids = [page.pk] if page is not None else []
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
        "page_ids": page_ids,
        "fallback_of_id": fallback_of.pk if fallback_of is not None else None,
        "created_at": now,
    }


def _new_notification(**fields) -> Notification:
    return Notification(**_notification_values(**fields))
