"""Reads of the delivery pipeline: delivery logs per event and per person, pages awaiting me."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Func, Prefetch, QuerySet

from registry.models import ContactMethod, Person

from .models import DeliveryAttempt, Notification, Page

RECENT = 50


def _with_log(notifications: QuerySet[Notification]) -> QuerySet[Notification]:
    return notifications.select_related("recipient", "project").prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at", "id"))
    )


def notifications_for_event(event: models.Model, *, limit: int = 500) -> list[Notification]:
    """Every notification of an event with its attempts: a fixed number of queries."""
    event_type = ContentType.objects.get_for_model(event)
    return list(
        _with_log(
            Notification.objects.filter(event_type=event_type, event_id=event.pk).order_by(
                "created_at", "id"
            )
        )[:limit]
    )


def pages_for_event(event: models.Model) -> list[Page]:
    event_type = ContentType.objects.get_for_model(event)
    return list(
        Page.objects.filter(event_type=event_type, event_id=event.pk)
        .select_related("project", "acknowledged_by")
        .order_by("project__name")
    )


def notifications_of(person: Person) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=person)


def recent_notifications_of(person: Person, *, limit: int = RECENT) -> list[Notification]:
    return list(_with_log(notifications_of(person).order_by("-created_at", "-id"))[:limit])


def pages_awaiting(person: Person) -> list[Page]:
    """Open pages that have paged this person (any level reached so far), newest first. Each has
    `acked_with`: the other open pages its acknowledgement covers (listed with it in a message to
    this person, see `services.ack_group`), by project name. Three queries whatever the number."""
    listing = Notification.objects.filter(recipient=person, kind=Notification.Kind.PAGE)
    pages = list(
        Page.objects.filter(state=Page.State.OPEN)
        .filter(
            pk__in=listing.annotate(listed=Func(F("page_ids"), function="unnest")).values("listed")
        )
        .select_related("project")
        .order_by("-opened_at", "project__name")
    )
    by_id = {page.pk: page for page in pages}
    together: dict[int, set[int]] = {pk: set() for pk in by_id}
    for listed in listing.filter(page_ids__overlap=list(by_id)).values_list("page_ids", flat=True):
        open_ids = [pk for pk in listed if pk in by_id]
        for pk in open_ids:
            together[pk].update(open_ids)
    for page in pages:
        page.acked_with = sorted(
            (by_id[pk] for pk in together[page.pk] - {page.pk}),
            key=lambda p: p.project.name.casefold(),
        )
    return pages


def ack_group(*, page: Page, person: Person | None) -> list[int]:
    """What acknowledging `page` as `person` acknowledges: the page, and every page listed with
    it in a message to that person (one event, one moment, one person). Ids, ascending."""
    ids = {page.pk}
    if person is not None:
        for listed in Notification.objects.filter(
            recipient=person, kind=Notification.Kind.PAGE, page_ids__contains=[page.pk]
        ).values_list("page_ids", flat=True):
            ids.update(listed)
    return sorted(ids)


def pages_acknowledged_with(*, page: Page, person: Person | None) -> list[Page]:
    """The pages acknowledging `page` as `person` covers (`ack_group`), by project name: what an
    acknowledge link shows before and after it is used."""
    return list(
        Page.objects.filter(pk__in=ack_group(page=page, person=person))
        .select_related("project", "acknowledged_by")
        .order_by("project__name", "pk")
    )


def undeliverable_methods_of(person: Person) -> list[ContactMethod]:
    """The person's contact methods whose provider is not configured here: nothing sent to them
    arrives, so "My pages" says so."""
    return [m for m in person.contact_methods.all() if m.undeliverable_reason]
