"""An owner adds a webhook from the project page, reads its secret on the page, sends a test
ping, and verifies what the receiver got with that secret; then redelivers it from the log."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook

from notifications import services as delivery
from notifications.models import Notification
from tests.browser_support import sign_in
from tests.e2e_support import http_sink  # noqa: F401
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def send_pending() -> None:
    """What a worker would do (the worker itself is exercised in the notifications e2e tests)."""
    for pk in Notification.objects.filter(state="pending").values_list("pk", flat=True):
        delivery.notification_send(notification_id=pk, now=timezone.now())


def test_owner_adds_a_webhook_pings_it_and_redelivers(
    page: Page,
    live_server,
    http_sink,  # noqa: F811
) -> None:
    owner = PersonFactory(user__username="olga", display_name="Olga Owner")
    project = ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectRoleFactory(project=project, person=owner)

    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/projects/zephyr-payroll/")
    page.get_by_role("link", name="Webhooks").click()
    page.fill("input[name=url]", "not a url")
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator(".errorlist")).to_contain_text("Enter a valid URL")

    page.fill("input[name=url]", http_sink.url("/payroll"))
    page.get_by_label("Outage opened").check()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.locator("h1")).to_contain_text("Webhook to")
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["outage.opened"]

    page.get_by_text("Show the secret").click()
    secret = page.locator("#webhook-secret").inner_text()
    page.get_by_role("button", name="Send a test ping").click()
    expect(page.locator("main")).to_contain_text("Ping queued")
    send_pending()
    page.reload()
    expect(page.locator("table")).to_contain_text("Sent")

    [request] = http_sink.requests
    document = Webhook(secret).verify(request.body, request.headers)
    assert document["type"] == "ping" and document["project"]["slug"] == "zephyr-payroll"

    page.get_by_role("button", name="Redeliver").click()
    expect(page.locator("table")).to_contain_text("redelivery of")
    send_pending()
    assert [r.headers["webhook-id"] for r in http_sink.requests] == [document["id"]] * 2
