"""An outgoing webhook endpoint takes only URLs Steward may call, against the production settings
of the networks: every URL of the class in `tests.ssrf_support` is refused when saved through the
API (create and update) and the pages (create and edit), naming `url` and the reason; an endpoint
stored before the rule (or whose name resolves elsewhere since) fails at send, for events and
pings alike, and the loopback listener never sees a connection."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from incidents.services import outages as outage_services
from notifications import services as delivery
from notifications.models import Notification
from tests.factories import ProjectFactory, SystemFactory, it_staff_user
from tests.ssrf_support import connections, refused_urls
from webhooks import services as webhooks
from webhooks.models import WebhookEndpoint

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("production_network_settings", "fake_dns"),
]
DJANGO_SAYS = "Enter a valid URL."


def django_accepts(url: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return False
    return True


def check_reason(url: str, says: str, messages: list[str]) -> str | None:
    text = " ".join(messages)
    if says in text or (not django_accepts(url) and DJANGO_SAYS in text):
        return None
    return f"{url!r}: {text!r} does not say {says!r}"


@pytest.fixture
def it(db):
    return it_staff_user(display_name="Ivan IT")


@pytest.fixture
def sso(db):
    return SystemFactory(name="SSO", slug="sso")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_api_refuses_every_closed_url(it, sso, loopback_listener):
    ProjectFactory(name="People", slug="people")
    client = client_for(it)
    problems = []
    for index, (url, says) in enumerate(refused_urls(loopback_listener.port)):
        owner = {"system": "sso"} if index % 2 else {"project": "people"}
        response = client.post(
            "/api/v1/webhooks/", {**owner, "url": url}, content_type="application/json"
        )
        if response.status_code != 400 or "url" not in response.json():
            problems.append(f"{url!r}: {response.status_code} {response.content!r}")
            continue
        problems.append(check_reason(url, says, response.json()["url"]))
    assert [p for p in problems if p] == []
    assert not WebhookEndpoint.objects.exists()


def test_the_api_refuses_changing_an_endpoint_to_a_closed_url(it, sso, loopback_listener):
    endpoint = webhooks.webhook_endpoint_create(
        actor=it, system=sso, url="https://hooks.example.org/sso"
    )
    client = client_for(it)
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        response = client.patch(
            f"/api/v1/webhooks/{endpoint.pk}/", {"url": url}, content_type="application/json"
        )
        if response.status_code != 400 or "url" not in response.json():
            problems.append(f"{url!r}: {response.status_code} {response.content!r}")
            continue
        problems.append(check_reason(url, says, response.json()["url"]))
    assert [p for p in problems if p] == []
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.org/sso"


def test_the_pages_refuse_every_closed_url(it, sso, loopback_listener):
    endpoint = webhooks.webhook_endpoint_create(
        actor=it, system=sso, url="https://hooks.example.org/sso"
    )
    client = client_for(it)
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        for page in ("/systems/sso/webhooks/", f"/webhooks/{endpoint.pk}/"):
            response = client.post(page, {"url": url, "is_active": "on"})
            content = response.content.decode()
            shown = escape(says) in content or (
                not django_accepts(url) and escape(DJANGO_SAYS) in content
            )
            if response.status_code != 200 or not shown:
                problems.append(f"{page} {url!r}: {response.status_code}, {says!r} not shown")
    assert problems == []
    assert list(WebhookEndpoint.objects.values_list("url", flat=True)) == [
        "https://hooks.example.org/sso"
    ]


def test_endpoints_stored_before_the_rule_fail_at_send_and_nothing_connects(
    it, sso, loopback_listener
):
    """Stored without the services (an older release, or a name whose DNS answer changed since):
    every event and ping delivery fails for good, naming the reason, and is not retried."""
    cases = refused_urls(loopback_listener.port)
    endpoints = {
        WebhookEndpoint.objects.create(system=sso, url=url, secret="whsec_" + "A" * 32).pk: says
        for url, says in cases
    }
    outage_services.outage_open(actor=it, title="SSO down", systems=[sso], now=timezone.now())
    for endpoint in WebhookEndpoint.objects.filter(pk__in=list(endpoints)[:5]):
        webhooks.webhook_ping(actor=it, endpoint=endpoint)
    rows = Notification.objects.filter(webhook_endpoint__isnull=False)
    assert rows.count() == len(cases) + 5
    for pk in rows.values_list("pk", flat=True):
        delivery.notification_send(notification_id=pk, now=timezone.now())
    problems = [
        f"{row.address!r}: {row.state} {row.last_error!r}"
        for row in rows
        if row.state != "failed" or endpoints[row.webhook_endpoint_id] not in row.last_error
    ]
    assert problems == []
    assert connections(loopback_listener) == 0
