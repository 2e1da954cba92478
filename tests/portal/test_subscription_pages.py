"""The subscription pages over HTTP: subscribing (signed in and anonymous, public or private
status), the confirm and unsubscribe link pages, and the per-address limit on anonymous sign-ups.
The rules themselves are the services' (`tests/incidents/test_subscriptions.py`)."""

import pytest

from incidents.models import Subscription
from incidents.services import subscriptions as subscription_services
from notifications.models import Notification
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_signup_counters(settings):
    """The anonymous sign-up counters live in Redis for an hour: start each test without them."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("steward:subscribe-anon:*"):
        client.delete(key)


def test_subscribe_page_signed_in(client, graph, reader):
    client.force_login(reader)
    url = f"/projects/{graph.people.slug}/subscribe/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"channel": "email"}).status_code == 200
    again = client.post(url, {"channel": "email"})
    assert again.status_code == 400
    assert b"already follows People" in again.content
    bad = client.post(url, {"channel": "webhook", "address": "ftp://x.org/h"})
    assert bad.status_code == 400
    assert b"http:// or https://" in bad.content
    assert Subscription.objects.count() == 1
    mine = client.get("/subscriptions/")
    assert reader.person.email.encode() in mine.content


def test_subscribe_page_anonymous_public_and_private(client, graph, settings):
    url = f"/projects/{graph.people.slug}/subscribe/"
    response = client.post(url, {"channel": "email", "address": "anon@example.org"})
    assert response.status_code == 200
    assert b"Check your email" in response.content
    # A webhook cannot be smuggled in by an anonymous visitor.
    assert client.post(url, {"channel": "webhook", "address": "https://x.org"}).status_code == 400
    settings.STEWARD_STATUS_PUBLIC = False
    assert client.get(url).status_code == 302
    assert client.post(url, {"address": "other@example.org"}).status_code == 302
    assert Subscription.objects.count() == 1


def test_link_pages_ask_before_acting_and_refuse_bad_links(client, graph):
    sub = SubscriptionFactory(project=graph.people)
    url = f"/subscriptions/unsubscribe/{subscription_services.unsubscribe_token(sub)}/"
    page = client.get(url)
    assert page.status_code == 200
    assert b"Stop following People?" in page.content
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None  # a GET (a mail scanner) changes nothing
    done = client.post(url)
    assert done.status_code == 200
    assert b"Unsubscribed" in done.content
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None
    forged = client.get("/subscriptions/unsubscribe/abc:def:ghi/")
    assert forged.status_code == 400
    assert b"not valid" in forged.content
    assert client.post("/subscriptions/confirm/abc/").status_code == 400


def test_anonymous_subscribe_attempts_are_limited_per_address(client, graph, settings):
    settings.STEWARD_SUBSCRIBE_ANON_RATE = 2
    url = f"/projects/{graph.people.slug}/subscribe/"
    for i in range(2):
        response = client.post(
            url, {"channel": "email", "address": f"a{i}@example.org"}, REMOTE_ADDR="203.0.113.5"
        )
        assert response.status_code == 200
    refused = client.post(
        url, {"channel": "email", "address": "a9@example.org"}, REMOTE_ADDR="203.0.113.5"
    )
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert b"no email was sent" in refused.content
    assert not Subscription.objects.filter(address="a9@example.org").exists()
    assert Notification.objects.filter(topic="subscription.confirm").count() == 2
    # Another address is not held back; signed-in people are not counted.
    assert (
        client.post(
            url, {"channel": "email", "address": "b@example.org"}, REMOTE_ADDR="203.0.113.6"
        ).status_code
        == 200
    )
