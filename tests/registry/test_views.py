"""The registry's HTML pages over HTTP, against PostgreSQL: project and system forms with inline
errors, the profile, permissions, CSRF and sign-in. The directory and the project page are the
portal's (`tests/portal/test_views.py`)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from registry import services
from registry.models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
)
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from tests.registry.pages import HTMX, client_for

pytestmark = pytest.mark.django_db

# --- sign-in ------------------------------------------------------------------------------------


def test_pages_require_sign_in(people_app):
    client = Client()
    for url in ("/", "/projects/people/", "/systems/", "/me/", "/projects/new/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


# --- project forms and permissions ------------------------------------------------------------


def test_anyone_registered_can_create_a_project_and_becomes_owner(reader):
    response = client_for(reader).post(
        "/projects/new/",
        {
            "name": "Room Booker",
            "slug": "",
            "support_tier": "side_project",
            "aliases": "rooms\nbooker\n",
            "urls": "https://rooms.example.com/\n",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/room-booker/"
    project = Project.objects.get(slug="room-booker")
    assert sorted(project.aliases.values_list("alias", flat=True)) == ["booker", "rooms"]
    assert project.roles.get().person == reader.person


def test_duplicate_slug_is_an_inline_error_on_slug(reader, people_app):
    response = client_for(reader).post(
        "/projects/new/", {"name": "People 2", "slug": "people", "support_tier": "side_project"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "slug" in form.errors
    assert 'id="id_slug_errors"' in response.content.decode()
    assert Project.objects.count() == 1


def test_bad_url_is_an_inline_error_and_nothing_is_saved(people_app):
    project, owner_user = people_app
    response = client_for(owner_user).post(
        "/projects/people/edit/",
        {"name": "People", "slug": "people", "support_tier": "side_project", "urls": "ftp://x"},
    )
    assert response.status_code == 200
    assert "urls" in response.context["form"].errors
    assert list(project.urls.values_list("url", flat=True)) == ["https://people.example.com/"]


def test_owner_can_edit_own_project(people_app):
    project, owner_user = people_app
    client = client_for(owner_user)
    page = client.get("/projects/people/edit/")
    assert page.status_code == 200
    assert "HR portal" in page.content.decode()  # aliases, one per line
    response = client.post(
        "/projects/people/edit/",
        {
            "name": "People",
            "slug": "people",
            "support_tier": "it_supported",
            "description": "Who is who.",
            "aliases": "HR portal\nDirectory",
            "urls": "https://people.example.com/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/projects/people/"
    project.refresh_from_db()
    assert project.support_tier == "it_supported"
    assert sorted(project.aliases.values_list("alias", flat=True)) == ["Directory", "HR portal"]


@pytest.mark.parametrize("who", ["other_owner", "reader"])
def test_others_get_403_on_project_edit(people_app, reader, who):
    project, _ = people_app
    if who == "other_owner":
        other = PersonFactory()
        ProjectRoleFactory(person=other, role=ProjectRole.Role.OWNER)
        user = other.user
    else:
        user = reader
    client = client_for(user)
    assert client.get("/projects/people/edit/").status_code == 403
    response = client.post(
        "/projects/people/edit/",
        {"name": "Hijacked", "slug": "people", "support_tier": "retired"},
    )
    assert response.status_code == 403
    assert "You may not do that" in response.content.decode()
    project.refresh_from_db()
    assert project.name == "People"
    # Nor may they change who supports it.
    response = client.post("/projects/people/roles/", {"person": user.username, "role": "owner"})
    assert response.status_code == 403
    assert not project.roles.filter(person__user=user).exists()


# --- IT systems -------------------------------------------------------------------------------


def test_it_staff_can_create_a_system_with_contacts():
    it_user = it_staff_user(display_name="Ivan IT")
    contact = PersonFactory()
    response = client_for(it_user).post(
        "/systems/new/",
        {"name": "Oracle RAC", "kind": "database", "contacts": contact.user.username},
    )
    assert response.status_code == 302
    system = ITSystem.objects.get(slug="oracle-rac")
    assert list(system.contacts.all()) == [contact]
    assert response["Location"] == "/systems/oracle-rac/"


def test_reader_cannot_create_a_system(reader):
    client = client_for(reader)
    assert client.get("/systems/new/").status_code == 403
    assert client.post("/systems/new/", {"name": "Rogue", "kind": "other"}).status_code == 403
    assert not ITSystem.objects.exists()
    assert "New IT system" not in client.get("/systems/").content.decode()


def test_system_page_shows_blast_radius_grouped_by_path(reader, people_app):
    project, _ = people_app
    datacenter = SystemFactory(name="Datacenter", slug="dc")
    sso = SystemFactory(name="SSO", slug="sso")
    DependencyFactory(source_system=sso, target_system=datacenter, criticality="hard")
    DependencyFactory(source_project=project, target_system=sso, criticality="hard")
    wiki = ProjectFactory(name="Wiki")
    DependencyFactory(source_project=wiki, target_system=datacenter, criticality="soft")
    body = client_for(reader).get("/systems/dc/").content.decode()
    assert "<strong>2 projects</strong>" in body
    assert "People → SSO → Datacenter" in body
    assert "Wiki → Datacenter" in body
    section = body[body.index('id="blast-radius"') :]
    assert section.index("Wiki") < section.index("People")  # shorter path first
    assert 'class="badge soft"' in section and 'class="badge hard"' in section


def test_cycle_is_an_inline_error(people_app):
    it_user = it_staff_user()
    sso = SystemFactory(name="SSO", slug="sso")
    directory = SystemFactory(name="Directory", slug="directory")
    services.dependency_add(actor=None, source_system=directory, target_system=sso)
    response = client_for(it_user).post(
        "/systems/sso/dependencies/", {"target_system": "directory", "criticality": "hard"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "This dependency would close a cycle: SSO → Directory → SSO." in body
    assert 'id="id_target_system_errors"' in body
    assert not Dependency.objects.filter(source_system=sso).exists()


def test_reader_cannot_add_system_edges(reader):
    SystemFactory(name="SSO", slug="sso")
    SystemFactory(name="Datacenter", slug="dc")
    response = client_for(reader).post(
        "/systems/sso/dependencies/", {"target_system": "dc", "criticality": "hard"}
    )
    assert response.status_code == 403
    assert not Dependency.objects.exists()


# --- the person's own profile -----------------------------------------------------------------


def _profile_post(**overrides) -> dict:
    data = {
        "display_name": "Rita Reader",
        "email": "rita@example.com",
        "time_zone": "Europe/Paris",
        "hours_mon": "09:00-17:00",
        "hours_tue": "9:00-12:00, 13:00-17:30",
    }
    data.update(overrides)
    return data


def test_profile_saves_time_zone_and_parses_working_hours(reader):
    response = client_for(reader).post("/me/", _profile_post())
    assert response.status_code == 302
    person = Person.objects.get(user=reader)
    assert person.time_zone == "Europe/Paris"
    assert person.working_hours == {
        "mon": [["09:00", "17:00"]],
        "tue": [["09:00", "12:00"], ["13:00", "17:30"]],
    }
    page = client_for(reader).get("/me/").content.decode()
    assert 'value="09:00-12:00, 13:00-17:30"' in page
    assert 'list="id_time_zone-zones"' in page and '<datalist id="id_time_zone-zones">' in page
    assert '<option value="Asia/Tokyo">UTC+09:00</option>' in page
    assert '<option value="Asia/Kolkata">UTC+05:30</option>' in page
    assert 'value="localtime"' not in page and 'value="Factory"' not in page


def test_invalid_time_zone_is_inline_and_saves_nothing(reader):
    audits = AuditEntry.objects.count()
    response = client_for(reader).post(
        "/me/", _profile_post(time_zone="Mars/Olympus", display_name="Changed")
    )
    assert response.status_code == 200
    assert "time_zone" in response.context["form"].errors
    assert 'id="id_time_zone_errors"' in response.content.decode()
    person = Person.objects.get(user=reader)
    assert person.time_zone == "UTC"
    assert person.display_name == "Rita Reader"
    assert AuditEntry.objects.count() == audits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9-5", "Wednesday: “9-5” is not a time range"),
        ("17:00-09:00", "Wednesday: 17:00–09:00 ends before it starts."),
        ("09:00-13:00, 12:00-17:00", "Wednesday: intervals overlap"),
        ("25:00-26:00", "Wednesday:"),
    ],
)
def test_bad_working_hours_name_the_day(reader, text, message):
    response = client_for(reader).post("/me/", _profile_post(hours_wed=text))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["hours_wed"]
    assert message in response.content.decode()
    assert Person.objects.get(user=reader).time_zone == "UTC"


def test_contact_methods_are_added_and_removed(reader):
    client = client_for(reader)
    response = client.post("/me/contacts/", {"kind": "sms", "address": "12345"}, **HTMX)
    assert response.status_code == 200
    assert "international form" in response.content.decode()
    assert not ContactMethod.objects.exists()

    response = client.post(
        "/me/contacts/", {"kind": "sms", "address": "+14155550100", "for_pages": "on"}
    )
    assert response.status_code == 302
    method = ContactMethod.objects.get(person__user=reader)
    assert method.for_pages and not method.for_notices

    other = ContactMethodFactory()
    assert client.post(f"/me/contacts/{other.pk}/remove/").status_code == 404
    assert client.post(f"/me/contacts/{method.pk}/remove/", **HTMX).status_code == 200
    assert not ContactMethod.objects.filter(pk=method.pk).exists()


# --- CSRF and sign-in --------------------------------------------------------------------------


def test_csrf_is_enforced_on_forms(reader):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reader)
    assert client.post("/me/", _profile_post(display_name="No token")).status_code == 403
    assert Person.objects.get(user=reader).display_name == "Rita Reader"

    page = client.get("/me/").content.decode()
    token = client.cookies["csrftoken"].value
    assert '"X-CSRFToken": "' in page  # rides on <body> for htmx
    response = client.post("/me/", _profile_post(display_name="With token"), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert Person.objects.get(user=reader).display_name == "With token"


def test_sign_in_and_sign_out(reader):
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    response = client.post(reverse("login"), {"username": reader.username, "password": "pw"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    body = client.get("/").content.decode()
    assert re.search(r'<form method="post" action="/accounts/logout/">', body)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get("/").status_code == 302
