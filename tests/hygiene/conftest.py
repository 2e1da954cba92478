"""People and projects for registry hygiene: owners in chosen zones, active or gone."""

from __future__ import annotations

import datetime as dt

from oncall import services as oncall_services
from registry.models import Person, Project, ProjectRole
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

# A winter Monday: Europe/Paris and Europe/Berlin are both UTC+01:00; 10:00 UTC is 19:00 in
# Tokyo (after work) and 10:00 in London (at work).
MONDAY_10 = dt.datetime(2025, 1, 13, 10, 0, tzinfo=dt.UTC)


def person(name: str, *, zone: str = "UTC", active: bool = True, **kwargs) -> Person:
    return PersonFactory(user__username=name, user__is_active=active, time_zone=zone, **kwargs)


def project_with(
    name: str,
    *people: tuple[Person, str],
    created_days_ago: int = 1,
    reviewed_days_ago: int | None = None,
    at: dt.datetime = MONDAY_10,
    **kwargs,
) -> Project:
    """A project with `people` as (person, role), registered and reviewed that long before `at`."""
    kwargs.setdefault("slug", name.lower().replace(" ", "-"))
    project = ProjectFactory(name=name, **kwargs)
    for order, (who, role) in enumerate(people):
        ProjectRoleFactory(project=project, person=who, role=role, order=order)
    Project.objects.filter(pk=project.pk).update(
        created_at=at - dt.timedelta(days=created_days_ago),
        last_reviewed_on=None
        if reviewed_days_ago is None
        else (at - dt.timedelta(days=reviewed_days_ago)).date(),
    )
    project.refresh_from_db()
    return project


def rotation_of(project: Project, *members: Person) -> None:
    owner = project.roles.filter(role=ProjectRole.Role.OWNER).first().person
    rotation = oncall_services.rotation_create(
        actor=owner.user, name=f"{project.name} on call", project=project
    )
    oncall_services.layer_create(
        actor=owner.user,
        rotation=rotation,
        members=list(members),
        time_zone="UTC",
        start_date=dt.date(2024, 1, 1),
        handoff_time=dt.time(9, 0),
        length="weekly",
    )


OWNER = ProjectRole.Role.OWNER
MAINTAINER = ProjectRole.Role.MAINTAINER
BACKUP = ProjectRole.Role.BACKUP
