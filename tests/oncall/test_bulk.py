"""Who is on call for every rotation at once (`oncall.bulk`): the rules read as rows in a fixed
number of queries give the per-rotation answers, whatever the rules."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from oncall import services as oncall_services
from oncall.bulk import load_rotations, oncall_now_by_project
from oncall.models import RotationLayer
from oncall.schedule import oncall_at
from tests.factories import ProjectFactory, TeamFactory
from tests.oncall.helpers import fresh, layer, person, rotation, utc

pytestmark = pytest.mark.django_db

DAILY, HOURS, DAYS = (
    RotationLayer.Length.DAILY,
    RotationLayer.Length.HOURS,
    RotationLayer.Length.DAYS,
)


def _varied_rotations():
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


def _answer(current):
    """Who, and by which rule (layer or override)."""
    if current is None:
        return None
    return (
        current.person.pk,
        current.layer.pk if current.layer else None,
        current.override.pk if current.override else None,
    )


def test_every_rotation_at_once_gives_the_per_rotation_answers(django_assert_num_queries):
    rotations = _varied_rotations()
    # Every 1 h 30 over 4 days around Europe's spring change (30 March 2025), US already moved.
    moments = [utc(2025, 3, 28, 0) + timedelta(minutes=90 * i) for i in range(64)]
    per_rotation = {r.pk: fresh(r) for r in rotations}
    start = moments[0]
    with django_assert_num_queries(4):
        loaded = {r.pk: r for r in load_rotations(at=start)}
    assert set(loaded) == {r.pk for r in rotations}
    seen = set()
    for moment in moments:
        for pk, orm_rotation in per_rotation.items():
            expected = oncall_at(orm_rotation, moment)
            seen.add(_answer(expected) and (_answer(expected)[2] is not None))
            got = oncall_at(loaded[pk], moment)
            assert _answer(got) == _answer(expected), (orm_rotation.name, moment)
    assert seen == {None, False, True}  # nobody, a layer's member and an override all came up


def test_on_call_now_by_project_in_a_fixed_number_of_queries(django_assert_num_queries):
    projects = [ProjectFactory() for _ in range(3)]
    people = [person(n) for n in ("Ann", "Bob", "Cat")]
    for i, project in enumerate(projects):
        rot = rotation(project, name=f"R{i}")
        layer(rot, people[i:] + people[:i], length=DAILY)
    at = utc(2025, 3, 10, 12)
    with django_assert_num_queries(4):
        by_project = oncall_now_by_project(at=at)
    expected = {p.pk: oncall_at(fresh(p.rotations.get()), at).person.pk for p in projects}
    assert {pid: calls[0].person.pk for pid, calls in by_project.items()} == expected
