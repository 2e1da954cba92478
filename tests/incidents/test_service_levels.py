"""Service levels against values computed by hand: months counted in Europe/Berlin, March 2025
being an hour short (DST began on 30 March at 01:00 UTC), an outage spanning the February/March
boundary, overlapping incidents counted once, the error budget and its fast burn, a project's own
targets over its tier's."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from changes.models import ImpactedProject
from incidents.models import Incident, Outage, ServiceLevel
from incidents.service_levels import month_bounds, service_level_for
from tests.factories import IncidentFactory, PersonFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def _incident(project, began, resolved, acked, impact="major"):
    incident = IncidentFactory(project=project, title="Down")
    Incident.objects.filter(pk=incident.pk).update(
        started_at=began,
        resolved_at=resolved,
        acknowledged_at=acked,
        status="resolved",
        impact=impact,
    )


@pytest.fixture
def project(settings):
    settings.STEWARD_SERVICE_LEVEL_ZONE = "Europe/Berlin"
    project = ProjectFactory(name="Atlas", slug="atlas", support_tier="side_project")
    # 22:00 UTC 28 Feb (23:00 in Berlin) to 01:00 UTC 1 March: an hour in each month.
    outage = Outage.objects.create(
        title="DC power",
        status="resolved",
        started_at=at(28, 22, month=2),
        resolved_at=at(1, 1),
    )
    ImpactedProject.objects.create(outage=outage, project=project, path=["DC"], all_hard=True)
    # A soft touch is degraded, not down.
    soft = Outage.objects.create(
        title="Mail slow", status="resolved", started_at=at(10, 8), resolved_at=at(10, 9)
    )
    ImpactedProject.objects.create(outage=soft, project=project, path=["Mail"], all_hard=False)
    # Across the DST change: 00:30–02:30 UTC and 02:00–03:00 UTC, 150 minutes together.
    _incident(project, at(30, 0, 30), at(30, 2, 30), at(30, 0, 40))
    _incident(project, at(30, 2), at(30, 3), at(30, 2, 40))
    # Degraded only: neither down time nor (being in the month) left out of the times.
    _incident(project, at(12, 9), at(12, 9, 30), at(12, 9, 5), impact="degraded")
    return project


def test_month_bounds_follow_the_zones_calendar_and_its_dst_change(settings):
    settings.STEWARD_SERVICE_LEVEL_ZONE = "Europe/Berlin"
    start, end = month_bounds(2025, 3)
    assert (start, end) == (at(28, 23, month=2), at(31, 22))
    assert end - start == timedelta(hours=743)
    assert month_bounds(2025, 2) == (at(31, 23, month=1), at(28, 23, month=2))


def test_service_levels_against_hand_computed_values(project, django_assert_num_queries):
    with django_assert_num_queries(1):
        march = service_level_for(project, year=2025, month=3, now=at(31, 12))
    # Down: 120 min of the outage (from 23:00 UTC on 28 Feb) + 150 min of incidents = 270.
    assert march.down == timedelta(minutes=270)
    assert march.length == timedelta(minutes=44580)
    assert round(march.availability, 6) == round(100 * (1 - 270 / 44580), 6) == 99.394347
    # Side project: 99.0 % → a budget of 445.8 minutes, 175.8 left.
    assert march.budget == timedelta(minutes=445.8)
    assert march.budget_remaining_minutes == 175.8
    assert march.availability_met is True
    # Acknowledged after 10, 40 and 5 minutes: p90 (nearest rank) = 40; target 60.
    assert (march.ack_p90, march.ack_count, march.ack_met) == (40, 3, True)
    # Resolved after 120, 60, 30 and the soft outage's 60 (the spanning one began in February).
    assert (march.resolve_p90, march.resolve_count) == (120, 4)
    assert march.burning_fast is False

    february = service_level_for(project, year=2025, month=2, now=at(31, 12))
    assert february.down == timedelta(minutes=60)
    assert february.length == timedelta(days=28)
    assert february.resolve_p90 == 180  # the spanning outage, 3 hours


def test_the_budget_burning_fast_and_a_projects_own_targets(project):
    # 1 March 01:00 UTC: 2 hours of March gone (0.27 %), 120 minutes down = 26.9 % of the budget.
    early = service_level_for(project, now=at(1, 1))
    assert (early.start.month, early.down) == (2, timedelta(minutes=120))
    assert early.burning_fast is True
    assert early.budget_used_percent == 26.9
    ServiceLevel.objects.create(project=project, availability="99.950", ack_minutes=30)
    march = service_level_for(project, year=2025, month=3, now=at(31, 12))
    # 0.05 % of 44,580 minutes = 22.29 minutes; 270 down: spent, missed.
    assert march.budget_remaining_minutes == round(22.29 - 270, 1)
    assert march.availability_met is False and march.burning_fast is True
    assert march.ack_met is False  # 40 > 30
    assert march.targets.resolve_minutes == 1440  # the tier's, not overridden
    assert march.missed


def test_the_project_page_and_status_page_show_service_levels_to_signed_in_people(project):
    client = Client()
    client.force_login(PersonFactory().user)
    for path in ("/projects/atlas/", "/status/atlas/"):
        body = client.get(path).content.decode()
        assert "Service levels this month" in body, path
        assert "error budget left" in body, path
    assert "Service levels this month" not in Client().get("/status/atlas/").content.decode()


def _team_of(n: int, team):
    for i in range(n):
        project = ProjectFactory(team=team, support_tier="it_supported")
        outage = Outage.objects.create(
            title=f"Down {i}", status="resolved", started_at=at(5, 8), resolved_at=at(5, 9, i)
        )
        ImpactedProject.objects.create(outage=outage, project=project, path=["DC"])
        _incident(project, at(6, 8), at(6, 8, 30), at(6, 8, 20))


def test_rollups_put_the_projects_that_missed_first_in_a_fixed_number_of_queries(project):
    from registry.models import Team

    team = Team.objects.create(name="Blue", slug="blue")
    project.team = team
    project.save()
    user = PersonFactory().user
    client = Client()
    client.force_login(user)
    _team_of(2, team)
    client.get("/service-levels/teams/blue/?month=2025-03")  # warm the session and caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for n in (0, 8):
        _team_of(n, team)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/service-levels/teams/blue/?month=2025-03")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    body = response.content.decode()
    # IT-supported projects were down 60+ minutes of a 0.1 % budget (44.58 min): they missed;
    # Atlas (side project, 99.0 %) did not, and comes last.
    assert body.index("missed") < body.index(">Atlas<")
    assert "<svg" in body and "Projects per availability band" in body
    csv_text = client.get("/service-levels/teams/blue/?month=2025-03&format=csv").content.decode()
    lines = csv_text.splitlines()
    assert lines[0].startswith("project,support_tier,availability_target,availability")
    assert len(lines) == 1 + 11 and lines[-1].startswith("atlas,side_project,99.0,99.3943,270.0")
    assert client.get("/service-levels/?month=2025-13").status_code == 400
    assert client.get("/service-levels/?month=2025-03").status_code == 200


def test_one_project_measures_as_the_rollups_do(project):
    """`service_level_for` reads a project's month in one statement of its own; the rollups
    (`service_levels_many`) read many projects' with the ORM: the same report, whatever the
    rows (an override, acknowledged pages in and out of the month, another project's)."""
    from django.contrib.contenttypes.models import ContentType

    from incidents.service_levels import service_levels_many
    from notifications.models import Page

    other = ProjectFactory(support_tier="it_supported")
    _incident(other, at(3, 8), at(3, 9), at(3, 8, 50))
    pages = [
        (project, at(4, 10), at(4, 10, 55)),  # 55 minutes: the p90 now
        (project, at(5, 10), None),  # not acknowledged: not counted
        (project, at(20, 10, month=2), at(20, 11, month=2)),  # February's
        (other, at(6, 10), at(6, 13)),  # another project's
    ]
    for who, opened, acked in pages:
        outage = Outage.objects.create(title="Paged", started_at=opened)
        Page.objects.create(
            event_type=ContentType.objects.get_for_model(Outage), event_id=outage.pk,
            project=who, subject="Down", opened_at=opened, acknowledged_at=acked,
        )  # fmt: skip
    ServiceLevel.objects.create(project=project, resolve_minutes=90, availability="99.500")
    seen = []
    for month in (2, 3):
        for p in (project, other):
            one = service_level_for(p, year=2025, month=month, now=at(31, 12))
            [many] = service_levels_many([p], year=2025, month=month, now=at(31, 12))
            assert vars(one) == vars(many), (p.name, month)
            seen.append((one.ack_p90, one.ack_count, one.overridden))
    assert seen == [
        (60, 1, True),  # February, Atlas: its page; its own targets
        (None, 0, False),  # February, the other: nothing
        (55, 4, True),  # March, Atlas: three incidents and the acknowledged page
        (180, 2, False),  # March, the other: its incident (50) and its page (180)
    ]
