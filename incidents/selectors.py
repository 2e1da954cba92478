"""Reads of IT events: impact previews, lists and pages, each in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import ITSystem, Person, ProjectRole
from registry.permissions import EDITING_ROLES
from registry.selectors import (
    ImpactedProject as Impact,
)
from registry.selectors import (
    impacted_projects_for,
    is_within_working_hours,
    person_local_time,
)

from .models import Change, ChangeResponse, ImpactedProject, Outage, OutageUpdate

# --- impact preview ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerAt:
    """A touched project's owner (or maintainer) at the planned start."""

    person: Person
    role: str
    local_time: datetime
    in_working_hours: bool


@dataclass
class PreviewProject:
    impact: Impact
    owners: list[OwnerAt] = field(default_factory=list)


@dataclass
class ImpactPreview:
    at: datetime
    systems: list[ITSystem]
    projects: list[PreviewProject]

    @property
    def project_count(self) -> int:
        return len(self.projects)

    @property
    def owners(self) -> list[OwnerAt]:
        """Each owner once, whatever the number of their touched projects."""
        seen: dict[int, OwnerAt] = {}
        for project in self.projects:
            for owner in project.owners:
                seen.setdefault(owner.person.pk, owner)
        return list(seen.values())

    @property
    def owner_count(self) -> int:
        return len(self.owners)

    @property
    def owners_outside_hours(self) -> int:
        return sum(1 for owner in self.owners if not owner.in_working_hours)


def owner_roles_for(project_ids: Iterable[int]) -> QuerySet[ProjectRole]:
    """Owners and maintainers of these projects: the people a change notice goes to."""
    return (
        ProjectRole.objects.filter(project_id__in=list(project_ids), role__in=EDITING_ROLES)
        .select_related("person")
        .order_by("project_id", "order", "id")
    )


def impact_preview(*, systems: Iterable[ITSystem], at: datetime | None = None) -> ImpactPreview:
    """Projects these systems touch (with paths), their owners, and who is outside working
    hours at `at` (the planned start). Two queries whatever the size of the graph."""
    at = at or timezone.now()
    systems = list(systems)
    impacts = impacted_projects_for(systems)
    by_project: dict[int, PreviewProject] = {
        i.project_id: PreviewProject(impact=i) for i in impacts
    }
    if by_project:
        for role in owner_roles_for(by_project):
            by_project[role.project_id].owners.append(
                OwnerAt(
                    person=role.person,
                    role=role.role,
                    local_time=person_local_time(role.person, at),
                    in_working_hours=is_within_working_hours(role.person, at),
                )
            )
    projects = sorted(by_project.values(), key=lambda p: (p.impact.depth, p.impact.project_name))
    return ImpactPreview(at=at, systems=systems, projects=projects)


# --- changes -----------------------------------------------------------------------------------


def changes_for_list(*, state: str = "") -> QuerySet[Change]:
    changes = (
        Change.objects.select_related("author")
        .prefetch_related("systems")
        .annotate(
            impacted_count=Count("impacted", distinct=True),
            concern_count=Count(
                "responses",
                filter=Q(responses__answer=ChangeResponse.Answer.CONCERN),
                distinct=True,
            ),
        )
    )
    if state:
        changes = changes.filter(state=state)
    return changes


def change_for_page(pk: int) -> Change:
    return (
        Change.objects.select_related("author")
        .prefetch_related(
            "systems",
            "reminders",
            Prefetch(
                "impacted",
                queryset=ImpactedProject.objects.select_related("project").order_by(
                    "depth", "project__name"
                ),
            ),
            Prefetch(
                "responses",
                queryset=ChangeResponse.objects.select_related("person", "project").order_by(
                    "project__name", "person__display_name"
                ),
            ),
        )
        .get(pk=pk)
    )


def projects_a_person_answers_for(*, change: Change, person: Person) -> list[ImpactedProject]:
    """The touched projects on which this person has a role: the ones they may answer for."""
    return list(
        ImpactedProject.objects.filter(change=change, project__roles__person=person)
        .select_related("project")
        .order_by("project__name")
    )


# --- outages -----------------------------------------------------------------------------------


def outages_for_list(*, open_only: bool = False) -> QuerySet[Outage]:
    outages = (
        Outage.objects.select_related("opened_by")
        .prefetch_related("systems")
        .annotate(impacted_count=Count("impacted", distinct=True))
    )
    if open_only:
        outages = outages.filter(resolved_at__isnull=True)
    return outages


def outage_for_page(pk: int) -> Outage:
    return (
        Outage.objects.select_related("opened_by")
        .prefetch_related(
            "systems",
            Prefetch(
                "impacted",
                queryset=ImpactedProject.objects.select_related("project").order_by(
                    "depth", "project__name"
                ),
            ),
            Prefetch(
                "updates",
                queryset=OutageUpdate.objects.select_related("author__person").order_by(
                    "-created_at", "-id"
                ),
            ),
        )
        .get(pk=pk)
    )
