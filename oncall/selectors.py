"""Who supports a project now: its owners, maintainers and backups, and who is on call now and
next on its rotations (and its team's), each with their local time and working state; from
them, who to contact now (`Support.contact_now`); and who is on call for an IT system."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.utils import timezone

from registry.models import ITSystem, Project, ProjectRole
from registry.selectors import Supporter, project_page_queryset, supporter_for

from .cache import project_rotations_now
from .schedule import LoadedRotation, ProjectOnCall, rotations_oncall, rotations_queryset


def project_for_page(slug: str) -> Project:
    """One project with everything its page shows, in a fixed number of queries (its rotations
    come with `support_for`, from the kept rules of `oncall.cache`)."""
    return project_page_queryset().get(slug=slug)


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

    @property
    def contact_now(self) -> list[Supporter]:
        """Who to contact now, in order: whoever is on call now (awake or not: they are the
        one paged), then the first other supporter in working hours, then the owners not yet
        listed. Each entry's `reason` says why it is there (`CONTACT_REASONS`)."""
        listed: set[int] = set()
        contacts: list[Supporter] = []

        def add(supporter: Supporter, reason: str) -> None:
            if supporter.person.pk not in listed:
                listed.add(supporter.person.pk)
                contacts.append(replace(supporter, reason=reason))

        for supporter in self.on_call_now:
            add(supporter, "on_call")
        awake = [s for s in self.supporters if s.in_working_hours and s.person.pk not in listed]
        if awake:
            add(awake[0], "in_working_hours")
        for supporter in self.owners:
            add(supporter, "owner")
        return contacts


# Why someone is listed under "contact now", in the order they come.
CONTACT_REASONS = [
    ("on_call", "On call now"),
    ("in_working_hours", "In working hours now"),
    ("owner", "Owner"),
]


_ROLE_RANK = {ProjectRole.Role.OWNER: 0, ProjectRole.Role.MAINTAINER: 1, ProjectRole.Role.BACKUP: 2}


def support_for(
    project: Project,
    *,
    at: datetime | None = None,
    with_on_call: bool = True,
    with_next: bool = True,
    rotations: Sequence[LoadedRotation] | None = None,
    roles: Sequence[ProjectRole] | None = None,
) -> Support:
    """Owners, then maintainers, then backups, each with their local time and working state, and
    (unless `with_on_call` is false) who is on call now and (unless `with_next` is false) next.

    The roles are `roles` (with their people) when given, else the project's, prefetched when
    they were (see `project_for_page`); the rotations are `rotations` when given, else read
    through `oncall.cache` (two queries when its rules are current, four when not).
    """
    at = at or timezone.now()
    if roles is None:
        roles = project.roles.all()
    # People who left keep their roles for the record; they support nothing any more.
    roles = sorted(
        (r for r in roles if r.person.deactivated_at is None),
        key=lambda r: (_ROLE_RANK[r.role], r.order, r.pk),
    )
    support = Support(
        project=project,
        at=at,
        supporters=[supporter_for(r.person, role=r.role, order=r.order, at=at) for r in roles],
    )
    if with_on_call:
        if rotations is None:
            rotations = project_rotations_now([project], at=at)[project.pk]
        current = rotations_oncall(rotations, at, with_next=with_next)
        support.on_call_now, support.on_call_next = _on_call_supporters(current, at)
    return support


def supports_now(projects: Sequence[Project], *, at: datetime) -> list[Support]:
    """Who supports each of a page of projects now, on-call now included (not who is next: that
    looks a month ahead per rotation, for the project page), in a fixed number of queries
    whatever the number of projects: their rotations and their teams' are read together.
    The projects are a page of `registry.selectors.directory_projects`, their roles read with
    their people."""
    projects = list(projects)
    rotations = project_rotations_now(projects, at=at)
    return [
        support_for(
            project,
            at=at,
            with_next=False,
            rotations=rotations[project.pk],
            roles=project.directory_roles,
        )
        for project in projects
    ]


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
