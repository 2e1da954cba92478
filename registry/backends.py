"""The account of a session, read with its person in one plain statement.

Every signed-in page asks for the viewer's person (their time zone, their roles). Django's,
django-auth-ldap's and mozilla-django-oidc's `get_user` read the account alone, through the ORM
(about 340 µs here, most of it compiling the query), and the person was a second query of the
same cost. One plain statement reads both (a join through the ORM's `select_related` cost more
to compile than the query it saved).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import backends, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection

from steward.rows import Columns

from .models import Person

_read: tuple[str, Columns, Columns] | None = None


def _statement() -> tuple[str, Columns, Columns]:
    """The statement and how to read its rows: built once a process."""
    global _read
    if _read is None:
        account, person = Columns(get_user_model(), "a"), Columns(Person, "p")
        user_field = Person._meta.get_field("user")
        # Table and column names from the models' metadata; the id is a parameter.
        sql = (
            f"SELECT {account.select()}, {person.select()} "  # noqa: S608  # nosec B608
            f"FROM {account.model._meta.db_table} a "
            f'LEFT JOIN {Person._meta.db_table} p ON p."{user_field.column}" = a.id '
            "WHERE a.id = %s"
        )
        _read = (sql, account, person)
    return _read


def account_with_person(user_id: Any) -> AbstractBaseUser | None:
    """The account `user_id` names with its person (`account.person`; an account without one
    raises `RelatedObjectDoesNotExist` there, as always), or None when there is no such
    account."""
    sql, account_columns, person_columns = _statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(account_columns)
    account = account_columns.build(row[:split])
    person = person_columns.build(row[split:]) if row[split] is not None else None
    user_field = Person._meta.get_field("user")
    user_field.remote_field.set_cached_value(account, person)  # account.person
    if person is not None:
        user_field.set_cached_value(person, account)  # person.user
    return account


class ModelBackend(backends.ModelBackend):
    """Django's password backend, reading the session's account with its person."""

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        user = account_with_person(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
