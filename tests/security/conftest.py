import pytest

from steward.health import redis_connection
from steward.login_throttle import PREFIX


@pytest.fixture(autouse=True)
def _clear_login_counters():
    """Each test starts with no sign-in failures counted (the counters live in Redis)."""

    def clear() -> None:
        client = redis_connection()
        if client is not None:
            keys = list(client.scan_iter(f"{PREFIX}*"))
            if keys:
                client.delete(*keys)

    clear()
    yield
    clear()
