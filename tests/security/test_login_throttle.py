"""Sign-in is rate limited against guessing: per username and per client address, on the login
page and on the API token endpoint, sharing one set of counters."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"


def _login(client: Client, username: str, password: str, address: str = "192.0.2.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_fifth_failure_locks_the_username_even_for_the_right_password():
    PersonFactory(user__username="ada")
    client = Client()
    for _ in range(5):
        response = _login(client, "ada", "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert not response.wsgi_request.user.is_authenticated

    response = _login(client, "ada", "pw")

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_the_username_is_locked_from_every_address_and_in_any_case():
    PersonFactory(user__username="ada")
    for i in range(5):
        _login(Client(), "ada", "wrong", address=f"192.0.2.{i + 10}")

    response = _login(Client(), " ADA ", "pw", address="198.51.100.1")

    assert response.status_code == 429


def test_below_the_limit_the_right_password_signs_in_and_clears_the_count():
    PersonFactory(user__username="ada")
    for _ in range(4):
        _login(Client(), "ada", "wrong")

    response = _login(Client(), "ada", "pw")
    assert response.status_code == 302

    for _ in range(4):  # the count starts again after a success
        assert _login(Client(), "ada", "wrong").status_code == 200
    assert _login(Client(), "ada", "pw").status_code == 302


def test_other_users_are_not_locked_by_someone_elses_failures():
    PersonFactory(user__username="ada")
    PersonFactory(user__username="grace")
    for _ in range(5):
        _login(Client(), "ada", "wrong", address="192.0.2.1")

    assert _login(Client(), "grace", "pw", address="192.0.2.2").status_code == 302


@override_settings(STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS=6)
def test_one_address_guessing_many_usernames_is_locked():
    PersonFactory(user__username="victim")
    for i in range(6):
        _login(Client(), f"guess{i}", "wrong", address="203.0.113.7")

    assert _login(Client(), "victim", "pw", address="203.0.113.7").status_code == 429
    # the victim from their own address is fine: only the guessing address is locked
    assert _login(Client(), "victim", "pw", address="198.51.100.3").status_code == 302


@override_settings(STEWARD_LOGIN_MAX_FAILURES=2, STEWARD_LOGIN_WINDOW_SECONDS=1)
def test_the_lock_ends_with_the_window():
    from steward.health import redis_connection
    from steward.login_throttle import PREFIX

    PersonFactory(user__username="ada")
    _login(Client(), "ada", "wrong")
    _login(Client(), "ada", "wrong")
    assert _login(Client(), "ada", "pw").status_code == 429

    # the window's end, without sleeping: the counters expire as Redis would expire them
    client = redis_connection()
    for key in client.scan_iter(f"{PREFIX}*"):
        assert 0 < client.ttl(key) <= 1
        client.delete(key)

    assert _login(Client(), "ada", "pw").status_code == 302


def test_token_endpoint_is_throttled_and_shares_the_counters():
    PersonFactory(user__username="ada")
    api = Client()
    for _ in range(3):
        response = api.post(
            TOKEN, {"username": "ada", "password": "wrong"}, content_type="application/json"
        )
        assert response.status_code == 400
    for _ in range(2):
        _login(Client(), "ada", "wrong")

    response = api.post(
        TOKEN, {"username": "ada", "password": "pw"}, content_type="application/json"
    )

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    assert _login(Client(), "ada", "pw").status_code == 429


def test_token_endpoint_success_and_odd_bodies_are_not_errors():
    PersonFactory(user__username="ada")
    api = Client()
    response = api.post(
        TOKEN, {"username": "ada", "password": "pw"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["token"]

    response = api.post(TOKEN, [1, 2], content_type="application/json")
    assert response.status_code == 400


def test_the_login_page_still_renders_and_links_back():
    response = Client().get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
def test_without_redis_the_local_cache_still_counts():
    from django.core.cache import cache

    cache.clear()
    PersonFactory(user__username="ada")
    for _ in range(5):
        assert _login(Client(), "ada", "wrong").status_code == 200

    assert _login(Client(), "ada", "pw").status_code == 429
    cache.clear()
