"""Who a page reaches, level by level: a project's escalation policy, or the default order
(on call → owners and maintainers → backups → IT contacts); and the same for an IT system's own
pages (its policy, or on call → its IT contacts)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from registry.models import ITSystem, Person, Project, ProjectRole

from .bulk import load_rotations
from .models import EscalationLevel, EscalationPolicy, Rotation
from .schedule import LoadedRotation, as_utc, oncall_at, rotations_queryset


def _default_delay() -> timedelta:
    return timedelta(seconds=settings.STEWARD_ESCALATION_DELAY_SECONDS)


def _roles(project: Project) -> list[ProjectRole]:
    """The project's roles held by people who have not left: a leaver is paged no more."""
    return sorted(
        ProjectRole.objects.of_people_here().filter(project=project).select_related("person"),
        key=lambda r: (r.order, r.pk),
    )


def escalation_levels(
    project: Project,
    event_systems: Iterable | None,
    at: datetime | None = None,
    *,
    it_contacts: list[Person] | None = None,
) -> list[tuple[list[Person], timedelta]]:
    """Who to page, level by level, with the wait before the next level: the project's escalation
    policy when it has one, else on-call → owners and maintainers → backups → IT contacts of the
    event's systems. Rotations resolve to whoever is on call at `at` (now by default); a level
    may come out empty (nobody on call), which the caller skips.

    Cheap enough to call once per project of a large outage: two queries for a project with no
    rotation and no policy, and none for the IT contacts when the caller passes `it_contacts`
    (the same for every project of one event).
    """
    at = as_utc(at or timezone.now())
    owned = Q(project_id=project.pk)
    if project.team_id:
        owned |= Q(team_id=project.team_id)
    flags = (
        Project.objects.filter(pk=project.pk)
        .annotate(
            has_policy=Exists(EscalationPolicy.objects.filter(project_id=OuterRef("pk"))),
            has_rotations=Exists(Rotation.objects.filter(owned)),
        )
        .values("has_policy", "has_rotations")
        .first()
    ) or {"has_policy": False, "has_rotations": False}
    roles = _roles(project)
    owners = [r.person for r in roles if r.role != ProjectRole.Role.BACKUP]
    backups = [r.person for r in roles if r.role == ProjectRole.Role.BACKUP]

    def contacts() -> list[Person]:
        if it_contacts is not None:
            return list(it_contacts)
        systems = list(event_systems or [])
        if not systems:
            return []
        return list(Person.objects.filter(it_systems__in=systems).distinct().order_by("id"))

    def rotations(**filters: Any) -> list[Rotation]:
        if not flags["has_rotations"]:
            return []
        return list(rotations_queryset(overrides_after=at).filter(owned, **filters))

    if not flags["has_policy"]:
        on_call = [c.person for c in (oncall_at(r, at) for r in rotations()) if c is not None]
        delay = _default_delay()
        return [(on_call, delay), (owners, delay), (backups, delay), (contacts(), delay)]

    levels = list(
        EscalationLevel.objects.filter(policy__project=project)
        .select_related("person", "team")
        .order_by("order", "id")
    )
    rotation_ids = [level.rotation_id for level in levels if level.rotation_id]
    by_id = {r.pk: r for r in rotations(pk__in=rotation_ids)} if rotation_ids else {}
    return [
        (
            _level_people(
                level, by_id.get(level.rotation_id), at, contacts, owners=owners, backups=backups
            ),
            timedelta(minutes=level.delay_minutes),
        )
        for level in levels
    ]


def _level_people(
    level: EscalationLevel,
    rotation: Rotation | None,
    at: datetime,
    contacts: Callable[[], list[Person]],
    *,
    owners: Sequence[Person] = (),
    backups: Sequence[Person] = (),
) -> list[Person]:
    """Who one level of a policy pages at `at` (`rotation`: the level's, loaded with its rules)."""
    kind = level.target
    if kind == EscalationLevel.Target.ROTATION:
        current = oncall_at(rotation, at) if rotation is not None else None
        return [current.person] if current else []
    if kind == EscalationLevel.Target.PERSON:
        return [level.person]
    if kind == EscalationLevel.Target.TEAM:
        return list(level.team.members.order_by("id"))
    if kind == EscalationLevel.Target.IT_CONTACTS:
        return contacts()
    if kind == EscalationLevel.Target.OWNERS:
        return list(owners)
    return list(backups)


def system_escalation(system: ITSystem, at: datetime | None = None) -> ProjectEscalation:
    """Who a page for an IT system reaches, level by level: the system's escalation policy when it
    has one, else whoever is on call on its rotations, then its IT contacts, then its team's
    members (so that a system nobody set up still reaches IT). A level may come out empty (nobody
    on call), which the pipeline skips."""
    at = as_utc(at or timezone.now())
    rotations = {r.pk: r for r in rotations_queryset(overrides_after=at).filter(system=system)}

    def contacts() -> list[Person]:
        return list(system.contacts.order_by("id"))

    policy = EscalationPolicy.objects.filter(system=system).first()
    if policy is None:
        delay = _default_delay()
        on_call = [c.person for c in (oncall_at(r, at) for r in rotations.values()) if c]
        team = list(system.team.members.order_by("id")) if system.team_id else []
        return ProjectEscalation(
            levels=[(on_call, delay), (contacts(), delay), (team, delay)],
            repeats=settings.STEWARD_ESCALATION_REPEATS,
        )
    levels = policy.levels.select_related("person", "team").order_by("order", "id")
    return ProjectEscalation(
        levels=[
            (
                _level_people(level, rotations.get(level.rotation_id), at, contacts),
                timedelta(minutes=level.delay_minutes),
            )
            for level in levels
        ],
        repeats=policy.repeat_count,
    )


def escalation_repeats(project: Project) -> int:
    """How many more passes through the levels after the first (the policy's, else the default)."""
    repeat = (
        EscalationPolicy.objects.filter(project=project)
        .values_list("repeat_count", flat=True)
        .first()
    )
    return settings.STEWARD_ESCALATION_REPEATS if repeat is None else repeat


@dataclass
class ProjectEscalation:
    """One project's escalation, as `escalation_levels` and `escalation_repeats` answer it."""

    levels: list[tuple[list[Person], timedelta]]
    repeats: int


def escalation_many(
    projects: Sequence[Project],
    at: datetime | None = None,
    *,
    it_contacts: list[Person],
) -> dict[int, ProjectEscalation]:
    """`escalation_levels` and `escalation_repeats` for many projects of one event at once, in a
    fixed number of queries whatever their number (roles, policies with their levels and teams,
    the rotations of the projects and their teams as plain rows): the path of an outage that
    touches thousands of projects. Gives the same answer as the single-project functions
    (tests/notifications/test_fanout.py checks both agree). Keyed by project id."""
    at = as_utc(at or timezone.now())
    ids = [p.pk for p in projects]
    team_of = {p.pk: p.team_id for p in projects}
    team_ids = {t for t in team_of.values() if t}
    if not ids:
        return {}
    # Each person read once however many projects they hold a role on (pages keep person ids;
    # the people are read again with their contact methods).
    role_rows = list(
        ProjectRole.objects.of_people_here()
        .filter(project_id__any=ids)
        .order_by("project_id", "order", "id")
        .values_list("project_id", "person_id", "role")
    )
    role_people = {
        p.pk: p
        for p in Person.objects.only("id", "display_name").filter(
            pk__any={person_id for _, person_id, _ in role_rows}
        )
    }
    roles: dict[int, list[tuple[Person, str]]] = {}
    for project_id, person_id, role in role_rows:
        roles.setdefault(project_id, []).append((role_people[person_id], role))
    policies = {
        p.project_id: p
        for p in EscalationPolicy.objects.filter(project_id__any=ids).only(
            "id", "project_id", "repeat_count"
        )
    }
    levels_of: dict[int, list[EscalationLevel]] = {}
    if policies:
        for level in (
            EscalationLevel.objects.filter(policy__project_id__any=list(policies))
            .select_related("person", "team", "policy")
            .prefetch_related(Prefetch("team__members", queryset=Person.objects.order_by("id")))
            .order_by("policy_id", "order", "id")
        ):
            levels_of.setdefault(level.policy.project_id, []).append(level)
    owned = Q(project_id__any=ids)
    if team_ids:
        owned |= Q(team_id__any=team_ids)
    # The rotations' order as the single-project path reads them (Rotation's Meta ordering, in
    # the database's collation), then their rules as plain rows.
    order = {
        pk: i for i, pk in enumerate(Rotation.objects.filter(owned).values_list("pk", flat=True))
    }
    loaded = load_rotations(at=at, rotation_filter=owned) if order else []
    by_owner: dict[tuple[str, int], list[LoadedRotation]] = {}
    rotation_by_id: dict[int, LoadedRotation] = {}
    for rotation in sorted(loaded, key=lambda r: order.get(r.pk, len(order))):
        rotation_by_id[rotation.pk] = rotation
        owner = ("p", rotation.project_id) if rotation.project_id else ("t", rotation.team_id)
        by_owner.setdefault(owner, []).append(rotation)

    delay = _default_delay()
    backup = str(ProjectRole.Role.BACKUP)  # a plain string: the enum's, read per role, cost more
    result: dict[int, ProjectEscalation] = {}
    for pid in ids:
        project_roles = roles.get(pid, [])
        owners = [person for person, role in project_roles if role != backup]
        backups = [person for person, role in project_roles if role == backup]
        mine = by_owner.get(("p", pid), []) + (
            by_owner.get(("t", team_of[pid]), []) if team_of[pid] else []
        )
        # Own rotations and the team's, in the single path's order.
        mine.sort(key=lambda r: order.get(r.pk, len(order)))
        policy = policies.get(pid)
        if policy is None:
            on_call = [c.person for c in (oncall_at(r, at) for r in mine) if c is not None]
            result[pid] = ProjectEscalation(
                levels=[
                    (on_call, delay),
                    (owners, delay),
                    (backups, delay),
                    (list(it_contacts), delay),
                ],
                repeats=settings.STEWARD_ESCALATION_REPEATS,
            )
            continue
        mine_ids = {r.pk for r in mine}
        levels = []
        for level in levels_of.get(pid, []):
            kind = level.target
            if kind == EscalationLevel.Target.ROTATION:
                rotation = rotation_by_id.get(level.rotation_id)
                current = (
                    oncall_at(rotation, at)
                    if rotation is not None and rotation.pk in mine_ids
                    else None
                )
                people = [current.person] if current else []
            elif kind == EscalationLevel.Target.PERSON:
                people = [level.person]
            elif kind == EscalationLevel.Target.TEAM:
                people = list(level.team.members.all())
            elif kind == EscalationLevel.Target.IT_CONTACTS:
                people = list(it_contacts)
            elif kind == EscalationLevel.Target.OWNERS:
                people = list(owners)
            else:
                people = list(backups)
            levels.append((people, timedelta(minutes=level.delay_minutes)))
        result[pid] = ProjectEscalation(levels=levels, repeats=policy.repeat_count)
    return result
