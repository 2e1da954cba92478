"""The batched escalation path (`registry.oncall.escalation_many`, used by `pages_open_many` and so
by every outage) agrees with the single-project path, project by project, and asks the database a
fixed number of times however many projects an outage touches."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import services as notifications
from registry import oncall, oncall_services
from registry.models import Project, ProjectRole, RotationLayer
from tests.factories import ProjectFactory, ProjectRoleFactory, SystemFactory, TeamFactory
from tests.registry.oncall_helpers import layer, person, rotation, utc

pytestmark = pytest.mark.django_db
AT = utc(2025, 1, 7, 12)


def _outage(systems):
    from incidents.models import Outage

    outage = Outage.objects.create(title="Core database down")
    outage.systems.set(systems)
    return outage


def _pks(levels):
    return [([p.pk for p in people], delay) for people, delay in levels]


def _mixed_registry() -> list[Project]:
    """Projects covering every branch: nothing at all; owners and backups only; an own rotation;
    a team rotation plus an own one (order by name); an override; a policy with every target,
    including its team's rotation."""
    ann, bob, cat, dan, eve = (person(n) for n in ("Ann", "Bob", "Cat", "Dan", "Eve"))
    contact = person("Contact")
    system = SystemFactory()
    system.contacts.add(contact)

    bare = ProjectFactory(name="Bare")

    roles_only = ProjectFactory(name="Roles only")
    ProjectRoleFactory(project=roles_only, person=ann, role=ProjectRole.Role.OWNER, order=1)
    ProjectRoleFactory(project=roles_only, person=bob, role=ProjectRole.Role.MAINTAINER, order=0)
    ProjectRoleFactory(project=roles_only, person=cat, role=ProjectRole.Role.BACKUP)

    own = ProjectFactory(name="Own rotation")
    layer(
        rotation(own),
        [ann, bob],
        length=RotationLayer.Length.DAILY,
        start_date=date(2025, 1, 6),
    )

    team = TeamFactory()
    team.members.add(dan, eve)
    teamed = ProjectFactory(name="Team rotation", team=team)
    team_rotation = oncall_services.rotation_create(actor=None, name="b team", team=team)
    layer(team_rotation, [dan])
    layer(rotation(teamed, name="a own"), [eve])
    ProjectRoleFactory(project=teamed, person=cat, role=ProjectRole.Role.OWNER)
    sibling = ProjectFactory(name="Same team", team=team)

    covered = ProjectFactory(name="Override")
    rot = rotation(covered)
    layer(rot, [ann])
    oncall_services.override_create(
        actor=None, rotation=rot, person=dan, start_at=utc(2025, 1, 7), end_at=utc(2025, 1, 8)
    )

    with_policy = ProjectFactory(name="Policy", team=team)
    ProjectRoleFactory(project=with_policy, person=bob, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=with_policy, person=eve, role=ProjectRole.Role.BACKUP)
    mine = rotation(with_policy, name="mine")
    layer(mine, [dan, ann], length=RotationLayer.Length.DAILY, start_date=date(2025, 1, 6))
    oncall_services.escalation_policy_create(
        actor=None,
        project=with_policy,
        repeat_count=1,
        levels=[
            {"target": "rotation", "rotation": mine, "delay_minutes": 5},
            {"target": "rotation", "rotation": team_rotation, "delay_minutes": 6},
            {"target": "person", "person": cat, "delay_minutes": 7},
            {"target": "team", "team": team, "delay_minutes": 8},
            {"target": "it_contacts", "delay_minutes": 9},
            {"target": "owners", "delay_minutes": 10},
            {"target": "backups", "delay_minutes": 11},
        ],
    )
    projects = [bare, roles_only, own, teamed, sibling, covered, with_policy]
    return list(Project.objects.filter(pk__in=[p.pk for p in projects]).order_by("id")), system


def test_batched_levels_agree_with_the_single_project_path():
    projects, system = _mixed_registry()
    contacts = list(system.contacts.order_by("id"))
    batch = oncall.escalation_many(projects, AT, it_contacts=contacts)
    assert set(batch) == {p.pk for p in projects}
    for project in projects:
        single = oncall.escalation_levels(project, [system], AT, it_contacts=contacts)
        assert _pks(batch[project.pk].levels) == _pks(single), project.name
        assert batch[project.pk].repeats == oncall.escalation_repeats(project), project.name
    # The branches really differ (the comparison above is not between empty answers).
    by_name = {p.name: p.pk for p in projects}
    assert batch[by_name["Team rotation"]].levels[0][0]  # both rotations resolve someone
    assert [p.display_name for p in batch[by_name["Team rotation"]].levels[0][0]] == ["Eve", "Dan"]
    assert [p.display_name for p in batch[by_name["Override"]].levels[0][0]] == ["Dan"]
    policy = [[p.display_name for p in people] for people, _ in batch[by_name["Policy"]].levels]
    assert policy == [["Ann"], ["Dan"], ["Cat"], ["Dan", "Eve"], ["Contact"], ["Bob"], ["Eve"]]


def test_pages_open_many_pages_what_pages_open_would_page_one_by_one():
    projects, system = _mixed_registry()
    one_by_one = _outage([system])
    singles = {p.pk: notifications.escalation_levels_for(p, one_by_one, AT) for p in projects}
    pages = notifications.pages_open_many(
        event=_outage([system]),
        requests=[notifications.PageRequest(p, "Down", "") for p in projects],
        now=AT,
    )
    for page in pages:
        expected = singles[page.project_id]
        assert page.levels == [[p.pk for p in people] for people, _ in expected]
        assert page.delays == [int(d.total_seconds()) for _, d in expected]
        assert page.repeats == notifications.escalation_repeats_for(page.project)


def test_batched_levels_take_a_fixed_number_of_queries():
    projects, system = _mixed_registry()
    contacts = list(system.contacts.all())
    with CaptureQueriesContext(connection) as few:
        oncall.escalation_many(projects[:2], AT, it_contacts=contacts)
    with CaptureQueriesContext(connection) as many:
        oncall.escalation_many(projects, AT, it_contacts=contacts)
    for _ in range(20):
        extra = ProjectFactory(team=projects[3].team)
        layer(rotation(extra), [person(f"P{extra.pk}")])
        ProjectRoleFactory(project=extra)
    more = list(Project.objects.order_by("id"))
    with CaptureQueriesContext(connection) as most:
        result = oncall.escalation_many(more, AT, it_contacts=contacts)
    assert len(result) == len(more)
    assert len(many) == len(most) <= 12
    assert len(few) <= len(many)
