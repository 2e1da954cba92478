"""Who supports a project now: its owners, maintainers and backups, and who is on call now and
next on its rotations (and its team's), each with their local time and working state; and who is
on call for an IT system."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import prefetch_related_objects
from django.utils import timezone

from registry.models import ITSystem, Project, ProjectRole
from registry.selectors import Supporter, project_page_queryset, supporter_for

from .schedule import (
    ProjectOnCall,
    project_oncall,
    project_rotation_prefetches,
    rotations_oncall,
    rotations_queryset,
)


def project_for_page(slug: str) -> Project:
    """One project with everything its page shows, its rotations included, in a fixed number of
    queries."""
    return (
        project_page_queryset()
        .prefetch_related(*project_rotation_prefetches(overrides_after=timezone.now()))
        .get(slug=slug)
    )


@dataclass
class Support:
    project: Project
    at: datetime
    supporters: list[Supporter]
    # Filled by the on-call rotations: who is on call now and who is next.
    on_call_now: list[Supporter] = field(default_factory=list)
    on_call_next: list[Supporter] = field(default_factory=list)

    def with_role(self, role: str) -> list[Supporter]:
        return [s for s in self.supporters if s.role == role]

    @property
    def owners(self) -> list[Supporter]:
        return self.with_role(ProjectRole.Role.OWNER)

    @property
    def maintainers(self) -> list[Supporter]:
        return self.with_role(ProjectRole.Role.MAINTAINER)

    @property
    def backups(self) -> list[Supporter]:
        return self.with_role(ProjectRole.Role.BACKUP)

    @property
    def anyone_awake(self) -> bool:
        return any(s.in_working_hours for s in self.supporters)


_ROLE_RANK = {ProjectRole.Role.OWNER: 0, ProjectRole.Role.MAINTAINER: 1, ProjectRole.Role.BACKUP: 2}


def support_for(
    project: Project, *, at: datetime | None = None, with_on_call: bool = True
) -> Support:
    """Owners, then maintainers, then backups, each with their local time and working state, and
    (unless `with_on_call` is false) who is on call now and next.

    Uses the project's prefetched roles when there are some (see `project_for_page`).
    """
    at = at or timezone.now()
    roles = sorted(project.roles.all(), key=lambda r: (_ROLE_RANK[r.role], r.order, r.pk))
    support = Support(
        project=project,
        at=at,
        supporters=[supporter_for(r.person, role=r.role, order=r.order, at=at) for r in roles],
    )
    if with_on_call:
        _fill_on_call(support)
    return support


def _fill_on_call(support: Support) -> None:
    """Fill `Support.on_call_now` / `on_call_next` from the project's rotations and its team's.
    Loads them when the caller did not prefetch them (a fixed number of queries either way)."""
    project, at = support.project, support.at
    prefetch_related_objects([project], *project_rotation_prefetches(overrides_after=at))
    support.on_call_now, support.on_call_next = _on_call_supporters(project_oncall(project, at), at)


@dataclass
class SystemOnCall:
    """Who is on call for an IT system now and next (the same fields as `Support`, so that one
    template shows either)."""

    system: ITSystem
    at: datetime
    on_call_now: list[Supporter] = field(default_factory=list)
    on_call_next: list[Supporter] = field(default_factory=list)
    has_rotations: bool = False


def system_oncall(system: ITSystem, *, at: datetime | None = None) -> SystemOnCall:
    """Who is on call for an IT system now, and who takes over next, on each of its own rotations:
    the people an IT problem report pages first. Four queries whatever the number of rotations."""
    at = at or timezone.now()
    rotations = list(rotations_queryset(overrides_after=at).filter(system=system))
    now, upcoming = _on_call_supporters(rotations_oncall(rotations, at), at)
    return SystemOnCall(
        system=system,
        at=at,
        on_call_now=now,
        on_call_next=upcoming,
        has_rotations=bool(rotations),
    )


def _on_call_supporters(
    current: ProjectOnCall, at: datetime
) -> tuple[list[Supporter], list[Supporter]]:
    """Each rotation's person on call now, with their local time now, and who takes over next,
    with their local time when they do."""
    takeover = {shift.rotation.pk: shift for shift in current.next}
    on_call_now = [
        replace(
            supporter_for(c.person, role="on_call", order=i, at=at),
            rotation=c.rotation.name,
            shift_end=takeover[c.rotation.pk].start if c.rotation.pk in takeover else None,
        )
        for i, c in enumerate(current.now)
    ]
    on_call_next = [
        replace(
            supporter_for(s.person, role="on_call_next", order=i, at=s.start),
            rotation=s.rotation.name,
            shift_start=s.start,
            shift_end=s.end,
        )
        for i, s in enumerate(current.next)
    ]
    return on_call_now, on_call_next
