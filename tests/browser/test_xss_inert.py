"""In a real browser, pages full of script payloads in every user-written field fire no dialog
and run no injected handler (the markup-level checks are tests/security/test_xss.py)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in
from tests.security.test_xss import PAYLOAD, _hostile_world

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_payloads_stay_text_in_the_browser(page: Page, live_server) -> None:
    world = _hostile_world()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, "admin")

    for path in (
        "/",
        f"/?q={world.project.name[:20]}",
        f"/projects/{world.project.slug}/",
        f"/projects/{world.project.slug}/oncall/",
        f"/systems/{world.system.slug}/",
        f"/it/changes/{world.change.pk}/",
        f"/it/outages/{world.outage.pk}/",
        f"/incidents/{world.incident.pk}/",
        f"/status/{world.project.slug}/",
        f"/projects/{world.other_project.slug}/reports/",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        # The payload is on the page as text, and no <img onerror> or <script> came of it.
        assert page.locator("img[src=x]").count() == 0, path
        assert page.locator("script", has_text="alert(1)").count() == 0, path

    page.goto(f"{live_server.url}/projects/{world.project.slug}/")
    expect(page.locator("h1")).to_contain_text(PAYLOAD)
    assert dialogs == []
