"""Every page at a phone's width (390 px) in Chromium, as every role that may see it (not
Django's admin, which keeps its own stylesheet): nothing
scrolls sideways, and every visible link, button and field offers a tap target at least 44 px
tall (its own box, with its padding, or the label that holds it)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.security.test_authorization_matrix import EXPECTED, _values
from tests.security.world import ROLES, world_build

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH = 390
MEASURE = """() => {
  const targets = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  const small = [];
  for (const el of document.querySelectorAll(targets)) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || box.right <= 0 || box.bottom <= 0) continue;
    const label = el.closest('label');
    if (label) box = label.getBoundingClientRect();
    if (box.height < 44) {
      small.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.name || '').trim().slice(0, 40)}" ${Math.round(box.height)}px`);
    }
  }
  return {width: document.scrollingElement.scrollWidth, small};
}"""


def _pages(world) -> list[tuple[str, str, list[str]]]:
    """(name, path, roles that get it) of every page read with GET."""
    values = _values(world)
    pages = []
    for name, (method, path, statuses) in sorted(EXPECTED.items()):
        if method != "GET" or path.startswith(("/api/", "/feeds/", "/metrics", "/healthz")):
            continue
        if name.startswith("admin:"):
            # Django's admin has its own stylesheet, for IT's desks.
            continue
        roles = [
            role for role, status in zip(ROLES, statuses.split(), strict=True) if status == "200"
        ]
        pages.append((name, path.format(**values), roles))
    return pages


def test_every_page_fits_a_phone_and_its_targets_are_tappable(browser, live_server) -> None:
    world = world_build()
    problems: list[str] = []
    visited = 0
    html_paths: dict[str, bool] = {}
    for role in ROLES:
        context = browser.new_context(
            viewport={"width": WIDTH, "height": 844}, timezone_id="Asia/Kolkata"
        )
        user = world.users[role]
        if user is not None:
            client = Client()
            client.force_login(user)
            session = client.cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
            )
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            for name, path, roles in _pages(world):
                if role not in roles:
                    continue
                url = f"{live_server.url}{path}"
                if path not in html_paths:  # downloads (CSV, Markdown, calendars) are not pages
                    kind = page.request.get(url).headers.get("content-type", "")
                    html_paths[path] = kind.startswith("text/html")
                if not html_paths[path]:
                    continue
                page.goto(url)
                page.wait_for_load_state("networkidle")
                found = page.evaluate(MEASURE)
                visited += 1
                if found["width"] > WIDTH:
                    problems.append(f"{name} as {role}: {found['width']} px wide")
                problems += [f"{name} as {role}: {target}" for target in found["small"]]
        finally:
            context.close()
    assert visited > 150, visited
    assert not problems, "\n".join(dict.fromkeys(problems))
