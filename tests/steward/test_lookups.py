"""`field__any`: membership in a list sent as one array parameter."""

import pytest

from notifications.models import Notification
from registry.models import Project, ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory

pytestmark = pytest.mark.django_db


def test_any_finds_what_in_finds_with_one_parameter():
    projects = ProjectFactory.create_batch(4)
    ids = [p.pk for p in projects[:3]]
    found = Project.objects.filter(pk__any=ids)
    assert set(found) == set(Project.objects.filter(pk__in=ids)) == set(projects[:3])
    _sql, params = found.query.sql_with_params()
    assert params == (ids,)  # the ids as one array, however many there are


def test_any_takes_sets_foreign_keys_strings_and_nothing():
    role = ProjectRoleFactory()
    ProjectRoleFactory()
    assert list(ProjectRole.objects.filter(project_id__any={role.project_id})) == [role]
    assert list(ProjectRole.objects.filter(project__any=[role.project_id])) == [role]
    assert not Project.objects.filter(pk__any=[]).exists()
    assert not Notification.objects.filter(idempotency_key__any=["a", "b"]).exists()
