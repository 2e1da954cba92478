"""The page tests' reader and People app (shared with the portal's page tests)."""

from tests.registry.pages import people_app, reader  # noqa: F401
from tests.ssrf_support import (  # noqa: F401
    fake_dns,
    loopback_listener,
    production_network_settings,
    production_networks,
)
