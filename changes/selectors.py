"""Reads of IT changes: impact previews (of a change or an outage being written), lists and
pages, each in a fixed number of queries, and the systems a project depends on (for the change
calendar and the suspects of an incident)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import ITSystem, Person, Project, ProjectRole
from registry.permissions import EDITING_ROLES
from registry.selectors import (
    ImpactedProject as Impact,
)
from registry.selectors import (
    impacted_projects_for,
    is_within_working_hours,
    person_local_time,
)

from .models import Change, ChangeResponse, HeldAlert, ImpactedProject, Release

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
        Change.objects.select_related("author", "maintenance")
        .prefetch_related(
            "systems",
            "reminders",
            "maintenance__systems",
            Prefetch("maintenance__held", queryset=HeldAlert.objects.select_related("system")),
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


# --- systems a project depends on ----------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """An IT system a project depends on, with the shortest chain of systems that reaches it."""

    system_id: int
    depth: int
    path: tuple[str, ...]  # names, from the system the project depends on directly to this one


# Breadth-first from the project's direct dependencies along system → system edges, the whole
# frontier in one row per level (as in `registry.selectors`), so each system is reached once, by
# a shortest path (ties: the lowest parent id). One statement whatever the size of the graph.
_REACH_SQL = """
WITH RECURSIVE bfs(depth, nodes, parents, visited) AS (
    SELECT 1, seeds.ids, array_fill(NULL::bigint, ARRAY[cardinality(seeds.ids)]), seeds.ids
    FROM (SELECT ARRAY(SELECT DISTINCT target_system_id FROM registry_dependency
                       WHERE source_project_id = %(project)s ORDER BY 1) AS ids) seeds
    WHERE cardinality(seeds.ids) > 0
  UNION ALL
    SELECT b.depth + 1, step.nodes, step.parents, b.visited || step.nodes
    FROM bfs b
    CROSS JOIN LATERAL (
        SELECT array_agg(pick.dst ORDER BY pick.dst) AS nodes,
               array_agg(pick.parent ORDER BY pick.dst) AS parents
        FROM (
            SELECT DISTINCT ON (d.target_system_id)
                   d.target_system_id AS dst, d.source_system_id AS parent
            FROM unnest(b.nodes) AS prev(node)
            JOIN registry_dependency d ON d.source_system_id = prev.node
            WHERE NOT (d.target_system_id = ANY(b.visited))
            ORDER BY d.target_system_id, d.source_system_id
        ) pick
    ) step
    WHERE step.nodes IS NOT NULL
)
SELECT t.node, t.parent, b.depth, s.name
FROM bfs b
CROSS JOIN LATERAL unnest(b.nodes, b.parents) AS t(node, parent)
JOIN registry_itsystem s ON s.id = t.node
"""


def systems_reached_by(project: Project) -> dict[int, Reached]:
    """Every IT system the project depends on, directly or through other systems (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(_REACH_SQL, {"project": project.pk})
        rows = cursor.fetchall()
    parents = {node: parent for node, parent, _depth, _name in rows}
    names = {node: name for node, _parent, _depth, name in rows}
    result: dict[int, Reached] = {}
    for node, _parent, depth, _name in rows:
        chain = []
        current: int | None = node
        while current is not None:
            chain.append(names[current])
            current = parents[current]
        result[node] = Reached(node, depth, tuple(reversed(chain)))
    return result


# --- releases ------------------------------------------------------------------------------------

# What the project page lists; the API pages through the rest.
PAGE_RELEASES = 10


def releases_of(project: Project) -> QuerySet[Release]:
    """The project's releases, latest first, with who recorded each (no query per row)."""
    return (
        Release.objects.filter(project=project)
        .select_related("project", "recorded_by")
        .order_by("-happened_at", "-id")
    )


def releases_between(
    *, project: Project, system_ids: Iterable[int], since: datetime, until: datetime
) -> QuerySet[Release]:
    """Releases of the project itself or of the given IT systems that happened in the window:
    the suspects an incident of the project has among releases (one query)."""
    return (
        Release.objects.filter(Q(project=project) | Q(system_id__in=list(system_ids)))
        .filter(happened_at__gte=since, happened_at__lte=until)
        .select_related("system")
    )


# --- the history of a change's systems -----------------------------------------------------------


@dataclass(frozen=True)
class ChangeHistory:
    """What happened with earlier changes on the same IT systems, and a plain hint from it."""

    earlier: int
    caused_incident: int
    caused_outage: int
    rolled_back: int
    went_wrong: int  # any of the three, each change once

    @property
    def level(self) -> str:
        if not self.earlier:
            return "unknown"
        if self.went_wrong >= 3 or self.went_wrong / self.earlier >= 0.3:
            return "high"
        return "medium" if self.went_wrong else "low"

    @property
    def hint(self) -> str:
        if not self.earlier:
            return "No earlier change on these systems: no history to judge the risk by."
        of = f"{self.went_wrong} of the {self.earlier} earlier change{'s' if self.earlier > 1 else ''}"
        what = (
            f"{self.caused_incident} named as the cause of an incident, "
            f"{self.caused_outage} of an outage, {self.rolled_back} rolled back"
        )
        if self.level == "high":
            return (
                f"High risk by history: {of} on these systems went wrong ({what}). Have the "
                "rollback ready and the owners within reach."
            )
        if self.level == "medium":
            return f"Some risk by history: {of} on these systems went wrong ({what})."
        return (
            f"Low risk by history: none of the {self.earlier} earlier change"
            f"{'s' if self.earlier > 1 else ''} on these systems caused an incident or an outage "
            "or was rolled back."
        )


def change_history(*, system_ids: Iterable[int], exclude_pk: int | None = None) -> ChangeHistory:
    """Earlier changes that happened (started: in progress or completed) on any of these systems:
    how many were named as the cause of a project incident or of an IT outage (`incidents` names
    a change as cause; reached by its reverse relations) and how many were rolled back. One
    query."""
    earlier = Change.objects.filter(
        pk__in=Change.objects.filter(
            systems__in=list(system_ids),
            state__in=(Change.State.IN_PROGRESS, Change.State.COMPLETED),
        )
        .exclude(pk=exclude_pk)
        .values("pk")
    )
    counts = earlier.aggregate(
        earlier=Count("pk", distinct=True),
        caused_incident=Count("pk", filter=Q(caused_incidents__isnull=False), distinct=True),
        caused_outage=Count("pk", filter=Q(caused_outages__isnull=False), distinct=True),
        rolled_back=Count("pk", filter=Q(rolled_back_at__isnull=False), distinct=True),
        went_wrong=Count(
            "pk",
            filter=Q(caused_incidents__isnull=False)
            | Q(caused_outages__isnull=False)
            | Q(rolled_back_at__isnull=False),
            distinct=True,
        ),
    )
    return ChangeHistory(**counts)


def history_of(change: Change) -> ChangeHistory:
    """The history of the change's systems (from the prefetched systems when there are)."""
    return change_history(system_ids=[s.pk for s in change.systems.all()], exclude_pk=change.pk)
