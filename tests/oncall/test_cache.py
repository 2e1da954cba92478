"""The projects' on-call rules kept between requests (`oncall.cache`): every write through the
services is seen by the next read, and a read with the rules kept skips their queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from oncall import cache
from oncall import services as oncall_services
from oncall.selectors import support_for
from registry.models import Project, ProjectRole
from tests.factories import PersonFactory, ProjectFactory, TeamFactory
from tests.oncall.helpers import layer, person, rotation

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/payroll/support/"


def on_call(client: APIClient) -> list[str]:
    body = client.get(URL).json()
    return [entry["name"] for entry in body["on_call_now"]]


def test_each_write_shows_at_the_next_read():
    team = TeamFactory()
    project = ProjectFactory(slug="payroll", team=team)
    ann, bob, cat = person("Ann"), person("Bob"), person("Cat")
    rot = rotation(project, name="Primary")
    primary = layer(rot, [ann])
    client = APIClient()
    client.force_authenticate(PersonFactory().user)
    assert on_call(client) == ["Ann"]
    assert on_call(client) == ["Ann"]  # now read from the kept rules

    now = timezone.now()
    override = oncall_services.override_create(
        actor=None, rotation=rot, person=bob, start_at=now - timedelta(hours=1),
        end_at=now + timedelta(hours=1),
    )  # fmt: skip
    assert on_call(client) == ["Bob"]
    oncall_services.override_delete(actor=None, override=override)
    assert on_call(client) == ["Ann"]

    oncall_services.layer_update(actor=None, layer=primary, members=[cat])
    assert on_call(client) == ["Cat"]
    oncall_services.time_off_add(
        actor=None, person=cat, start_at=now - timedelta(hours=1), end_at=now + timedelta(days=1)
    )
    assert on_call(client) == []  # the only member is away

    team_rotation = rotation(name="Team", team=team)
    layer(team_rotation, [bob])
    assert on_call(client) == ["Bob"]
    oncall_services.rotation_update(actor=None, rotation=team_rotation, name="Team night")
    assert client.get(URL).json()["on_call_now"][0]["rotation"] == "Team night"
    oncall_services.rotation_delete(actor=None, rotation=team_rotation)
    assert on_call(client) == []
    # A person's own changes need no invalidation: people are read fresh each time.
    cat.display_name = "Catherine"
    cat.save()
    oncall_services.layer_update(actor=None, layer=primary, members=[cat, ann])
    assert client.get(URL).json()["on_call_next"][0]["name"] in {"Catherine", "Ann"}


def test_kept_rules_save_their_queries_whatever_the_rotations():
    project = ProjectFactory(slug="payroll", team=TeamFactory())
    for i in range(3):
        layer(rotation(project, name=f"R{i}"), [person(f"P{i}a"), person(f"P{i}b")])
    layer(rotation(name="Team", team=project.team), [person("T")])

    def queries() -> int:
        # Through the selector: the API's answers are kept whole (`test_support_answers_...`).
        with CaptureQueriesContext(connection) as captured:
            assert support_for(Project.objects.get(pk=project.pk)).on_call_now
        return len(captured)

    cache.forget_all()
    cold = queries()
    warm = queries()
    # The rules (layers with members, overrides) are two queries; the people and their time off
    # are read each time.
    assert warm == cold - 2
    layer(rotation(project, name="More"), [person("M1"), person("M2")])
    assert (queries(), queries()) == (cold, warm)


def test_support_answers_are_kept_until_a_write_and_per_zone():
    project = ProjectFactory(slug="payroll")
    layer(rotation(project, name="Primary"), [person("Ann")])
    client = APIClient()
    client.force_authenticate(PersonFactory().user)
    first = client.get(URL).json()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL).json() == first  # its `at` too: the answer was kept
    assert len(captured) == 1  # the catalog version (`steward.fragments`), nothing else

    ProjectRole.objects.create(project=project, person=person("Bo"), role="maintainer")
    again = client.get(URL).json()
    assert [s["name"] for s in again["maintainers"]] == ["Bo"]  # any write shows at once

    # Its times are written in the reader's zone (here the browser's, for a token client).
    client.cookies["steward_tz"] = "Asia/Tokyo"
    assert client.get(URL).json()["at"].endswith("+09:00")
    assert again["at"].endswith("Z")


def test_an_unknown_project_is_not_found_each_time():
    client = APIClient()
    client.force_authenticate(PersonFactory().user)
    for _ in range(2):
        assert client.get("/api/v1/projects/nothing-here/support/").status_code == 404
    assert client.get("/api/v1/projects/payroll/support/").status_code == 404
    ProjectFactory(slug="payroll")
    assert client.get("/api/v1/projects/payroll/support/").status_code == 200
