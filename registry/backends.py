"""The account of a session, read with its person in one plain statement.

Every signed-in page asks for the viewer's person (their time zone, their roles) and most ask
whether they are IT staff. Django's, django-auth-ldap's and mozilla-django-oidc's `get_user`
read the account alone, through the ORM (about 340 µs here, most of it compiling the query), and
the person and the IT group were a query each of the same cost. One plain statement reads all
three (a join through the ORM's `select_related` cost more to compile than the query it saved),
prepared once a server session (`steward.prepared`): planning the join cost three times what
running it does (271 µs sent whole, 86 µs prepared).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import backends, get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection

from steward import prepared
from steward.rows import Columns

from . import permissions
from .models import Person


@cache
def _statement() -> tuple[prepared.Prepared, Columns, Columns]:
    """The statement and how to read its rows: built once a process."""
    account, person = Columns(get_user_model(), "a"), Columns(Person, "p")
    user_field = Person._meta.get_field("user")
    groups = account.model._meta.get_field("groups")
    membership, group = groups.remote_field.through, groups.related_model
    pk = account.model._meta.pk.column
    # Table and column names from the models' metadata; the id and group name are parameters.
    sql = (
        f"SELECT {account.select()}, {person.select()}, EXISTS ("  # noqa: S608  # nosec B608
        f"SELECT 1 FROM {membership._meta.db_table} m "
        f'JOIN {group._meta.db_table} g ON g.id = m."{groups.m2m_reverse_name()}" '
        f'WHERE m."{groups.m2m_column_name()}" = a."{pk}" AND g.name = %(group)s) '
        f"FROM {account.model._meta.db_table} a "
        f'LEFT JOIN {Person._meta.db_table} p ON p."{user_field.column}" = a."{pk}" '
        f'WHERE a."{pk}" = %(id)s'
    )
    types = {"group": "text", "id": account.model._meta.pk.db_type(connection)}
    return prepared.Prepared("steward_account", sql, types), account, person


def account_with_person(user_id: Any) -> AbstractBaseUser | None:
    """The account `user_id` names with its person (`account.person`; an account without one
    raises `RelatedObjectDoesNotExist` there, as always) and whether it is in the IT group
    (`permissions.is_it_staff` asks no query then), or None when there is no such account."""
    statement, account_columns, person_columns = _statement()
    with connection.cursor() as cursor:
        prepared.execute(cursor, statement, {"group": settings.STEWARD_IT_GROUP, "id": user_id})
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(account_columns)
    account = account_columns.build(row[:split])
    person_values, in_it_group = row[split:-1], row[-1]
    person = person_columns.build(person_values) if person_values[0] is not None else None
    user_field = Person._meta.get_field("user")
    user_field.remote_field.set_cached_value(account, person)  # account.person
    if person is not None:
        user_field.set_cached_value(person, account)  # person.user
    permissions.it_staff_known(account, in_it_group)
    return account


class ModelBackend(backends.ModelBackend):
    """Django's password backend, reading the session's account with its person."""

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        user = account_with_person(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
