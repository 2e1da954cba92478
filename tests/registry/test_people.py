"""Every account is someone, and IT staff add people before they sign in.

An administrator made with `createsuperuser` (no person behind the account) registers a project
through the API and becomes its owner; an account gets its person when it signs in; accounts
from before get theirs from a migration. IT staff add a person from a page or the API: an
account with no password and its person, written together or not at all."""

from __future__ import annotations

import django.apps
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from registry.models import AuditEntry, Person, ProjectRole, default_working_hours
from tests.factories import PersonFactory, it_staff_user

pytestmark = pytest.mark.django_db

API = "/api/v1"
User = get_user_model()


def test_a_superuser_made_from_the_command_line_registers_a_project_through_the_api():
    admin = User.objects.create_superuser("root", "root@example.com", "a-long-pass-phrase")
    assert not Person.objects.filter(user=admin).exists()
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"{API}/projects/",
        {"name": "Admin Tools", "slug": "admin-tools"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    person = Person.objects.get(user=admin)
    assert (person.display_name, person.email) == ("root", "root@example.com")
    role = ProjectRole.objects.get(project__slug=response.json()["slug"])
    assert (role.person, role.role) == (person, ProjectRole.Role.OWNER)
    assert AuditEntry.objects.filter(object_id=str(person.pk), action="create").exists()


def test_an_account_gets_its_person_when_it_signs_in():
    user = User.objects.create_user("kim", "kim@example.com", "a-long-pass-phrase")
    user.first_name, user.last_name = "Kim", "Lee"
    user.save()
    assert Client().login(username="kim", password="a-long-pass-phrase")
    person = Person.objects.get(user=user)
    assert (person.display_name, person.email, person.time_zone) == (
        "Kim Lee",
        "kim@example.com",
        "UTC",
    )
    # Signing in again makes no second person and changes nothing.
    assert Client().login(username="kim", password="a-long-pass-phrase")
    assert Person.objects.filter(user=user).count() == 1


def test_the_profile_page_of_an_account_without_a_person_is_its_new_profile():
    user = User.objects.create_user("lee", "", "a-long-pass-phrase")
    client = Client()
    client.force_login(user)
    Person.objects.filter(user=user).delete()  # as an account from before sign-in made one
    response = client.get("/me/")
    assert response.status_code == 200
    assert Person.objects.filter(user=user).exists()


def test_accounts_from_before_get_their_person_from_the_migration():
    from importlib import import_module

    migration = import_module("registry.migrations.0007_every_account_has_a_person")
    bare = User.objects.create_user("old", "old@example.com", "a-long-pass-phrase")
    Person.objects.filter(user=bare).delete()
    kept = PersonFactory(display_name="Already Someone")
    migration.give_every_account_a_person(django.apps.apps, None)
    assert Person.objects.get(user=bare).display_name == "old"
    assert Person.objects.get(user=kept.user).display_name == "Already Someone"


# --- IT staff add people ------------------------------------------------------------------------


def _api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


NIA = {"display_name": "Nia New", "email": "nia@example.com", "time_zone": "Asia/Kolkata"}


def test_it_staff_add_someone_through_the_api_who_has_no_password_yet():
    response = _api(it_staff_user()).post(f"{API}/people/", NIA, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["display_name"], body["time_zone"]) == ("Nia New", "Asia/Kolkata")
    person = Person.objects.get(pk=body["id"])
    assert person.email == "nia@example.com"
    assert person.user.username == "nia@example.com"
    assert not person.user.has_usable_password()
    assert person.working_hours == default_working_hours()  # none given: the usual week


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"email": ""}, "email", ""),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", ""),
        ({"display_name": "Nia\u202eNew"}, "display_name", ""),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(change, field, reason):
    client = _api(it_staff_user())
    before = (User.objects.count(), Person.objects.count())
    response = client.post(f"{API}/people/", {**NIA, **change}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert reason in response.content.decode()
    assert (User.objects.count(), Person.objects.count()) == before


def test_someone_already_registered_with_that_email_is_not_added_twice():
    PersonFactory(display_name="Nia Earlier", email="NIA@example.com")
    response = _api(it_staff_user()).post(f"{API}/people/", NIA, content_type="application/json")
    assert response.status_code == 400
    assert "Nia Earlier is registered with this email already" in response.content.decode()
    assert Person.objects.filter(email__iexact="nia@example.com").count() == 1


def test_people_who_are_not_it_staff_cannot_add_anyone():
    owner = PersonFactory().user
    response = _api(owner).post(f"{API}/people/", NIA, content_type="application/json")
    assert response.status_code == 403
    assert not Person.objects.filter(email="nia@example.com").exists()


def test_it_staff_add_someone_from_the_page_and_errors_stand_beside_their_field():
    client = _api(it_staff_user())
    page = client.get("/people/new/")
    assert page.status_code == 200
    bad = client.post("/people/new/", {**NIA, "time_zone": "Mars/Olympus"})
    assert bad.status_code == 200
    assert 'id="id_time_zone_errors"' in bad.content.decode() or "time_zone" in str(
        bad.context["form"].errors
    )
    assert not Person.objects.filter(email="nia@example.com").exists()
    added = client.post("/people/new/", {**NIA, "hours_mon": "09:00-17:00"}, follow=True)
    assert added.status_code == 200
    person = Person.objects.get(email="nia@example.com")
    assert person.working_hours == {"mon": [["09:00", "17:00"]]}
    assert "Nia New is added" in added.content.decode()
