"""Sessions read with one plain statement (`steward.sessions`), behaving as Django's database
sessions do: a live one is read, an expired or unknown one is empty and its key forgotten, and
whatever else Django's backend does is unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from steward.sessions import SessionStore
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_the_setting_names_this_store():
    assert settings.SESSION_ENGINE == "steward.sessions"


@pytest.mark.parametrize(
    ("prepared", "sent"),
    [(True, "EXECUTE steward_session("), (False, "SELECT session_data FROM django_session")],
)
def test_a_session_is_read_back_with_one_statement(settings, prepared, sent):
    """Prepared once a server session, or sent whole behind a transaction pooler."""
    settings.STEWARD_PREPARED_STATEMENTS = prepared
    store = SessionStore()
    store["shape"] = {"page": 3, "q": "peple"}
    store.save()
    again = SessionStore(store.session_key)
    with CaptureQueriesContext(connection) as queries:
        assert again["shape"] == {"page": 3, "q": "peple"}
    assert len(queries) == 1
    assert queries[0]["sql"].startswith(sent)


def test_an_expired_or_unknown_session_is_empty_and_its_key_forgotten():
    store = SessionStore()
    store["x"] = 1
    store.save()
    Session.objects.filter(pk=store.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = SessionStore(store.session_key)
    assert expired.load() == {}
    assert expired.session_key is None  # a new key on the next save, as Django's backend
    unknown = SessionStore("x" * 32)
    assert unknown.load() == {}
    assert unknown.session_key is None


def test_a_tampered_session_is_empty():
    store = SessionStore()
    store["x"] = 1
    store.save()
    Session.objects.filter(pk=store.session_key).update(session_data="not-signed:by-us")
    assert SessionStore(store.session_key).load() == {}


def test_signing_in_and_out_goes_through_it():
    person = PersonFactory()
    person.user.set_password("a-long-pass-phrase")
    person.user.save()
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": person.user.username, "password": "a-long-pass-phrase"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.filter(pk=key).exists()
    client.post("/accounts/logout/")
    assert not Session.objects.filter(pk=key).exists()
    assert client.get("/").status_code == 302  # to the sign-in page
