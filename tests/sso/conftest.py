import pytest
from django.urls import reverse

from sso import provider as op
from sso import tokens
from tests.sso.op_support import CLIENT_ID, CLIENT_SECRET, start_provider, stop_provider

IT_GROUP_AT_PROVIDER = "steward-it"


@pytest.fixture(scope="session")
def openid_provider():
    """One provider for the session. Steward is reached as the test client's `testserver` and as
    the live server (the browser tests), on any port: op.mjs accepts loopback callbacks."""
    provider = start_provider(
        callback_path=reverse("sso:callback"), post_logout_path=reverse("registry:directory")
    )
    yield provider
    stop_provider(provider)


@pytest.fixture
def sso_settings(settings, openid_provider):
    settings.STEWARD_OIDC_PROVIDER_NAME = "Test IdP"
    settings.STEWARD_OIDC_ISSUER = openid_provider.issuer
    settings.STEWARD_OIDC_CLIENT_ID = CLIENT_ID
    settings.STEWARD_OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.STEWARD_OIDC_SCOPES = "openid email profile groups"
    settings.STEWARD_OIDC_IT_GROUPS = [IT_GROUP_AT_PROVIDER]
    op.forget_discovery()
    tokens._key_sets.clear()
    yield settings
    op.forget_discovery()
    tokens._key_sets.clear()


@pytest.fixture(autouse=True)
def _clear_login_counters():
    """The sign-in failure counters live in Redis, which outlives a test's transaction."""
    from steward.health import redis_connection
    from steward.login_throttle import PREFIX

    client = redis_connection()
    keys = list(client.scan_iter(f"{PREFIX}*"))
    if keys:
        client.delete(*keys)
    yield
    keys = list(client.scan_iter(f"{PREFIX}*"))
    if keys:
        client.delete(*keys)
