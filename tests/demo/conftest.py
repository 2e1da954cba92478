"""The demo's browser test reuses the browser suite's Chromium, page and failure screenshots."""

from tests.browser.conftest import browser, page, pytest_runtest_makereport  # noqa: F401
