"""What the registry's and the portal's page tests share: a signed-in client, a reader, and the
People app with one owner who is always at work."""

import pytest
from django.test import Client

from registry.models import ProjectAlias, ProjectRole, ProjectURL
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reader():
    return PersonFactory(display_name="Rita Reader").user


@pytest.fixture
def people_app():
    """The People app, reached at people.example.com, also called "HR portal"; one owner."""
    project = ProjectFactory(name="People", slug="people", support_tier="side_project")
    ProjectAlias.objects.create(project=project, alias="HR portal")
    ProjectURL(project=project, url="https://people.example.com/").save()
    owner = PersonFactory(display_name="Olga Owner", time_zone="Asia/Tokyo", working_hours=ALL_DAY)
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    return project, owner.user
