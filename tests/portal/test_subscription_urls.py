"""A status-page webhook subscription takes only URLs Steward may call, against the production
settings of the networks: every URL of the class in `tests.ssrf_support` is refused through the
API, the subscribe page and the admin, naming `address` and the reason; a subscription stored
before the rule fails at send and the loopback listener never sees a connection."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.forms import modelform_factory
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from incidents.admin import SubscriptionForm
from incidents.models import Subscription
from incidents.services import subscriptions as subscription_services
from notifications import services as delivery
from tests.factories import SubscriptionFactory
from tests.ssrf_support import connections, refused_urls

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("production_network_settings", "fake_dns"),
]
DJANGO_SAYS = "Give an http:// or https:// URL"


def django_accepts(url: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return False
    return True


def check_reason(url: str, says: str, text: str) -> str | None:
    if says in text or (not django_accepts(url) and DJANGO_SAYS in text):
        return None
    return f"{url!r}: {text!r} does not say {says!r}"


def test_the_api_refuses_every_closed_url(graph, reader, loopback_listener):
    client = APIClient()
    client.force_authenticate(reader)
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        response = client.post(
            "/api/v1/subscriptions/",
            {"project": "people", "channel": "webhook", "address": url},
            format="json",
        )
        if response.status_code != 400 or "address" not in response.json():
            problems.append(f"{url!r}: {response.status_code} {response.content!r}")
            continue
        problems.append(check_reason(url, says, " ".join(response.json()["address"])))
    assert [p for p in problems if p] == []
    assert not Subscription.objects.exists()


def test_the_subscribe_page_refuses_every_closed_url(graph, reader, loopback_listener):
    client = Client()
    client.force_login(reader)
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        response = client.post(
            f"/projects/{graph.people.slug}/subscribe/", {"channel": "webhook", "address": url}
        )
        if response.status_code != 400:
            problems.append(f"{url!r}: {response.status_code}")
            continue
        problems.append(check_reason(url, escape(says), response.content.decode()))
    assert [p for p in problems if p] == []
    assert not Subscription.objects.exists()


def test_the_admin_refuses_every_closed_url(graph, loopback_listener):
    assert admin.site._registry[Subscription].form is SubscriptionForm
    form_class = modelform_factory(
        Subscription, form=SubscriptionForm, fields=["project", "channel", "address"]
    )
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        form = form_class({"project": graph.people.pk, "channel": "webhook", "address": url})
        if form.is_valid():
            problems.append(f"{url!r}: accepted")
            continue
        problems.append(check_reason(url, says, " ".join(form.errors.get("address", []))))
    assert [p for p in problems if p] == []


def test_subscriptions_stored_before_the_rule_fail_at_send_and_nothing_connects(
    graph, loopback_listener
):
    cases = refused_urls(loopback_listener.port)
    says_for = {}
    for url, says in cases:
        SubscriptionFactory(project=graph.people, channel="webhook", address=url)
        says_for[url] = says
    rows = subscription_services.subscribers_notify(
        project_ids=[graph.people.pk],
        event=graph.people,
        topic="incident.opened",
        subject="Down",
        body="People is down.",
    )
    assert len(rows) == len(cases)
    for row in rows:
        delivery.notification_send(notification_id=row.pk, now=timezone.now())
    problems = []
    for row in rows:
        row.refresh_from_db()
        if row.state != "failed" or says_for[row.address] not in row.last_error:
            problems.append(f"{row.address!r}: {row.state} {row.last_error!r}")
    assert problems == []
    assert connections(loopback_listener) == 0
