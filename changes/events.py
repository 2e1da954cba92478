"""What the writes of IT events share: a change here, an outage in `incidents` (which builds on
this module). Both are about IT systems, snapshot the projects those systems touch, lock their row
before a transition, and tell the touched projects' owners and maintainers through the
notifications contract in the transaction that writes the event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model

from notifications import services as delivery
from notifications.events import Event
from registry.models import ITSystem, Person, Project, ProjectRole
from registry.permissions import EDITING_ROLES, is_it_staff
from registry.selectors import ImpactedProject as Impact
from registry.selectors import impacted_projects_for
from steward.errors import Conflict
from webhooks.services import iso, system_document

from .models import Change, ImpactedProject

Actor = AbstractBaseUser | AnonymousUser | None


def require_it_staff(actor: Actor) -> None:
    """`actor=None` is Steward itself (inbound alerts, demo data): allowed."""
    if actor is not None and not is_it_staff(actor):
        raise PermissionDenied("Only IT staff register changes and outages.")


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


def refused(noun: str, state_label: str, verb: str) -> Conflict:
    """The conflict of a transition the event's state does not allow."""
    label = state_label.lower()
    return Conflict(f"{_article(label)} {label} {noun} cannot be {verb}.", code="bad_transition")


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def systems_clean(systems: Iterable[ITSystem] | None) -> list[ITSystem]:
    systems = list(systems or [])
    if not systems:
        raise ValidationError({"systems": "Pick at least one affected IT system."})
    return systems


def full_clean(instance: Model, *, exclude: Sequence[str] = ()) -> None:
    """Model validation, with the window checked first so its message names the end field."""
    if isinstance(instance, Change):
        start, end = instance.planned_start_at, instance.planned_end_at
        if start is None:
            raise ValidationError({"planned_start_at": "Give the planned start."})
        if end is None:
            raise ValidationError({"planned_end_at": "Give the planned end."})
        if end <= start:
            raise ValidationError({"planned_end_at": "The change must end after it starts."})
    instance.full_clean(exclude=[*exclude, "systems"], validate_constraints=False)


def lock(instance: Model) -> Any:
    """Lock the row and read its current state: two concurrent transitions serialise here."""
    fresh = type(instance).objects.select_for_update().get(pk=instance.pk)
    for f in instance._meta.concrete_fields:
        setattr(instance, f.attname, getattr(fresh, f.attname))
    return instance


def _notice_roles(project_ids: Iterable[int]) -> dict[int, list[Person]]:
    """Owners and maintainers of each project, by project id."""
    people: dict[int, list[Person]] = {}
    for role in (
        ProjectRole.objects.filter(project_id__any=project_ids, role__in=EDITING_ROLES)
        .select_related("person")
        # Their contact methods too: the notices of all projects go out in a fixed number of
        # queries (see `owners_notify`).
        .prefetch_related("person__contact_methods")
        .order_by("project_id", "order", "id")
    ):
        people.setdefault(role.project_id, []).append(role.person)
    return people


def impact_snapshot(event: Model, systems: Iterable[ITSystem]) -> list[Impact]:
    """Replace the event's (a change's or an outage's) snapshot of touched projects with the
    impact of `systems` now; that impact, by project id."""
    field = "change_id" if isinstance(event, Change) else "outage_id"
    ImpactedProject.objects.filter(**{field: event.pk}).delete()
    impact = impacted_projects_for(systems)
    # One COPY of column values rather than bulk_create (or model instances): an outage on a
    # root system touches thousands of projects.
    delivery.rows_insert(
        ImpactedProject,
        [
            {
                field: event.pk,
                "project_id": touched.project_id,
                "path": list(touched.path),
                "all_hard": touched.all_hard,
                "depth": touched.depth,
            }
            for touched in impact
        ],
    )
    return impact


def snapshot_project_ids(event: Model) -> list[int]:
    return list(event.impacted.order_by("project_id").values_list("project_id", flat=True))


def change_document(change: Change, systems: Iterable[ITSystem]) -> dict:
    """What a webhook says about a change: the same fields as the API's."""
    return {
        "change": {
            "id": change.pk,
            "title": change.title,
            "description": change.description,
            "type": change.type,
            "risk": change.risk,
            "state": change.state,
            "planned_start_at": iso(change.planned_start_at),
            "planned_end_at": iso(change.planned_end_at),
            "revision": change.revision,
            "systems": [system_document(s) for s in systems],
            "url": absolute(change.get_absolute_url()),
        }
    }


def change_event(change: Change) -> Event:
    """The change as the delivery pipeline and the webhooks see it, as it is now: build it once
    per write, after the write."""
    systems = tuple(change.systems.all())
    return Event(instance=change, systems=systems, document=change_document(change, systems))


def owners_notify(
    *,
    event: Event,
    topic: str,
    project_ids: Iterable[int],
    subject: str,
    body: str,
    link: str,
    now: datetime,
) -> int:
    """A notice to the owners and maintainers of each project, all projects in one batch;
    returns the rows written."""
    project_ids = list(project_ids)
    roles = _notice_roles(project_ids)
    projects = Project.objects.in_bulk(list(roles))
    return len(
        delivery.notices_send_many(
            event=event,
            topic=topic,
            recipients=[(projects[project_id], people) for project_id, people in roles.items()],
            subject=subject,
            body=body,
            link=link,
            now=now,
        )
    )
