"""CSRF is enforced on every form and on session-authenticated API writes; API writes with a
token (no cookie, so nothing a third-party site can ride on) do not need it.

The URL list is the authorisation matrix's, which the resolver keeps complete; only the
machine-to-machine endpoints (keys in the URL or header, no session) are exempt.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.security.test_authorization_matrix import EXPECTED, _values
from tests.security.world import world_build

pytestmark = pytest.mark.django_db

# Called by monitors with their own keys, never with a browser's session.
CSRF_EXEMPT = {
    "events-enqueue",
    "change-events-enqueue",
    "integrations:alertmanager",
    "integrations:alertmanager-key",
    "integrations:heartbeat",
    # Called by Twilio and Slack, each request signed with the provider's secret (a session is
    # no credential there: tests/security/test_authorization_matrix.py).
    "notifications:slack_interactivity",
    "notifications:twilio_call_status",
    "notifications:twilio_gather",
    "notifications:twilio_sms",
    "notifications:twilio_voice",
    # Called by the identity provider with SCIM's bearer token; a session is no credential there.
    "directory:scim-config",
    "directory:scim-group",
    "directory:scim-groups",
    "directory:scim-groups-search",
    "directory:scim-not-found",
    "directory:scim-resource-type",
    "directory:scim-resource-types",
    "directory:scim-schema",
    "directory:scim-schemas",
    "directory:scim-search",
    "directory:scim-user",
    "directory:scim-users",
    "directory:scim-users-search",
}
# Writes beyond the POSTs in EXPECTED, per method.
API_WRITES = [
    ("PATCH", "/api/v1/projects/{project}/"),
    ("DELETE", "/api/v1/projects/{project}/"),
    ("PATCH", "/api/v1/people/{owner}/"),
    ("PATCH", "/api/v1/rotations/{rotation}/"),
    ("DELETE", "/api/v1/rotations/{rotation}/overrides/{override}/"),
    ("DELETE", "/api/v1/subscriptions/{subscription}/"),
    ("PATCH", "/api/v1/incidents/{incident}/"),
    ("POST", "/api/v1/projects/"),
    ("POST", "/api/v1/reports/"),
    ("POST", "/api/v1/subscriptions/"),
    ("POST", "/api/v1/notifications/{notification}/ack/"),
]


def _csrf_refused(response) -> bool:
    return response.status_code == 403 and "CSRF" in response.content.decode()


def test_every_form_url_refuses_a_post_without_the_token() -> None:
    world = world_build()
    values = _values(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])  # the role that may post everywhere
    accepted = []
    for name, (_method, path, _statuses) in sorted(EXPECTED.items()):
        if name in CSRF_EXEMPT or path.startswith("/api/"):
            continue
        url = path.format(**values)
        if not _csrf_refused(client.post(url, {"title": "x"})):
            accepted.append(f"{name} {url}")
    assert not accepted, "POST without a CSRF token not refused:\n" + "\n".join(accepted)


def test_anonymous_forms_need_the_token_too() -> None:
    world = world_build()
    client = Client(enforce_csrf_checks=True)
    for url in (
        "/accounts/login/",
        f"/projects/{world.project.slug}/subscribe/",
        "/notifications/ack/forged/",
        "/review/forged/",
        "/accounts/password_reset/",
    ):
        assert _csrf_refused(client.post(url, {"username": "owner", "password": "pw"})), url


def test_the_token_from_the_page_is_accepted() -> None:
    """The refusals above are about the token: with it, the same post goes through."""
    world = world_build()
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["owner"])
    edit = f"/projects/{world.project.slug}/edit/"
    page = client.get(edit).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"name": "Owned app", "slug": world.project.slug, "support_tier": "side_project"}

    response = client.post(edit, {**form, "csrfmiddlewaretoken": token, "description": "New"})

    assert response.status_code == 302
    world.project.refresh_from_db()
    assert world.project.description == "New"
    assert _csrf_refused(client.post(edit, {**form, "description": "Forged"}))


def test_htmx_posts_carry_the_token_in_a_header() -> None:
    """base.html puts the token in hx-headers on <body>; the header alone is enough."""
    world = world_build()
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["owner"])
    page = client.get(f"/projects/{world.project.slug}/").content.decode()
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    response = client.post(
        f"/projects/{world.project.slug}/report/",
        {"description": "Broken"},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200
    assert not _csrf_refused(response)


def _api_writes(values: dict) -> list[tuple[str, str]]:
    writes = [
        ("POST", path.format(**values))
        for name, (method, path, _s) in EXPECTED.items()
        if method == "POST" and path.startswith("/api/") and name != "api-token"
    ]
    return writes + [(method, path.format(**values)) for method, path in API_WRITES]


def test_session_authenticated_api_writes_need_the_token() -> None:
    world = world_build()
    values = _values(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    accepted = []
    for method, url in _api_writes(values):
        response = client.generic(method, url, "{}", content_type="application/json")
        if not (response.status_code == 403 and "CSRF" in response.json().get("detail", "")):
            accepted.append(f"{method} {url}: {response.status_code}")
    assert not accepted, "session API writes without a CSRF token:\n" + "\n".join(accepted)


def test_token_authenticated_api_writes_do_not_need_csrf() -> None:
    world = world_build()
    values = _values(world)
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {world.tokens['admin']}")
    for method, url in _api_writes(values):
        response = client.generic(method, url, "{}", content_type="application/json")
        assert "CSRF" not in response.content.decode(), (method, url, response.status_code)
        assert response.status_code < 500, (method, url)


def test_the_sso_callback_signs_in_only_the_browser_that_started_the_sign_in(settings) -> None:
    """The OpenID callback is a GET from the provider, so CSRF tokens cannot guard it: the state
    (and nonce, and PKCE verifier) kept in the starting browser's session do. A code pushed into
    another browser (login CSRF) is refused before the provider is even asked."""
    settings.STEWARD_OIDC_CLIENT_ID = "steward"
    settings.STEWARD_OIDC_ISSUER = "https://idp.invalid"
    settings.STEWARD_OIDC_AUTHORIZATION_ENDPOINT = "https://idp.invalid/authorize"
    settings.STEWARD_OIDC_TOKEN_ENDPOINT = "https://idp.invalid/token"
    settings.STEWARD_OIDC_JWKS_URI = "https://idp.invalid/jwks"
    victim = Client(enforce_csrf_checks=True)

    response = victim.get("/sso/callback/?code=attackers-code&state=attackers-state")

    assert response.status_code == 403
    assert "_auth_user_id" not in victim.session
