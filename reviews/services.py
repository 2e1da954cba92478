"""Writes of incident reviews: start one for a resolved outage or incident, edit its sections,
add action items and close them, and remind the owners of the items that are due.

Who may write: a project incident's review, the project's owners and maintainers, IT staff and
admins; an outage's review, IT staff and admins (`actor=None` is Steward itself). Every write is
one transaction with an audit entry; a refused write raises before anything is written.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, Outage
from notifications.events import Event
from notifications.services import notices_send
from registry.models import AuditEntry, Person
from registry.permissions import can_edit_project, is_it_staff
from registry.services import audit_record, audit_snapshot
from steward.errors import Conflict

from .models import MAX_SECTION, SECTIONS, ActionItem, Review

Actor = AbstractBaseUser | AnonymousUser | None

REMIND_TOPIC = "review.action_due"
# How far past its day an item may be written (a review written late lists what was due).
MAX_DUE_PAST = timedelta(days=365)
MAX_DUE_FUTURE = timedelta(days=3 * 365)


def may_edit_review(actor: Actor, *, outage: Outage | None = None, project=None) -> bool:
    """An outage's review: IT staff (and admins). A project incident's: its owners and
    maintainers too."""
    if actor is None:
        return True
    if is_it_staff(actor):
        return True
    return outage is None and project is not None and can_edit_project(actor, project)


def may_edit(actor: Actor, review: Review) -> bool:
    return may_edit_review(actor, outage=review.outage, project=review.project)


def _require(actor: Actor, review: Review) -> None:
    if not may_edit(actor, review):
        raise PermissionDenied(
            "Only IT staff edit an outage's review; a project incident's review, its owners "
            "and maintainers or IT staff."
        )


def _user(actor: Actor) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def review_start(*, actor: Actor, outage: Outage | None = None, incident: Incident | None = None):
    """The review of a resolved outage or incident: the existing one, or a new one (its title
    the event's). Refused while the event is open."""
    if (outage is None) == (incident is None):
        raise ValidationError("A review is of one outage or one incident.")
    project = incident.project if incident is not None else None
    if not may_edit_review(actor, outage=outage, project=project):
        raise PermissionDenied(
            "Only IT staff review an outage; a project incident, its owners and maintainers or "
            "IT staff."
        )
    subject = outage or incident
    with transaction.atomic():
        type(subject).objects.select_for_update().get(pk=subject.pk)
        existing = Review.objects.filter(outage=outage, incident=incident).first()
        if existing is not None:
            return existing
        subject.refresh_from_db(fields=["resolved_at", "title"])
        if subject.resolved_at is None:
            raise Conflict("Resolve it first: a review is written once it is over.", code="open")
        review = Review.objects.create(
            outage=outage,
            incident=incident,
            project=project,
            title=subject.title,
            created_by=_user(actor),
        )
        audit_record(
            actor=_user(actor),
            action=AuditEntry.Action.CREATE,
            instance=review,
            before=None,
            after=audit_snapshot(review),
        )
    return review


def _clean_section(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError({name: "Write text."})
    if "\x00" in value:
        raise ValidationError({name: "Text may not hold a NUL character."})
    if len(value) > MAX_SECTION:
        raise ValidationError({name: f"At most {MAX_SECTION} characters."})
    return value.replace("\r\n", "\n")


def review_edit(*, actor: Actor, review: Review, **sections: Any) -> Review:
    """Change some of the written sections (`impact`, `what_happened`, `went_well`,
    `to_change`); the others stay."""
    _require(actor, review)
    known = {name for name, _label in SECTIONS}
    unknown = set(sections) - known
    if unknown:
        raise ValidationError({name: "No such section." for name in sorted(unknown)})
    cleaned = {name: _clean_section(name, value) for name, value in sections.items()}
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        before = audit_snapshot(review)
        for name, value in cleaned.items():
            setattr(review, name, value)
        review.updated_at = timezone.now()
        review.save()
        audit_record(
            actor=_user(actor),
            action=AuditEntry.Action.UPDATE,
            instance=review,
            before=before,
            after=audit_snapshot(review),
        )
    return review


def _clean_url(url: Any) -> str:
    if url in (None, ""):
        return ""
    if not isinstance(url, str) or len(url) > 500 or any(c in url for c in "\x00\r\n\t "):
        raise ValidationError({"tracker_url": "Give the issue's http or https address."})
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"tracker_url": "Give the issue's http or https address."})
    return url


def _clean_due(due_on: Any, *, today: date) -> date:
    if not isinstance(due_on, date) or isinstance(due_on, datetime):
        raise ValidationError({"due_on": "Give a day (YYYY-MM-DD)."})
    if not (today - MAX_DUE_PAST <= due_on <= today + MAX_DUE_FUTURE):
        raise ValidationError(
            {"due_on": "Give a day within a year before today and three years after."}
        )
    return due_on


def action_item_add(
    *,
    actor: Actor,
    review: Review,
    title: str,
    owner: Person,
    due_on: date,
    tracker_url: str = "",
) -> ActionItem:
    _require(actor, review)
    title = (title or "").strip() if isinstance(title, str) else ""
    if not title or len(title) > 200 or "\x00" in title:
        raise ValidationError({"title": "Say what is to be done, in at most 200 characters."})
    if not isinstance(owner, Person) or owner.pk is None:
        raise ValidationError({"owner": "Choose the person who owns it."})
    if getattr(owner, "user_id", None) and owner.user is not None and not owner.user.is_active:
        raise ValidationError({"owner": "This person's account is deactivated."})
    due_on = _clean_due(due_on, today=timezone.now().date())
    tracker_url = _clean_url(tracker_url)
    with transaction.atomic():
        item = ActionItem.objects.create(
            review=review,
            project=review.project,
            title=title,
            owner=owner,
            due_on=due_on,
            tracker_url=tracker_url,
        )
        audit_record(
            actor=_user(actor),
            action=AuditEntry.Action.CREATE,
            instance=item,
            before=None,
            after=audit_snapshot(item),
        )
    return item


def action_item_update(
    *,
    actor: Actor,
    item: ActionItem,
    done: bool | None = None,
    due_on: date | None = None,
    tracker_url: str | None = None,
) -> ActionItem:
    """Mark it done (or open again), move its day (it will be reminded again), change its
    tracker link. The item's owner may do it too."""
    review = item.review
    is_owner = actor is not None and actor.is_authenticated and item.owner.user_id == actor.pk
    if not (is_owner or may_edit(actor, review)):
        raise PermissionDenied("Only the item's owner or the review's editors change it.")
    if due_on is not None:
        due_on = _clean_due(due_on, today=timezone.now().date())
    if tracker_url is not None:
        tracker_url = _clean_url(tracker_url)
    with transaction.atomic():
        item = ActionItem.objects.select_for_update().get(pk=item.pk)
        before = audit_snapshot(item)
        if done is not None:
            item.done_at = (item.done_at or timezone.now()) if done else None
        if due_on is not None and due_on != item.due_on:
            item.due_on = due_on
            item.reminded_at = None
        if tracker_url is not None:
            item.tracker_url = tracker_url
        item.save()
        audit_record(
            actor=_user(actor),
            action=AuditEntry.Action.UPDATE,
            instance=item,
            before=before,
            after=audit_snapshot(item),
        )
    return item


def _today_of(person: Person, now: datetime) -> date:
    try:
        return now.astimezone(ZoneInfo(person.time_zone)).date()
    except Exception:  # noqa: BLE001 (an unknown zone was refused on save; read UTC then)
        return now.date()


def action_items_remind_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Remind the owner of every open item whose day has come in their own zone, once: the
    notice is held to their working hours by the pipeline (`notices_send`), and the item is
    stamped `reminded_at` in the transaction that writes it, under SKIP LOCKED, so two beats or a
    second run send nothing more. Returns how many were reminded."""
    now = now or timezone.now()
    reminded = 0
    with transaction.atomic():
        # Every zone's day is at most a day ahead of UTC's.
        candidates = list(
            ActionItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                done_at__isnull=True,
                reminded_at__isnull=True,
                due_on__lte=now.date() + timedelta(days=1),
            )
            .select_related("owner", "review", "project")
            .order_by("due_on", "id")[:limit]
        )
        for item in candidates:
            if item.due_on > _today_of(item.owner, now):
                continue
            link = f"{settings.SITE_URL}{reverse('reviews:detail', args=[item.review_id])}"
            notices_send(
                event=Event(instance=item),
                topic=REMIND_TOPIC,
                recipients=[item.owner],
                subject=f"Action item due: {item.title}"[:300],
                body=(
                    f"Your action item from the review “{item.review.title}” is due "
                    f"{item.due_on.isoformat()}:\n\n{item.title}\n"
                    + (f"\nTracked at {item.tracker_url}\n" if item.tracker_url else "")
                ),
                link=link,
                project=item.project,
                now=now,
            )
            item.reminded_at = now
            item.save(update_fields=["reminded_at"])
            reminded += 1
    return reminded
