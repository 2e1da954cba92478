from tests.ssrf_support import (  # noqa: F401
    fake_dns,
    loopback_listener,
    production_network_settings,
    production_networks,
)
