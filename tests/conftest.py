import secrets

import pytest
import redis
from django.conf import settings

from steward import fragments

pytest_plugins = ["tests.browser_support"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite is about PostgreSQL and Redis; refuse to run quietly on anything else."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit(
            "The test suite needs PostgreSQL: set DATABASE_URL (make test does).", returncode=1
        )
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.exit(f"The test suite needs Redis at {settings.REDIS_URL}: {exc}", returncode=1)


@pytest.fixture(autouse=True)
def _fresh_fragments(monkeypatch):
    """Each test reads only the rendered fragments it kept (`steward.fragments`): a test's
    writes roll back while the catalog version they moved does not, so another test could meet
    a fragment rendered from rows it never had under the same version."""
    monkeypatch.setattr(fragments, "SALT", secrets.token_hex(8))


@pytest.fixture(autouse=True)
def _fresh_delivery_health():
    """Each test starts with no channel failing and an empty sent journal (both live in Redis,
    which outlives a test's database transaction)."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    keys = list(client.scan_iter("steward:channel:*", count=500))
    client.delete("steward:sent-journal", *keys)
    yield
