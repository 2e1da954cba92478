"""The inbound endpoints run a fixed number of queries, however many projects an outage touches
and however many events came before."""

from __future__ import annotations

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import ContactMethod, ProjectRole
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
)

from .conftest import pagerduty


def dependents(system, count):
    for _ in range(count):
        project = ProjectFactory()
        DependencyFactory(source_project=project, target_system=system)
        owner = PersonFactory()
        ContactMethodFactory(person=owner, kind=ContactMethod.Kind.EMAIL, address=owner.email)
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)


def queries(client, body) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            "/v2/enqueue", data=json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 202
    return len(captured)


def test_a_trigger_runs_the_same_queries_for_one_or_many_touched_projects(client, world):
    warm_up = SystemFactory()
    queries(client, pagerduty(warm_up))  # Django's content-type cache fills on the first event
    dependents(world.sso, 12)
    one = queries(client, pagerduty(world.database))
    many = queries(client, pagerduty(world.sso))
    assert one == many


def test_joining_runs_a_fixed_number_of_queries(client, world):
    queries(client, pagerduty(world.database))
    first_join = queries(client, pagerduty(world.database))
    for _ in range(5):
        queries(client, pagerduty(world.database))
    assert queries(client, pagerduty(world.database)) == first_join
    # (Resolving is not asserted: incidents.outage_resolve sends its notices project by project.)
