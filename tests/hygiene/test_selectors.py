"""The hygiene lists against fixtures: who counts as an active owner, which supporters share a
zone, which entries are stale; each list in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hygiene import selectors
from registry.models import Project

from .conftest import BACKUP, MAINTAINER, MONDAY_10, OWNER, person, project_with, rotation_of

pytestmark = pytest.mark.django_db


def _names(projects) -> list[str]:
    return [p.name for p in projects]


def test_single_owner_counts_only_owners_whose_accounts_are_active() -> None:
    ann, bob, cy = person("ann"), person("bob"), person("cy")
    gone = person("gone", active=False)
    project_with("Alone", (ann, OWNER), (bob, MAINTAINER))
    project_with("Pair", (ann, OWNER), (bob, OWNER))
    project_with("Left behind", (cy, OWNER), (gone, OWNER))
    project_with("Retired", (ann, OWNER), support_tier=Project.Tier.RETIRED)

    found = list(selectors.single_owner_projects())

    assert _names(found) == ["Alone", "Left behind"]
    left = found[1]
    assert (left.owner_count, left.active_owner_count) == (2, 1)
    assert selectors.active_owners(left) == [cy]


def test_one_zone_is_every_active_supporter_at_one_utc_offset_now() -> None:
    paris, berlin, paris2 = (
        person("paris", zone="Europe/Paris"),
        person("berlin", zone="Europe/Berlin"),
        person("paris2", zone="Europe/Paris"),
    )
    new_york = person("ny", zone="America/New_York")
    gone_ny = person("goneny", zone="America/New_York", active=False)
    project_with("Same offset", (paris, OWNER), (berlin, BACKUP))
    project_with("Two zones", (paris, OWNER), (new_york, BACKUP))
    # Its rotation puts New York among its supporters.
    rotation_of(project_with("Rota spans", (paris, OWNER), (paris2, MAINTAINER)), new_york)
    # A rotation of Paris people only, with someone gone in New York: still one zone.
    rotation_of(project_with("Rota one zone", (paris, OWNER), (gone_ny, BACKUP)), paris2)
    project_with("Only one", (paris, OWNER))

    rows = selectors.one_zone_projects(at=MONDAY_10)

    assert [(r.project.name, r.zones, r.utc_offset, r.supporters) for r in rows] == [
        ("Rota one zone", ("Europe/Paris",), "UTC+01:00", 2),
        ("Same offset", ("Europe/Berlin", "Europe/Paris"), "UTC+01:00", 2),
    ]


def test_stale_counts_from_the_last_review_or_from_registration(settings) -> None:
    settings.REGISTRY_REVIEW_AFTER_DAYS = 180
    ann = person("ann")
    project_with("Reviewed long ago", (ann, OWNER), created_days_ago=900, reviewed_days_ago=200)
    project_with("Reviewed lately", (ann, OWNER), created_days_ago=900, reviewed_days_ago=10)
    project_with("Never reviewed, old", (ann, OWNER), created_days_ago=365)
    project_with("Never reviewed, new", (ann, OWNER), created_days_ago=20)
    project_with("Just due", (ann, OWNER), created_days_ago=900, reviewed_days_ago=180)

    found = list(selectors.stale_projects(today=MONDAY_10.date()))

    assert _names(found) == ["Never reviewed, old", "Reviewed long ago", "Just due"]
    assert found[0].reviewed_on == (MONDAY_10 - dt.timedelta(days=365)).date()
    settings.REGISTRY_REVIEW_AFTER_DAYS = 400
    assert _names(selectors.stale_projects(today=MONDAY_10.date())) == []


def test_the_review_period_restarts_every_review_after_days() -> None:
    reviewed = dt.date(2024, 1, 1)
    due = dt.date(2024, 6, 29)  # 180 days on
    assert selectors.review_period_start(reviewed_on=reviewed, today=due) == due
    assert (
        selectors.review_period_start(reviewed_on=reviewed, today=due + dt.timedelta(days=179))
        == due
    )
    assert selectors.review_period_start(
        reviewed_on=reviewed, today=due + dt.timedelta(days=180)
    ) == due + dt.timedelta(days=180)


def _report_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        report = selectors.hygiene_report(at=MONDAY_10)
        for item in report:
            for row in item.rows:  # what the page reads of each row
                getattr(row, "active_owner_roles", None)
                getattr(getattr(row, "project", row), "team", None)
    return len(queries)


def _world(n: int) -> None:
    for i in range(n):
        a = person(f"a{n}-{i}", zone="Europe/Paris")
        b = person(f"b{n}-{i}", zone="Europe/Paris")
        project_with(f"Single {n}-{i}", (a, OWNER), (b, BACKUP), created_days_ago=400)
        # Every list has rows: one whose owner left (as `directory` marks it) each time.
        gone = person(f"gone{n}-{i}", active=False)
        left = project_with(f"Left {n}-{i}", (gone, OWNER), created_days_ago=400)
        Project.objects.filter(pk=left.pk).update(orphaned_at=MONDAY_10)


def test_the_report_takes_the_same_queries_whatever_the_number_of_projects() -> None:
    _world(2)
    small = _report_queries()
    _world(12)
    assert _report_queries() == small == 11
