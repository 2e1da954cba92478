"""Small builders for the on-call tests: rotations and layers through the services."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from oncall import services as oncall_services
from oncall.models import Rotation, RotationLayer
from tests.factories import PersonFactory, ProjectFactory, TeamFactory

DAILY, HOURS, DAYS = (
    RotationLayer.Length.DAILY,
    RotationLayer.Length.HOURS,
    RotationLayer.Length.DAYS,
)
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


def answer_of(current):
    """Who is on call, and by which rule (the layer's or the override's id), from `oncall_at`."""
    if current is None:
        return None
    return (
        current.person.pk,
        current.layer.pk if current.layer else None,
        current.override.pk if current.override else None,
    )


def fresh(rot: Rotation) -> Rotation:
    """The rotation reloaded with its rules, the way the pages and the API read it."""
    from oncall.schedule import rotations_queryset

    return rotations_queryset().get(pk=rot.pk)


def varied_rotations() -> list[Rotation]:
    """Rotations covering every rule the schedule knows, over two DST changes."""
    ann, bob, cat, dan, eve = (person(n) for n in ("Ann", "Bob", "Cat", "Dan", "Eve"))
    rotations = []
    # Weekly in Berlin and daily in New York: both cross their zone's spring change.
    weekly = rotation(name="Weekly")
    layer(weekly, [ann, bob, cat], time_zone="Europe/Berlin", start_date=date(2025, 3, 3))
    layer(weekly, [dan], length=DAILY)  # the backup under it
    rotations.append(weekly)
    daily = rotation(name="Daily")
    layer(daily, [bob, cat], time_zone="America/New_York", length=DAILY, handoff_time=time(2, 30))
    rotations.append(daily)
    # Follow-the-sun windows, one wrapping past midnight, weekdays only for one; a backup layer.
    sun = rotation(name="Sun")
    layer(sun, [ann], length=DAILY, restrict_start=time(8), restrict_end=time(16))
    layer(sun, [bob, eve], length=DAILY, restrict_start=time(22), restrict_end=time(6),
          time_zone="Asia/Kolkata", restrict_days=["mon", "tue", "wed", "thu", "fri"])  # fmt: skip
    layer(sun, [cat, dan], length=DAYS, length_count=3, time_zone="Australia/Sydney")
    rotations.append(sun)
    # Every 8 hours from a start in the future of some moments asked.
    hours = rotation(name="Hours")
    layer(hours, [dan, eve, ann], length=HOURS, length_count=8, start_date=date(2025, 3, 29))
    rotations.append(hours)
    # A team's rotation with overrides: one for everyone, one covering a person only.
    team_rot = rotation(name="Team", team=TeamFactory())
    layer(team_rot, [cat, ann], length=DAILY, time_zone="Europe/London")
    oncall_services.override_create(
        actor=None, rotation=team_rot, person=eve,
        start_at=utc(2025, 3, 29, 20), end_at=utc(2025, 3, 30, 4),
    )  # fmt: skip
    oncall_services.override_create(
        actor=None, rotation=daily, person=dan, covered=cat,
        start_at=utc(2025, 3, 28), end_at=utc(2025, 4, 2),
    )  # fmt: skip
    # Time off: the next member in turn covers; everyone away leaves nobody on the layer.
    oncall_services.time_off_add(
        actor=None, person=ann, start_at=utc(2025, 3, 29, 6), end_at=utc(2025, 3, 31, 12)
    )
    oncall_services.time_off_add(
        actor=None, person=bob, start_at=utc(2025, 3, 30), end_at=utc(2025, 3, 30, 18)
    )
    oncall_services.time_off_add(
        actor=None, person=cat, start_at=utc(2025, 3, 30, 3), end_at=utc(2025, 3, 30, 9)
    )
    empty = rotation(name="Nobody")
    rotations.append(empty)
    return [*rotations, team_rot]
