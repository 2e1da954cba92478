"""The quietest slot, on hand-built fixtures whose answer can be worked out from the zones.

Two apps depend on one database. Hana owns the Tokyo app and works 08:00–24:00 Tokyo time
(23:00–15:00 UTC); Bernd owns the Berlin app and works 07:00–19:00 Berlin time (06:00–18:00 UTC in
January). So both can respond on weekdays from 06:00 to 15:00 UTC. The Tokyo app's users lean on it
09:00–15:00 Tokyo (00:00–06:00 UTC), the Berlin app's 10:00–17:00 Berlin (09:00–16:00 UTC). The only
hours with both owners at work and neither app busy are 06:00–09:00 UTC: a three-hour change
starts at 06:00 UTC on a weekday.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from changes import services
from changes.slots import quietest_slots
from portal.models import ProblemReport
from registry.models import Dependency
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Sunday 10 January 2027, 12:00 UTC: the search starts on a weekend.
NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
MONDAY_6 = datetime(2027, 1, 11, 6, 0, tzinfo=UTC)


def hours(start: str, end: str) -> dict:
    return {day: [[start, end]] for day in WEEKDAYS}


@pytest.fixture
def world(db):
    database = SystemFactory(name="Orders DB", slug="orders-db")
    tokyo = ProjectFactory(
        name="Tokyo app",
        slug="tokyo-app",
        time_zone="Asia/Tokyo",
        busy_hours=hours("09:00", "15:00"),
    )
    berlin = ProjectFactory(
        name="Berlin app",
        slug="berlin-app",
        time_zone="Europe/Berlin",
        busy_hours=hours("10:00", "17:00"),
    )
    hana = PersonFactory(
        display_name="Hana", time_zone="Asia/Tokyo", working_hours=hours("08:00", "24:00")
    )
    bernd = PersonFactory(
        display_name="Bernd", time_zone="Europe/Berlin", working_hours=hours("07:00", "19:00")
    )
    ProjectRoleFactory(project=tokyo, person=hana)
    ProjectRoleFactory(project=berlin, person=bernd)
    for project in (tokyo, berlin):
        DependencyFactory(
            source_project=project, target_system=database, criticality=Dependency.Criticality.HARD
        )
    return database


def test_the_best_slot_is_when_both_owners_work_and_neither_app_is_busy(world):
    search = quietest_slots(systems=[world], duration_minutes=180, now=NOW)
    best = search.slots[0]
    assert best.start_at == MONDAY_6
    assert best.end_at == MONDAY_6 + timedelta(hours=3)
    assert (best.project_count, best.projects_with_responder, best.busy_projects) == (2, 2, 0)
    assert best.responders_at_start == 2
    assert best.score == 100.0
    # The next suggestions are the other weekdays at the same hour, not overlapping the first.
    assert [s.start_at.hour for s in search.slots[:5]] == [6] * 5
    assert [s.start_at.weekday() for s in search.slots[:5]] == [0, 1, 2, 3, 4]


def test_an_hour_later_a_busy_app_costs_points(world):
    # A four-hour change cannot avoid 09:00 UTC: the Berlin app is busy in its last hour.
    search = quietest_slots(systems=[world], duration_minutes=240, now=NOW)
    best = search.slots[0]
    assert best.start_at in (MONDAY_6 - timedelta(hours=1), MONDAY_6)
    assert best.busy_projects == 1
    assert best.score < 100


def test_a_scheduled_change_on_the_same_system_blocks_its_window(world):
    staff = it_staff_user()
    other = services.change_create(
        actor=staff,
        title="Patch",
        planned_start_at=MONDAY_6,
        planned_end_at=MONDAY_6 + timedelta(hours=1),
        systems=[world],
    )
    services.change_schedule(actor=staff, change=other, now=NOW)
    search = quietest_slots(systems=[world], duration_minutes=180, now=NOW)
    assert search.blocked == [(MONDAY_6, MONDAY_6 + timedelta(hours=1))]
    assert MONDAY_6 not in [s.start_at for s in search.slots]
    assert search.slots[0].start_at == MONDAY_6 + timedelta(days=1)


def test_report_traffic_breaks_the_tie(world):
    # Reports on Mondays at 06:00 UTC in past weeks: Tuesday becomes the quietest.
    tokyo = world.dependents.get(source_project__slug="tokyo-app").source_project
    for week in range(1, 4):
        ProblemReport.objects.create(
            project=tokyo, description="slow", created_at=MONDAY_6 - timedelta(weeks=week)
        )
    search = quietest_slots(systems=[world], duration_minutes=180, now=NOW, count=12)
    assert search.has_traffic
    assert search.slots[0].start_at == MONDAY_6 + timedelta(days=1)
    assert search.slots[0].reports_in_window == 0
    monday = next(s for s in search.slots if s.start_at == MONDAY_6)
    assert monday.reports_in_window == 3 and monday.traffic_level == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration_minutes": 5}, "duration_minutes"),
        ({"duration_minutes": 60, "range_end": NOW + timedelta(days=91)}, "range_end"),
        ({"duration_minutes": 60, "range_end": NOW - timedelta(days=1)}, "range_end"),
        ({"duration_minutes": 60, "count": 0}, "count"),
        (
            {"duration_minutes": 60 * 24 * 3, "range_end": NOW + timedelta(days=1)},
            "duration_minutes",
        ),
    ],
)
def test_bad_input_names_the_field(world, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        quietest_slots(systems=[world], now=NOW, **kwargs)
    assert field in caught.value.message_dict


def test_the_search_takes_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    for _n in range(30):
        project = ProjectFactory(busy_hours=hours("09:00", "17:00"))
        ProjectRoleFactory(project=project, person=PersonFactory())
        DependencyFactory(source_project=project, target_system=world)
    with django_assert_max_num_queries(12):
        quietest_slots(systems=[world], duration_minutes=60, now=NOW)


def test_on_the_demo_data_the_quietest_hour_is_the_californian_lunch():
    """SSO touches Connect, OraTweet and People. Their owners and maintainers all work in
    California (Jake 08:30–17:00, Noel 10:00–18:00, Clayton 09:00–17:30); Connect is busy 09–12
    and 13–17 there, People 08–10, OraTweet 09–18 in Singapore. The one hour with everyone at work
    and no app busy is 12:00–13:00 in Los Angeles: 20:00 UTC in January, on a weekday."""
    from registry.demo import load_demo
    from registry.models import ITSystem, Project
    from registry.selectors import is_within_working_hours

    load_demo()
    sso = ITSystem.objects.get(slug="sso")
    best = quietest_slots(systems=[sso], duration_minutes=60, now=NOW).slots[0]
    assert best.start_at == datetime(2027, 1, 11, 20, 0, tzinfo=UTC)
    assert (best.score, best.project_count, best.busy_projects) == (100.0, 3, 0)
    # Justified independently: someone of each app is inside working hours, as the registry says.
    for project in Project.objects.filter(slug__in=["connect", "oratweet", "people"]):
        editors = [r.person for r in project.roles.filter(role__in=["owner", "maintainer"])]
        assert any(is_within_working_hours(p, best.start_at) for p in editors), project
