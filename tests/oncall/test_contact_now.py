"""Who to contact now (`Support.contact_now`), on the selector and the support API: on call now
first, then the first other supporter in working hours, then the owners; each person once."""

from __future__ import annotations

import json

import pytest
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from oncall.selectors import project_for_page, support_for
from registry.models import ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory
from tests.oncall.helpers import ALWAYS, layer, person, rotation

pytestmark = pytest.mark.django_db


def asleep(name: str, time_zone: str = "UTC"):
    return person(name, time_zone=time_zone, working_hours={})


def awake(name: str, time_zone: str = "UTC"):
    return person(name, time_zone=time_zone, working_hours=ALWAYS)


def role(project, who, role: str, order: int = 0) -> None:
    ProjectRoleFactory(project=project, person=who, role=role, order=order)


def contacts(project) -> list[tuple[str, str, bool]]:
    support = support_for(project_for_page(project.slug))
    return [(s.person.display_name, s.reason, s.in_working_hours) for s in support.contact_now]


def test_on_call_then_the_first_awake_supporter_then_the_owners():
    project = ProjectFactory(slug="oratweet")
    role(project, asleep("Noel", "America/Los_Angeles"), ProjectRole.Role.OWNER)
    role(project, asleep("Mia"), ProjectRole.Role.MAINTAINER, order=1)
    role(project, awake("Sia", "Asia/Singapore"), ProjectRole.Role.BACKUP, order=2)
    role(project, awake("Ben"), ProjectRole.Role.BACKUP, order=3)
    layer(rotation(project), [asleep("Oscar")])
    assert contacts(project) == [
        ("Oscar", "on_call", False),  # paged whatever the hour: listed first, marked asleep
        ("Sia", "in_working_hours", True),  # only the first awake one
        ("Noel", "owner", False),
    ]


def test_someone_on_call_who_is_also_an_owner_is_listed_once():
    project = ProjectFactory(slug="wiki")
    noel = awake("Noel")
    role(project, noel, ProjectRole.Role.OWNER)
    role(project, asleep("Ola"), ProjectRole.Role.OWNER, order=1)
    layer(rotation(project), [noel])
    assert contacts(project) == [("Noel", "on_call", True), ("Ola", "owner", False)]


def test_without_rotations_the_awake_backup_comes_before_the_sleeping_owner():
    project = ProjectFactory(slug="people")
    role(project, asleep("Noel"), ProjectRole.Role.OWNER)
    role(project, awake("Sia"), ProjectRole.Role.BACKUP, order=1)
    assert contacts(project) == [("Sia", "in_working_hours", True), ("Noel", "owner", False)]


def test_nobody_awake_leaves_the_owners():
    project = ProjectFactory(slug="quiet")
    role(project, asleep("Noel"), ProjectRole.Role.OWNER)
    role(project, asleep("Bo"), ProjectRole.Role.BACKUP, order=1)
    assert contacts(project) == [("Noel", "owner", False)]


def test_the_support_api_answers_who_to_contact_now_as_its_schema_says():
    project = ProjectFactory(slug="oratweet")
    noel = asleep("Noel", "America/Los_Angeles")
    sia = awake("Sia", "Asia/Singapore")
    role(project, noel, ProjectRole.Role.OWNER)
    role(project, sia, ProjectRole.Role.BACKUP, order=1)
    layer(rotation(project, name="Follow the sun"), [sia])
    client = APIClient()
    client.force_authenticate(person("Rita").user)

    body = client.get("/api/v1/projects/oratweet/support/").json()

    assert [(c["name"], c["reason"], c["role"]) for c in body["contact_now"]] == [
        ("Sia", "on_call", "on_call"),
        ("Noel", "owner", "owner"),
    ]
    [sia_entry, noel_entry] = body["contact_now"]
    assert sia_entry["in_working_hours"] is True and noel_entry["in_working_hours"] is False
    assert sia_entry["rotation"] == "Follow the sun"
    assert sia_entry["local_time"].endswith("+08:00")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    schemas = schema["components"]["schemas"]
    assert "contact_now" in schemas["SupportOut"]["required"]
    assert {c["reason"] for c in body["contact_now"]} <= set(schemas["ContactReasonEnum"]["enum"])


def test_support_answers_asked_one_after_another_are_each_their_projects_own():
    """The API renders through one serializer whose fields are bound once: nothing of one answer
    may show in the next, and each is what a serializer made for it alone gives."""
    from oncall.api import SupportOut

    staffed = ProjectFactory(slug="staffed")
    bare = ProjectFactory(slug="bare")
    ann, bob = awake("Ann", "Europe/Paris"), asleep("Bob")
    role(staffed, ann, ProjectRole.Role.OWNER)
    role(staffed, bob, ProjectRole.Role.MAINTAINER)
    layer(rotation(staffed, name="Days"), [bob, ann])
    role(bare, bob, ProjectRole.Role.OWNER)
    client = APIClient()
    client.force_authenticate(person("Rita").user)

    asked = ["staffed", "bare", "staffed"]
    bodies = [client.get(f"/api/v1/projects/{slug}/support/").json() for slug in asked]

    staffed_body, bare_body, _ = bodies
    assert [o["name"] for o in staffed_body["owners"]] == ["Ann"]
    assert staffed_body["on_call_now"] and staffed_body["on_call_next"]
    assert bare_body["project"] == "bare"
    assert [o["name"] for o in bare_body["owners"]] == ["Bob"]
    assert bare_body["on_call_now"] == bare_body["maintainers"] == []
    for slug, body in zip(asked, bodies, strict=True):
        support = support_for(project_for_page(slug), at=parse_datetime(body["at"]))
        assert body == json.loads(json.dumps(SupportOut(support).data)), slug
