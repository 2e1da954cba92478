"""Small builders for the on-call tests: rotations and layers through the services."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from oncall import services as oncall_services
from oncall.models import Rotation, RotationLayer
from tests.factories import PersonFactory, ProjectFactory

ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def person(name: str, *, time_zone: str = "UTC", working_hours: dict | None = None):
    extra = {} if working_hours is None else {"working_hours": working_hours}
    return PersonFactory(
        user__username=name.lower(), display_name=name, time_zone=time_zone, **extra
    )


def rotation(project=None, *, name: str = "Primary", team=None) -> Rotation:
    """A rotation of the project (a new one if none given), or of `team` when given."""
    if team is not None:
        return oncall_services.rotation_create(actor=None, name=name, team=team)
    return oncall_services.rotation_create(
        actor=None, name=name, project=project or ProjectFactory()
    )


def layer(
    rot: Rotation,
    members,
    *,
    time_zone: str = "UTC",
    start_date: date = date(2025, 1, 6),
    handoff_time: time = time(9),
    length: str = RotationLayer.Length.WEEKLY,
    length_count: int = 1,
    **restriction,
) -> RotationLayer:
    return oncall_services.layer_create(
        actor=None,
        rotation=rot,
        members=members,
        time_zone=time_zone,
        start_date=start_date,
        handoff_time=handoff_time,
        length=length,
        length_count=length_count,
        **restriction,
    )


def fresh(rot: Rotation) -> Rotation:
    """The rotation reloaded with its rules, the way the pages and the API read it."""
    from oncall.schedule import rotations_queryset

    return rotations_queryset().get(pk=rot.pk)
