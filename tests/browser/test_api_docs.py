"""The API docs render in Chromium with every request off this server refused: Swagger UI comes
from Steward's own static files, so `/api/docs/` works where no CDN can be reached."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.factories import PersonFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_without_reaching_any_other_host(page: Page, live_server) -> None:
    PersonFactory(user__username="reader")
    here = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == here:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{live_server.url}/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Steward API")
    expect(page.locator(".swagger-ui").get_by_text("/api/v1/auth/token/").first).to_be_visible()
    assert elsewhere == []
