"""Leavers and joiners: the one path by which a person leaves (or comes back), whichever way it
is asked for — SCIM from the identity provider, the LDAP sync, the admin, IT's page and API.

Leaving deletes nothing: the account is made inactive (no sign-in, its sessions and API tokens
stop working), the person's `deactivated_at` is set, and everything they held stays, under their
name, as the record of who they were. From `deactivated_at` on, every rotation treats them as
away for good (`oncall.schedule`): the next member who is not away covers. A rotation with
nobody left to cover is flagged to its owners, with the uncovered stretches. A project left
without an active owner is marked orphaned (`Project.orphaned_at`) in the same transaction, IT
staff and the project's team are asked once to adopt it; adopting makes the adopter an owner.

Coming back restores nothing silently: the account is active again and rotations count the person
again from that moment (their owners are told), but orphaned projects stay orphaned until someone
adopts them — the returning owner too, with one click — and nothing they were removed from while
away (teams, groups) is given back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from notifications.events import Event
from notifications.services import notices_send
from notifications.services.delivery_health import it_staff
from oncall.coverage import uncovered_ranges
from oncall.models import Rotation
from oncall.schedule import rotations_queryset
from registry import permissions
from registry.models import AuditEntry, Person, Project, ProjectRole
from registry.services import (
    audit_record,
    audit_snapshot,
    person_for_account,
    require_allowed,
)
from steward.times import utc_stamp

Actor = AbstractBaseUser | None

# How far ahead a leaver's rotations are checked for stretches nobody covers.
GAP_HORIZON = timedelta(days=14)


class Source:
    """Which way a leave or a return was asked for, kept in the audit entry."""

    SCIM = "scim"
    LDAP = "ldap"
    ADMIN = "admin"
    IT = "it"  # IT's page or API

    ALL = (SCIM, LDAP, ADMIN, IT)


def _check_source(source: str) -> None:
    if source not in Source.ALL:
        raise ValidationError({"source": f"“{source}” is not one of {', '.join(Source.ALL)}."})


def _audit_person(
    actor: Actor, person: Person, before: dict, source: str, action: str = "update"
) -> None:
    after = audit_snapshot(person) | {"is_active": person.user.is_active, "source": source}
    audit_record(actor=actor, action=action, instance=person, before=before, after=after)


def _active_owner_exists() -> Exists:
    return Exists(
        ProjectRole.objects.of_people_here().filter(
            project=OuterRef("pk"), role=ProjectRole.Role.OWNER, person__user__is_active=True
        )
    )


def person_deactivate(*, actor: Actor, person: Person, source: str, now: datetime | None = None):
    """The person has left. Idempotent: a person already deactivated is returned unchanged
    (a second SCIM PATCH or LDAP sync writes nothing and notifies nobody). IT staff (or Steward
    itself, `actor=None`, for SCIM and LDAP) only. Returns the projects this orphaned."""
    require_allowed(actor is None or permissions.is_it_staff(actor), "Only IT staff do this.")
    _check_source(source)
    now = now or timezone.now()
    with transaction.atomic():
        person = Person.objects.select_for_update().select_related("user").get(pk=person.pk)
        if person.deactivated_at is not None:
            return []
        if actor is not None and actor.pk == person.user_id:
            raise ValidationError({"person": "You cannot deactivate your own account."})
        before = audit_snapshot(person) | {"is_active": person.user.is_active}
        person.deactivated_at = now
        person.save(update_fields=["deactivated_at", "updated_at"])
        person.user.is_active = False
        person.user.save(update_fields=["is_active"])
        _audit_person(actor, person, before, source)
        orphaned = projects_orphan(actor=actor, person=person, now=now)
        rotation_gaps_flag(person=person, now=now)
    return orphaned


def person_reactivate(*, actor: Actor, person: Person, source: str, now: datetime | None = None):
    """The person is back. Nothing they held is handed back silently: see the module's
    docstring. Idempotent: an active person is returned unchanged."""
    require_allowed(actor is None or permissions.is_it_staff(actor), "Only IT staff do this.")
    _check_source(source)
    now = now or timezone.now()
    with transaction.atomic():
        person = Person.objects.select_for_update().select_related("user").get(pk=person.pk)
        if person.deactivated_at is None and person.user.is_active:
            return person
        before = audit_snapshot(person) | {"is_active": person.user.is_active}
        person.deactivated_at = None
        person.save(update_fields=["deactivated_at", "updated_at"])
        person.user.is_active = True
        person.user.save(update_fields=["is_active"])
        _audit_person(actor, person, before, source)
        _rotations_returned_tell(person=person, now=now)
    return person


# --- orphaned projects --------------------------------------------------------------------------


def projects_orphan(*, actor: Actor, person: Person, now: datetime) -> list[Project]:
    """Mark orphaned each project the leaver owned that now has no active owner, and ask IT
    staff and the project's team, once per orphaning, to adopt it. Inside the leave's
    transaction."""
    projects = list(
        Project.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(roles__person=person, roles__role=ProjectRole.Role.OWNER, orphaned_at__isnull=True)
        .exclude(_active_owner_exists())
        .order_by("pk")
    )
    if not projects:
        return []
    Project.objects.filter(pk__in=[p.pk for p in projects]).update(orphaned_at=now)
    staff = it_staff()
    for project in projects:
        project.orphaned_at = now
        audit_record(
            actor=actor,
            action=AuditEntry.Action.WARNING,
            instance=project,
            before=None,
            after={"orphaned": f"no active owner since {person.display_name} left"},
        )
        team = list(adopters_from_team(project)) if project.team_id else []
        notices_send(
            event=Event(instance=project),
            topic=f"project.orphaned.{int(now.timestamp())}",
            recipients=[*staff, *team],
            subject=f"{project.name} has no owner: {person.display_name} left",
            body=(
                f"{person.display_name}, the last active owner of {project.name}, has left "
                f"({utc_stamp(now)}). Nothing was deleted. Someone should adopt it: "
                "the adopter becomes its owner."
            ),
            link=settings.SITE_URL + reverse("directory:project_adopt", args=[project.slug]),
            project=project,
            now=now,
        )
    return projects


def adopters_from_team(project: Project) -> Iterable[Person]:
    """Who of the project's team is asked to adopt it, with IT: its leads who are still here
    (`Team.leads`), else, for a team without one, its members who are."""
    if project.team_id is None:
        return Person.objects.none()
    here = {"deactivated_at__isnull": True, "user__is_active": True}
    leads = project.team.leads.filter(**here)
    return leads if leads.exists() else project.team.members.filter(**here)


def can_adopt(user: AbstractBaseUser, project: Project) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    if permissions.is_it_staff(user):
        return True
    if project.team_id is not None and project.team.members.filter(user=user).exists():
        return True
    return ProjectRole.objects.filter(project=project, person__user=user).exists()


def project_adopt(*, actor: AbstractBaseUser, project: Project, now: datetime | None = None):
    """The actor becomes an owner of the orphaned project, and it is no longer orphaned. IT
    staff, members of its team and people with a role on it (a maintainer, a returning owner)
    may adopt it."""
    require_allowed(can_adopt(actor, project), "IT staff or the project's team adopt it.")
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        if project.orphaned_at is None:
            raise ValidationError({"project": f"{project.name} has an active owner already."})
        before = audit_snapshot(project)
        adopter = person_for_account(actor)
        role = ProjectRole.objects.filter(project=project, person=adopter).first()
        if role is None:
            ProjectRole.objects.create(
                project=project,
                person=adopter,
                role=ProjectRole.Role.OWNER,
                order=project.roles.count(),
            )
        else:
            role.role = ProjectRole.Role.OWNER
            role.save(update_fields=["role"])
        project.orphaned_at = None
        project.save(update_fields=["orphaned_at", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditEntry.Action.UPDATE,
            instance=project,
            before=before | {"orphaned": True},
            after=audit_snapshot(project) | {"orphaned": False},
        )
    return project


# --- rotations ----------------------------------------------------------------------------------


def _rotations_of(person: Person) -> list[Rotation]:
    return list(
        rotations_queryset()
        .select_related("team", "system")
        .filter(layers__memberships__person=person)
        .distinct()
        .order_by("pk")
    )


def rotation_owners(rotation: Rotation) -> list[Person]:
    """Who answers for a rotation: the project's active owners and maintainers, the team's
    active members, IT staff for an IT system's."""
    active = Q(deactivated_at__isnull=True, user__is_active=True)
    if rotation.project_id:
        return list(
            Person.objects.filter(
                active,
                project_roles__project_id=rotation.project_id,
                project_roles__role__in=permissions.EDITING_ROLES,
            ).distinct()
        )
    if rotation.team_id:
        return list(rotation.team.members.filter(active))
    return it_staff()


def rotation_gaps_flag(*, person: Person, now: datetime) -> list[tuple[Rotation, list]]:
    """After a leave: each rotation of the leaver that nobody covers for some stretch of the next
    two weeks is flagged to its owners, naming the stretches (each reader sees them in their zone;
    the project's on-call page shows the gap in its coverage grid). Returns the rotations flagged with their gaps."""
    flagged = []
    for rotation in _rotations_of(person):
        gaps = uncovered_ranges([rotation], now, now + GAP_HORIZON)
        if not gaps:
            continue
        flagged.append((rotation, gaps))
        stretches = "\n".join(f"- {utc_stamp(a)} to {utc_stamp(b)}" for a, b in gaps[:20])
        notices_send(
            event=Event(instance=rotation),
            topic=f"rotation.gap.{person.pk}.{int(now.timestamp())}",
            recipients=rotation_owners(rotation),
            subject=f"Nobody covers {rotation.name} at times: {person.display_name} left",
            body=(
                f"{person.display_name} has left and no other member of {rotation.name} "
                f"can take their shifts. Nobody is on call:\n{stretches}\n"
                "Add a member or an override."
            ),
            link=settings.SITE_URL + reverse("oncall:schedule", args=[rotation.project.slug])
            if rotation.project_id
            else "",
            project=rotation.project,
            now=now,
        )
    return flagged


def _rotations_returned_tell(*, person: Person, now: datetime) -> None:
    for rotation in _rotations_of(person):
        notices_send(
            event=Event(instance=rotation),
            topic=f"rotation.returned.{person.pk}.{int(now.timestamp())}",
            recipients=rotation_owners(rotation),
            subject=f"{person.display_name} is back on {rotation.name}",
            body=(
                f"{person.display_name}'s account is active again, and {rotation.name} counts "
                f"them again from {utc_stamp(now)}: their turns are theirs again. Remove them "
                "from the rotation if that is not meant."
            ),
            project=rotation.project,
            now=now,
        )
