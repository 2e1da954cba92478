"""Bad ID tokens are refused with a page saying why and an audit entry: the tokens are signed
here (with the test provider's own key, or another) and handed to Steward's callback in place
of the provider's token answer; the provider's signing keys are read from it as in production."""

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from registry.models import AuditEntry
from sso.backend import OIDCBackend
from tests.sso.op_support import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.django_db

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _token(provider, nonce: str, case: str) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "eve",
        "email": "eve@example.com",
        "nonce": nonce,
        "iat": now,
        "exp": now + 300,
    }
    if case == "signature":
        return provider.sign(claims, key=OTHER_KEY)
    if case == "unknown key":
        return provider.sign(claims, key=OTHER_KEY, kid="not-published")
    if case == "audience":
        return provider.sign({**claims, "aud": "another-app"})
    if case == "azp":
        return provider.sign({**claims, "aud": [CLIENT_ID, "another-app"], "azp": "another-app"})
    if case == "issuer":
        return provider.sign({**claims, "iss": "https://evil.example.com"})
    if case == "nonce":
        return provider.sign({**claims, "nonce": "replayed-from-another-sign-in"})
    if case == "no nonce":
        return provider.sign({key: value for key, value in claims.items() if key != "nonce"})
    if case == "expiry":
        return provider.sign({**claims, "iat": now - 7200, "exp": now - 3600})
    if case == "future":
        return provider.sign({**claims, "iat": now + 3600})
    if case == "alg none":
        return jwt.encode(claims, None, algorithm="none")
    if case == "hmac with the client secret":
        return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")
    if case == "not a token":
        return "not.a.token"
    raise AssertionError(case)


REASONS = {
    "signature": "signature does not verify",
    "unknown key": "key the identity provider does not publish",
    "audience": "another application (audience)",
    "azp": "another application (azp)",
    "issuer": "another provider (issuer)",
    "nonce": "does not belong to this sign-in (nonce)",
    "no nonce": "does not belong to this sign-in (nonce)",
    "expiry": "has expired",
    "future": "dated in the future",
    "alg none": "signed with &#x27;none&#x27;",
    "hmac with the client secret": "signed with &#x27;HS256&#x27;",
    "not a token": "not a signed token",
}


@pytest.mark.parametrize("case", list(REASONS))
def test_a_bad_id_token_is_refused_with_a_reason_and_an_audit_entry(
    sso_settings, openid_provider, monkeypatch, case
):
    client = Client()
    start = client.get("/sso/start/")
    query = parse_qs(urlsplit(start["Location"]).query)
    token = _token(openid_provider, query["nonce"][0], case)
    monkeypatch.setattr(
        OIDCBackend, "get_token", lambda self, payload: {"id_token": token, "access_token": "x"}
    )

    response = client.get(f"/sso/callback/?code=any&state={query['state'][0]}")

    assert response.status_code == 403
    assert REASONS[case] in response.content.decode()
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.get(object_type="sso.signin")
    assert entry.action == AuditEntry.Action.WARNING
    assert entry.changes["address"] == [None, "127.0.0.1"]


def test_a_callback_this_browser_did_not_start_is_refused(sso_settings):
    client = Client()
    client.get("/sso/start/")

    response = client.get("/sso/callback/?code=any&state=forged")

    assert response.status_code == 403
    assert "(state)" in response.content.decode()
    assert AuditEntry.objects.filter(object_type="sso.signin").count() == 1


def test_the_providers_own_refusal_is_shown(sso_settings):
    client = Client()
    start = client.get("/sso/start/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]

    response = client.get(
        f"/sso/callback/?error=access_denied&error_description=Not+assigned&state={state}"
    )

    assert response.status_code == 403
    assert "did not sign you in: Not assigned" in response.content.decode()


def test_an_unreachable_provider_is_a_page_not_a_500(sso_settings, settings):
    settings.STEWARD_OIDC_ISSUER = "http://127.0.0.1:9"  # nothing listens there

    response = Client().get("/sso/start/")

    assert response.status_code == 403
    assert "discovery document" in response.content.decode()
