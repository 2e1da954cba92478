"""Who a page reaches, level by level: the pluggable escalation policy
(settings.STEWARD_ESCALATION_LEVELS) and the registry's default one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.module_loading import import_string

from oncall import escalation as oncall
from registry.models import ITSystem, Person, Project

from ..events import Event
from .outbox import _unique_people


def default_escalation_levels(
    project: Project, event: Event | None, at: datetime | None = None
) -> list[tuple[list[Person], timedelta]]:
    """The registry's escalation rules: the project's policy when it has one, else on-call →
    owners and maintainers → backups → the IT contacts of the event's systems."""
    systems = list(event.systems) if event is not None else []
    contacts = event.it_contacts if event is not None else []
    return oncall.escalation_levels(project, systems, at, it_contacts=contacts)


def _default_escalation_many(
    projects: Sequence[Project], event: Event | None, at: datetime | None = None
) -> dict[int, tuple[list, int]]:
    """`default_escalation_levels` and the repeats for many projects in a fixed number of queries:
    project id → (levels, repeats)."""
    contacts = event.it_contacts if event is not None else []
    return {
        pid: (e.levels, e.repeats)
        for pid, e in oncall.escalation_many(projects, at, it_contacts=contacts).items()
    }


# A policy may offer a batch form as its `many` attribute (see `escalation_for_many`).
default_escalation_levels.many = _default_escalation_many


def escalation_levels_for(
    project: Project, event: Event | None, at: datetime | None = None
) -> list[tuple[list[Person], timedelta]]:
    """The pluggable escalation policy (settings.STEWARD_ESCALATION_LEVELS): (people, delay
    before the next level) per level, without empty levels and with each person once per level.
    A policy is called with the event's description (`notifications.events.Event`) and may also
    return bare lists of people; they get the default delay."""
    policy = import_string(settings.STEWARD_ESCALATION_LEVELS)
    return _clean_levels(policy(project, event, at))


def _clean_levels(levels: Iterable) -> list[tuple[list[Person], timedelta]]:
    result = []
    for level in levels:
        people, delay = level if isinstance(level, tuple) else (level, _escalation_delay())
        people = _unique_people(people)
        if people:
            result.append((people, delay))
    return result


def escalation_for_many(
    projects: Sequence[Project], event: Event | None, at: datetime | None = None
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


def escalation_for_system(
    system: ITSystem, at: datetime | None = None
) -> tuple[list[tuple[list[Person], timedelta]], int]:
    """Who a page for an IT system reaches (its own policy, else its on-call then its IT
    contacts) and the repeats, for `PageRequest.escalation`: without empty levels."""
    escalation = oncall.system_escalation(system, at)
    return _clean_levels(escalation.levels), escalation.repeats


def escalation_repeats_for(project: Project) -> int:
    return oncall.escalation_repeats(project)


def _escalation_delay() -> timedelta:
    return timedelta(seconds=settings.STEWARD_ESCALATION_DELAY_SECONDS)
