from tests.e2e_support import celery_worker, http_sink  # noqa: F401
from tests.ssrf_support import (  # noqa: F401
    fake_dns,
    loopback_listener,
    production_network_settings,
    production_networks,
)
