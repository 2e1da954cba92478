"""Who is on call for every rotation at once (`oncall.bulk`): the rules read as rows in a fixed
number of queries give the per-rotation answers, whatever the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from oncall.bulk import load_rotations, oncall_now_by_project
from oncall.schedule import oncall_at
from tests.factories import ProjectFactory
from tests.oncall.helpers import (
    DAILY,
    answer_of,
    fresh,
    layer,
    person,
    rotation,
    utc,
    varied_rotations,
)

pytestmark = pytest.mark.django_db


def test_every_rotation_at_once_gives_the_per_rotation_answers(django_assert_num_queries):
    rotations = varied_rotations()
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
            seen.add(answer_of(expected) and (answer_of(expected)[2] is not None))
            got = oncall_at(loaded[pk], moment)
            assert answer_of(got) == answer_of(expected), (orm_rotation.name, moment)
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
