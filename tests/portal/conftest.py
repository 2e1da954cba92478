"""The small registry of `tests.changes.conftest` (transitive impact, and the people around it)
serves problem reports and subscriptions too; the page tests share the registry's People app."""

from tests.changes.conftest import ALL_DAY, NEVER, Graph, edge, graph, it_user, reader
from tests.registry.pages import people_app
from tests.ssrf_support import (
    fake_dns,
    loopback_listener,
    production_network_settings,
    production_networks,
)

__all__ = [
    "ALL_DAY",
    "NEVER",
    "Graph",
    "edge",
    "fake_dns",
    "graph",
    "it_user",
    "loopback_listener",
    "people_app",
    "production_network_settings",
    "production_networks",
    "reader",
]
