"""Pages: open them (many projects of one event in a few statements), escalate them level by
level, acknowledge or stop them.

One page per person per event. A `Page` is one project × one event, with its own levels and
escalation timer. The messages are per person: the pages of one event that reach a person at the
same moment (opened together, or escalated by the same sweep) are listed in one notification per
contact channel (`Notification.page_ids`), and one acknowledgement from it covers every page it
lists. Pages nobody acknowledged keep escalating, project by project."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.module_loading import import_string

from registry.models import ContactMethod, Person, Project, ProjectRole
from registry.permissions import is_it_staff
from steward.errors import Conflict

from ..events import Event
from ..models import Channel, Notification, Page
from ..selectors import ack_group
from .enqueue import _enqueue_ids_on_commit, _enqueue_on_commit
from .escalation import _escalation_delay, escalation_for_many
from .outbox import (
    CHANNEL_OF_KIND,
    Target,
    _insert,
    _notification_values,
    rows_insert,
)

# A message listing several projects names this many in its subject and describes this many in
# its body; the rest are counted ("+12 more") and the event's link lists them all.
SUBJECT_NAMES = 3
BODY_PROJECTS = 25


def _project_url(project: Project) -> str:
    try:
        return settings.SITE_URL + reverse("registry:project_detail", args=[project.slug])
    except NoReverseMatch:
        return ""


_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class _ProjectLinks:
    """Project page URLs for the messages of one batch of pages: the route reversed once, then
    each slug put in (a slug is the route's own pattern, so it needs no quoting; anything else
    goes through reverse). A 10,000-project outage reversed the same route 15,570 times, a sixth
    of opening it."""

    PLACEHOLDER = "steward-slug-placeholder"

    def __init__(self) -> None:
        self.prefix, self.suffix = "", None
        path = _project_url(Project(slug=self.PLACEHOLDER))
        if path.count(self.PLACEHOLDER) == 1:
            self.prefix, self.suffix = path.split(self.PLACEHOLDER)

    def __call__(self, project: Project) -> str:
        if self.suffix is None or not _SLUG.fullmatch(project.slug):
            return _project_url(project)
        return f"{self.prefix}{project.slug}{self.suffix}"


def _message(pages: list[Page], links: _ProjectLinks) -> tuple[str, str]:
    """Subject and body of one message listing `pages` (one event, in the order listed)."""
    if len(pages) == 1:
        return pages[0].subject, pages[0].body
    headline = pages[0].headline
    names = [p.project.name for p in pages]
    shown = ", ".join(names[:SUBJECT_NAMES])
    if len(names) > SUBJECT_NAMES:
        shown += f" +{len(names) - SUBJECT_NAMES} more"
    subject = f"{len(pages)} apps down: {shown}" + (f" — {headline}" if headline else "")
    lines = [headline, ""] if headline else []
    lines.append(f"You are paged for {len(pages)} apps you support:")
    for page in pages[:BODY_PROJECTS]:
        lines += ["", f"* {page.project.name}  {links(page.project)}".rstrip()]
        details = page.body.splitlines() if headline else [page.subject, *page.body.splitlines()]
        lines += [f"  {line}" if line else "" for line in details]
    if len(pages) > BODY_PROJECTS:
        lines += ["", f"… and {len(pages) - BODY_PROJECTS} more: see the event's page."]
    lines += ["", "One acknowledgement covers them all; escalation stops for every one of them."]
    return subject[:300], "\n".join(lines)


def _level_rows(pages: Iterable[Page], targets: dict[int, list[Target]], *, now: datetime):
    """The messages of the pages' current levels as column values (see `rows_insert`): one per
    person per contact channel per event, listing every page of that event that pages the person
    now (by project name). Its idempotency key is that of the first page listed at its step
    (`page.<project id>`, round = step): a page reaches a step once, and is listed once for a
    person at it, so the key is unique and a retry of the same step writes nothing new.
    `targets` are the people's contact channels (`_page_targets`); a person missing there
    (deleted since the page opened) is skipped. The pages' `project` must be loaded."""
    groups: dict[tuple[int, int, int], list[Page]] = defaultdict(list)
    for page in pages:
        for person_id in page.levels[page.level] if page.levels else []:
            if person_id in targets:
                groups[(page.event_type_id, page.event_id, person_id)].append(page)
    rows = []
    links = _ProjectLinks()
    for (event_type_id, event_id, person_id), group in groups.items():
        group.sort(key=lambda p: (p.project.name.casefold(), p.pk))
        first = group[0]
        subject, body = _message(group, links)
        for target in targets[person_id]:
            rows.append(
                _notification_values(
                    event_type_id=event_type_id,
                    event_id=event_id,
                    topic=f"page.{first.project_id}",
                    kind=Notification.Kind.PAGE,
                    person=person_id,
                    target=target,
                    subject=subject,
                    body=body,
                    link=first.link,
                    round=first.step,
                    now=now,
                    project=first.project,
                    page=first,
                    pages=group,
                )
            )
    return rows


def _page_targets(person_ids: set[int]) -> dict[int, list[Target]]:
    """`targets_for(person, urgent=True)` of many people in two queries and no model instances,
    keyed by the ids of the people that exist."""
    targets: dict[int, list[Target]] = defaultdict(list)
    for person_id, kind, address, method_id in (
        ContactMethod.objects.filter(person_id__any=person_ids, for_pages=True)
        .order_by("person_id", "order", "id")
        .values_list("person_id", "kind", "address", "id")
    ):
        targets[person_id].append(Target(CHANNEL_OF_KIND[kind], address, method_id))
    for person_id, email in Person.objects.filter(pk__any=person_ids - targets.keys()).values_list(
        "id", "email"
    ):
        targets[person_id] = [Target(Channel.EMAIL, email, None)] if email else []
    return dict(targets)


def _current_people(pages: Iterable[Page]) -> set[int]:
    return {pid for page in pages for pid in (page.levels[page.level] if page.levels else [])}


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
    # (levels, repeats) when the responders are not the project's own: an IT system's on-call,
    # paged about the project by its owner (`escalation_for_system`). None: the project's policy.
    escalation: tuple[list[tuple[list[Person], timedelta]], int] | None = None


def pages_open(
    *,
    event: Event,
    project: Project,
    subject: str,
    body: str,
    link: str = "",
    escalation: tuple[list[tuple[list[Person], timedelta]], int] | None = None,
    now: datetime | None = None,
) -> Page:
    """Page the project's first escalation level now, day or night, and start the timer.
    Idempotent per (event, project): a second call returns the existing page and writes nothing.
    `escalation` replaces the project's levels (see `PageRequest`)."""
    [page] = pages_open_many(
        event=event,
        requests=[PageRequest(project, subject, body, escalation)],
        link=link,
        now=now,
    )
    return page


def pages_open_many(
    *,
    event: Event,
    requests: Iterable[PageRequest],
    link: str = "",
    headline: str = "",
    now: datetime | None = None,
) -> list[Page]:
    """`pages_open` for many projects of one event at once: the pages, their first level's people
    and notifications are written in a few statements whatever the number of projects (the
    escalation policy is asked once for all of them when it has a batch form). Returns the pages
    in request order. The escalation reaches the IT contacts of the event's systems (`Event`); a
    bare model instance is an event about no IT system.

    One page per person per event: someone at the first level of several of these projects gets
    ONE message per contact channel listing them ("3 apps down: A, B, C — `headline`"), and
    acknowledging it acknowledges all of them (`page_ack`). Each project keeps its own page and
    escalation timer, so the projects nobody acknowledges escalate on their own."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event.instance)
    requests = list({r.project.pk: r for r in requests}.values())
    existing = {
        p.project_id: p
        for p in Page.objects.filter(
            event_type=event_type,
            event_id=event.pk,
            project_id__any=[r.project.pk for r in requests],
        )
    }
    fresh = []
    escalations = escalation_for_many(
        [r.project for r in requests if r.project.pk not in existing and r.escalation is None],
        event,
        now,
    )
    for request in requests:
        if request.project.pk in existing:
            continue
        levels, repeats = request.escalation or escalations[request.project.pk]
        page = Page(
            event_type=event_type,
            event_id=event.pk,
            project=request.project,
            subject=request.subject[:300],
            body=request.body,
            link=link[:500],
            headline=headline[:200],
            levels=[[p.pk for p in people] for people, _delay in levels],
            delays=[int(delay.total_seconds()) for _people, delay in levels],
            repeats=repeats,
            opened_at=now,
            project_acks=request.escalation is None,
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
                pages_open_many(event=event, requests=[r], link=link, headline=headline, now=now)[0]
                for r in requests
            ]
        rows = _level_rows(fresh, _page_targets(_current_people(fresh)), now=now)
        _enqueue_ids_on_commit(rows_insert(Notification, rows), urgent=True)
    by_project = existing | {page.project_id: page for page in fresh}
    return [by_project[r.project.pk] for r in requests]


def pages_escalate(*, pages: Sequence[Page], now: datetime) -> int:
    """Move due open pages to their next level and page it; the caller holds their row locks.
    The pages of one event that reach the same person now are listed in one message per channel
    (as `pages_open_many` does). A page out of levels and repeats stays open, unacknowledged,
    with no timer. A fixed number of statements whatever the number of pages. Returns how many
    moved to a next level."""
    moved = []
    for page in pages:
        if not _has_next(page):
            page.next_escalation_at = None
            continue
        page.level += 1
        if page.level >= len(page.levels):
            page.level, page.round = 0, page.round + 1
        page.step += 1
        page.next_escalation_at = now + _delay_after(page) if _has_next(page) else None
        moved.append(page)
    if not pages:
        return 0
    Page.objects.bulk_update(pages, ["level", "round", "step", "next_escalation_at"])
    if moved:
        projects = Project.objects.only("id", "name", "slug").in_bulk({p.project_id for p in moved})
        for page in moved:
            page.project = projects[page.project_id]
        rows = _level_rows(moved, _page_targets(_current_people(moved)), now=now)
        _enqueue_on_commit(_insert([Notification(**values) for values in rows]))
    return len(moved)


def page_escalate(*, page: Page, now: datetime) -> bool:
    """`pages_escalate` for one page. Returns False when the page has run out of levels and
    repeats (it stays open, unacked)."""
    return bool(pages_escalate(pages=[page], now=now))


def _unsent_release(page_ids: list[int]) -> None:
    """After pages closed (acknowledged, stopped): an unsent message that lists only closed pages
    is cancelled; one that still lists an open page points its `page` at the first such, so that
    it is still sent (a send checks only its `page`). The first statement locks the messages, so
    a concurrent acknowledgement of another page they list has committed before the second
    statement reads which pages are open: whichever of two runs last sees both."""
    unsent = [Notification.State.PENDING, Notification.State.HELD]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM notifications_notification "
            "WHERE kind = %s AND page_ids && %s::bigint[] AND state = ANY(%s) "
            "ORDER BY id FOR UPDATE",
            [Notification.Kind.PAGE, list(page_ids), unsent],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return
        cursor.execute(
            "UPDATE notifications_notification AS n "
            "SET page_id = COALESCE(o.first_open, n.page_id), "
            "state = CASE WHEN o.first_open IS NULL THEN %s ELSE n.state END, "
            "lease_token = CASE WHEN o.first_open IS NULL THEN '' ELSE n.lease_token END "
            "FROM (SELECT m.id, (SELECT p.id FROM unnest(m.page_ids) WITH ORDINALITY AS u(pid, ord) "
            "JOIN notifications_page AS p ON p.id = u.pid AND p.state = %s "
            "ORDER BY u.ord LIMIT 1) AS first_open "
            "FROM notifications_notification AS m WHERE m.id = ANY(%s)) AS o "
            "WHERE n.id = o.id AND n.state = ANY(%s)",
            [Notification.State.CANCELLED, Page.State.OPEN, ids, unsent],
        )


@transaction.atomic
def pages_ack(
    *, page_ids: Iterable[int], person: Person | None, via: str, now: datetime | None = None
) -> list[Page]:
    """Acknowledge these pages at once: each still open records who, when and how, stops its
    escalation, and what it has not sent yet is cancelled (a message that also lists a page
    still open is kept for it). Pages already acknowledged or stopped are left as they are.
    Returns them all (with their project), by id. Locks the pages in id order, then the unsent
    messages listing them in id order, so two acknowledgements of overlapping groups never
    deadlock."""
    now = now or timezone.now()
    # FOR NO KEY UPDATE, not FOR UPDATE: a concurrent acknowledgement that points a message at
    # one of these pages checks that foreign key (KEY SHARE, at its commit) while waiting for
    # nothing else; FOR UPDATE would make the two wait for each other.
    locked = list(
        Page.objects.select_for_update(of=("self",), no_key=True)
        .select_related("project")
        .filter(pk__any=page_ids)
        .order_by("pk")
    )
    acked = [p for p in locked if p.state == Page.State.OPEN]
    if not acked:
        return locked
    Page.objects.filter(pk__any=[p.pk for p in acked]).update(
        state=Page.State.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=person,
        acknowledged_via=via[:16],
        next_escalation_at=None,
    )
    for page in acked:
        page.state = Page.State.ACKNOWLEDGED
        page.acknowledged_at = now
        page.acknowledged_by = person
        page.acknowledged_via = via[:16]
        page.next_escalation_at = None
    _unsent_release([p.pk for p in acked])
    # The apps above the pipeline say what else an acknowledgement does (incidents: send
    # `outage.acknowledged` to the webhooks), in the same transaction; the settings wire them in.
    for acknowledged in settings.STEWARD_PAGE_ACKNOWLEDGED:
        hook = import_string(acknowledged)
        for page in acked:
            hook(page=page, now=now)
    return locked


def page_ack(*, page: Page, person: Person | None, via: str, now: datetime | None = None) -> Page:
    """Acknowledge: stop the page's escalation and cancel what it has not sent yet, and the same
    for every page listed with it in a message to `person` (`ack_group`): one acknowledgement
    covers the one message that paged them. Harmless on a page already acknowledged or stopped
    (returns it unchanged)."""
    pages = pages_ack(page_ids=ack_group(page=page, person=person), person=person, via=via, now=now)
    return next(p for p in pages if p.pk == page.pk)


@transaction.atomic
def pages_stop(*, event: Event, reason: str = "resolved", now: datetime | None = None) -> int:
    """Stop every open page of the event (resolution, cancellation) and cancel what they have not
    sent yet; returns how many pages stopped."""
    now = now or timezone.now()
    event_type = ContentType.objects.get_for_model(event.instance)
    ids = list(
        Page.objects.select_for_update(no_key=True)  # see pages_ack
        .filter(event_type=event_type, event_id=event.pk, state=Page.State.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    Page.objects.filter(pk__any=ids).update(
        state=Page.State.STOPPED, stopped_at=now, stop_reason=reason[:100], next_escalation_at=None
    )
    _unsent_release(ids)
    return len(ids)


def may_ack(user, page: Page) -> bool:
    """Who may acknowledge on the web or the API: anyone paged for it, the project's people
    (unless it pages someone else's responders, `Page.project_acks`), IT staff."""
    if not user.is_authenticated:
        return False
    if is_it_staff(user):
        return True
    person = getattr(user, "person", None)
    if person is None:
        return False
    return any(person.pk in level for level in page.levels) or (
        page.project_acks
        and ProjectRole.objects.filter(project_id=page.project_id, person=person).exists()
    )


def page_ack_by_user(*, actor, page: Page, via: str, now: datetime | None = None) -> Page:
    """`page_ack` as a signed-in user ("My pages"): with the pages listed with it in a message to
    them."""
    if not may_ack(actor, page):
        raise PermissionDenied("Only the people paged, the project's people or IT staff ack.")
    return page_ack(page=page, person=getattr(actor, "person", None), via=via, now=now)


def notification_ack(
    *, actor, notification: Notification, via: str = "api", now: datetime | None = None
) -> Page:
    """The API's `notifications/{id}/ack/` (and the providers' callbacks): acknowledge every page
    this notification lists that is still open. Returns its `page`."""
    if notification.page_id is None:
        raise Conflict("Only a page can be acknowledged; this is a notice.", code="not_a_page")
    if not may_ack(actor, notification.page):
        raise PermissionDenied("Only the people paged, the project's people or IT staff ack.")
    pages = pages_ack(
        page_ids=notification.page_ids or [notification.page_id],
        person=getattr(actor, "person", None),
        via=via,
        now=now,
    )
    return next((p for p in pages if p.pk == notification.page_id), notification.page)
