"""Sign-in is rate limited against guessing without letting anyone lock someone else out: per
username from one address, per address, and per username over every address (sparing browsers
that signed in before), on the login page and on the API token endpoint, sharing one set of
counters; client addresses come through trusted proxies only."""

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


def test_the_lock_is_per_address_so_a_guesser_cannot_lock_the_owner_out():
    PersonFactory(user__username="ada")
    for _ in range(5):
        _login(Client(), "ada", "wrong", address="203.0.113.66")

    # the guessing address is locked for that username, in any case of it
    assert _login(Client(), " ADA ", "pw", address="203.0.113.66").status_code == 429
    # the owner, from their own address, signs in with the right password
    assert _login(Client(), "ada", "pw", address="198.51.100.1").status_code == 302


@override_settings(STEWARD_LOGIN_MAX_FAILURES_PER_USERNAME=6)
def test_guessing_one_username_from_many_addresses_spares_browsers_that_signed_in_before():
    PersonFactory(user__username="ada")
    owners_browser = Client()
    assert _login(owners_browser, "ada", "pw", address="198.51.100.1").status_code == 302
    owners_browser.post("/accounts/logout/")  # signing out keeps the browser known
    for i in range(6):  # a botnet: a few guesses from each of many addresses
        _login(Client(), "ada", "wrong", address=f"192.0.2.{i + 10}")

    # a new browser at a new address is refused: the username is under attack
    assert _login(Client(), "ada", "pw", address="198.51.100.2").status_code == 429
    # the owner's browser (its signed "known browser" cookie) still gets in, from anywhere
    assert _login(owners_browser, "ada", "pw", address="198.51.100.3").status_code == 302
    # a forged cookie is no known browser
    forged = Client()
    forged.cookies["steward_known_signin"] = "forged"
    assert _login(forged, "ada", "pw", address="198.51.100.4").status_code == 429


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


@override_settings(STEWARD_LOGIN_MAX_FAILURES=2, STEWARD_LOGIN_WINDOW_SECONDS=60)
def test_the_lock_ends_with_the_window():
    from steward.health import redis_connection
    from steward.login_throttle import PREFIX

    PersonFactory(user__username="ada")
    _login(Client(), "ada", "wrong")
    _login(Client(), "ada", "wrong")
    assert _login(Client(), "ada", "pw").status_code == 429

    # the window's end, without sleeping: the counters expire as Redis would expire them (a
    # one-second window was down to a TTL of 0 by the time a slow run read it)
    client = redis_connection()
    for key in client.scan_iter(f"{PREFIX}*"):
        assert 0 < client.ttl(key) <= 60
        client.delete(key)

    assert _login(Client(), "ada", "pw").status_code == 302


def test_token_endpoint_is_throttled_and_shares_the_counters():
    PersonFactory(user__username="ada")
    api = Client(REMOTE_ADDR="192.0.2.1")
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


# --- client addresses through trusted proxies ---------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "client"),
    [
        # no trusted proxies: the header is never read
        ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # a peer that is not a trusted proxy: its header is the client's own writing
        (["10.0.0.0/8"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
        # through a trusted proxy: the rightmost hop that is not one; what the client wrote
        # to the left of it (1.2.3.4) is ignored
        (["10.0.0.0/8"], "10.0.0.2", "1.2.3.4, 198.51.100.7, 10.0.0.5", "198.51.100.7"),
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.7", "198.51.100.7"),
        # every hop trusted: the leftmost
        (["10.0.0.0/8"], "10.0.0.2", "10.1.1.1, 10.0.0.5", "10.1.1.1"),
        # a trusted proxy that sent no header: the proxy itself
        (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),
        # garbage to the right of real hops: the hop that passed it on
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.7, not-an-address", "10.0.0.2"),
        # IPv6, ports, IPv4-mapped forms
        (["::1/128", "fd00::/8"], "::1", "2001:db8::5, fd00::1", "2001:db8::5"),
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.7:4711", "198.51.100.7"),
        (["10.0.0.0/8"], "10.0.0.2", "[2001:db8::5]:4711", "2001:db8::5"),
        (["10.0.0.0/8"], "::ffff:10.0.0.2", "::ffff:198.51.100.7", "198.51.100.7"),
    ],
)
def test_client_address_honours_x_forwarded_for_only_from_trusted_proxies(
    settings, trusted, remote, forwarded, client
):
    from django.test import RequestFactory

    from steward.proxies import client_address

    settings.STEWARD_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == client


@override_settings(STEWARD_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_each_client_has_its_own_count():
    PersonFactory(user__username="ada")

    def through_proxy(client_ip: str, password: str, spoofed: str = ""):
        forwarded = f"{spoofed}, {client_ip}" if spoofed else client_ip
        return Client().post(
            LOGIN,
            {"username": "ada", "password": password},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    for i in range(5):  # the guesser rotates a spoofed left part: it does not help
        through_proxy("203.0.113.66", "wrong", spoofed=f"192.0.2.{i}")

    assert through_proxy("203.0.113.66", "pw").status_code == 429
    # the proxy is not locked: the owner behind it signs in
    assert through_proxy("198.51.100.1", "pw").status_code == 302


def test_untrusted_x_forwarded_for_cannot_dodge_the_lock():
    PersonFactory(user__username="ada")
    for i in range(5):
        Client().post(
            LOGIN,
            {"username": "ada", "password": "wrong"},
            REMOTE_ADDR="203.0.113.66",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )

    response = Client().post(
        LOGIN,
        {"username": "ada", "password": "pw"},
        REMOTE_ADDR="203.0.113.66",
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )

    assert response.status_code == 429
