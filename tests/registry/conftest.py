"""The page tests' reader and People app (shared with the portal's page tests)."""

from tests.registry.pages import people_app, reader  # noqa: F401
