"""Pages: open them (many projects of one event in a few statements), escalate them level by
level, acknowledge or stop them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from registry.models import ContactMethod, Person, Project, ProjectRole
from registry.permissions import is_it_staff
from steward.errors import Conflict

from ..events import Event
from ..models import Channel, Notification, Page
from .enqueue import _enqueue_ids_on_commit, _enqueue_on_commit
from .escalation import _escalation_delay, escalation_for_many
from .outbox import (
    CHANNEL_OF_KIND,
    Target,
    _insert,
    _new_notification,
    _notification_values,
    rows_insert,
    targets_for,
)


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
    event: Event,
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
    event: Event,
    requests: Iterable[PageRequest],
    link: str = "",
    now: datetime | None = None,
) -> list[Page]:
    """`pages_open` for many projects of one event at once: the pages, their first level's people
    and notifications are written in a few statements whatever the number of projects (the
    escalation policy is asked once for all of them when it has a batch form). Returns the pages
    in request order. The escalation reaches the IT contacts of the event's systems (`Event`); a
    bare model instance is an event about no IT system."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event.instance)
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
    # The apps above the pipeline say what else an acknowledgement does (incidents: send
    # `outage.acknowledged` to the webhooks), in the same transaction; the settings wire them in.
    for acknowledged in settings.STEWARD_PAGE_ACKNOWLEDGED:
        import_string(acknowledged)(page=locked, now=now)
    return locked


@transaction.atomic
def pages_stop(*, event: Event, reason: str = "resolved", now: datetime | None = None) -> int:
    """Stop every open page of the event (resolution, cancellation) and cancel what they have not
    sent yet; returns how many pages stopped."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event.instance)
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
