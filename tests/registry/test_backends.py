"""The session's account, read with its person in one plain statement (`registry.backends`):
the same account and person the ORM reads, no query more when the page asks for the person,
and each sign-in backend's rules on who may stay signed in kept."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.backends import ModelBackend, account_with_person
from registry.models import Person
from registry.permissions import is_it_staff
from sso.backend import OIDCBackend
from tests.factories import PersonFactory, it_staff_user

pytestmark = pytest.mark.django_db

User = get_user_model()


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def test_the_account_and_person_are_what_the_orm_reads():
    person = PersonFactory(
        time_zone="Asia/Kolkata",
        working_hours={"mon": [["08:30", "12:00"], ["13:00", "17:30"]]},
    )
    with CaptureQueriesContext(connection) as queries:
        account = account_with_person(person.user_id)
        read_person = account.person
        assert read_person.user is account
    assert len(queries) == 1

    assert _fields(account) == _fields(User.objects.get(pk=person.user_id))
    assert _fields(read_person) == _fields(Person.objects.get(pk=person.pk))
    assert read_person.working_hours["mon"][1] == ["13:00", "17:30"]  # JSON, not its text
    assert account.date_joined.tzinfo is not None
    # Saved back as any instance is: nothing it did not read is lost.
    read_person.display_name = "Renamed"
    read_person.save()
    assert Person.objects.get(pk=person.pk).working_hours == person.working_hours


def test_an_account_without_a_person_has_none_and_an_unknown_id_no_account():
    admin = User.objects.create_superuser("root", "root@example.com", "a-long-pass-phrase")
    account = account_with_person(admin.pk)
    assert account == admin
    with pytest.raises(Person.DoesNotExist):
        account.person  # noqa: B018 — the access is the point
    assert getattr(account, "person", None) is None
    assert account_with_person(admin.pk + 1000) is None


def test_whether_the_account_is_it_staff_comes_with_it():
    staff, other = it_staff_user(), PersonFactory().user
    with CaptureQueriesContext(connection) as queries:
        assert is_it_staff(account_with_person(staff.pk)) is True
        assert is_it_staff(account_with_person(other.pk)) is False
    assert len(queries) == 2  # the two reads, nothing more
    # Another group of the same account does not count.
    other.groups.create(name="Not IT")
    assert is_it_staff(account_with_person(other.pk)) is False


@pytest.mark.parametrize("backend", [ModelBackend, OIDCBackend])
def test_a_deactivated_account_signs_out_on_its_next_request(backend):
    person = PersonFactory()
    assert backend().get_user(person.user_id) == person.user
    User.objects.filter(pk=person.user_id).update(is_active=False)
    assert backend().get_user(person.user_id) is None


def test_a_signed_in_page_reads_the_viewer_and_their_zone_from_one_statement():
    person = PersonFactory(time_zone="America/Los_Angeles")
    client = Client()
    client.force_login(person.user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    assert response.wsgi_request.time_zone == "America/Los_Angeles"
    # The viewer's person comes with their account, not from a query of its own.
    statements = [q["sql"] for q in queries]
    account_reads = [
        sql
        for sql in statements
        if "LEFT JOIN registry_person p" in sql or sql.startswith("EXECUTE steward_account(")
    ]
    assert len(account_reads) == 1
    assert not [sql for sql in statements if sql.startswith('SELECT "registry_person"')]
