"""Who edits a project (`registry.permissions`): its owners and maintainers, not its backups nor
anyone else's roles; admins everywhere. Asked by project or by slug (the project page asks before
it reads the project), prepared once a server session or sent whole: the same answers."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from registry import permissions
from registry.models import ProjectRole
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory, it_staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["prepared", "sent whole"])
def statements(request, settings):
    settings.STEWARD_PREPARED_STATEMENTS = request.param


@pytest.mark.usefixtures("statements")
@pytest.mark.parametrize(
    ("role", "edits"),
    [
        (ProjectRole.Role.OWNER, True),
        (ProjectRole.Role.MAINTAINER, True),
        (ProjectRole.Role.BACKUP, False),
        (None, False),
    ],
)
def test_owners_and_maintainers_edit_their_project_and_no_other(role, edits):
    wiki, other = ProjectFactory(slug="wiki"), ProjectFactory(slug="wiki-2")
    person = PersonFactory()
    ProjectRoleFactory(project=other, person=person, role=ProjectRole.Role.OWNER)
    if role is not None:
        ProjectRoleFactory(project=wiki, person=person, role=role)
    user = person.user
    assert permissions.can_edit_project(user, wiki) is edits
    assert permissions.reads_project_only(user, slug="wiki") is not edits
    assert permissions.can_edit_project(user, other) is True
    assert permissions.reads_project_only(user, slug="wiki-2") is False
    assert permissions.reads_project_only(user, slug="no-such-project") is True


@pytest.mark.usefixtures("statements")
def test_admins_edit_every_project_it_staff_see_more_and_anonymous_see_a_readers_page():
    wiki = ProjectFactory(slug="wiki")
    admin = PersonFactory().user
    admin.is_superuser = True
    admin.save()
    assert permissions.can_edit_project(admin, wiki) is True
    assert permissions.reads_project_only(admin, slug="wiki") is False
    it = it_staff_user()
    assert permissions.can_edit_project(it, wiki) is False
    assert permissions.reads_project_only(it, slug="wiki") is False  # edits its dependencies
    assert permissions.can_edit_project(AnonymousUser(), wiki) is False
    assert permissions.reads_project_only(AnonymousUser(), slug="wiki") is True
