"""End to end: subscribe → confirm through the link in an email that a real local SMTP server
(aiosmtpd) received → an IT outage → the subscriber's email arrives through a real Celery worker →
the unsubscribe link in it works → the next event sends nothing to them. A webhook subscriber
gets signed JSON on a local HTTP sink all along."""

import hashlib
import hmac

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from incidents.models import Subscription
from incidents.services import outages as services
from notifications import services as pipeline
from notifications.models import Notification
from tests.e2e_support import celery_worker, http_sink, smtp_sink, wait_for  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ANON = "visitor@example.org"


@pytest.fixture(autouse=True)
def fast_sweeper(settings):
    settings.STEWARD_REENQUEUE_AFTER_SECONDS = 1


def sweep():
    pipeline.sweep(now=timezone.now())


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def mails_to(sink, address, containing=""):
    return [
        m for m in list(sink.messages) if m["To"] == address and containing in str(m["Subject"])
    ]


def path_after(text: str, marker: str) -> str:
    """The site-relative path of the first link containing `marker` in a message's text."""
    start = text.index(settings.SITE_URL + marker) + len(settings.SITE_URL)
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def all_sent() -> bool:
    return not Notification.objects.exclude(state__in=["sent", "cancelled", "failed"]).exists()


def test_subscribe_confirm_hear_unsubscribe_hear_nothing(
    graph,
    it_user,
    reader,
    celery_worker,  # noqa: F811
    smtp_sink,  # noqa: F811
    http_sink,  # noqa: F811
):
    celery_worker(smtp_port=smtp_sink.port)

    # An anonymous visitor subscribes by email: a confirmation email comes first.
    visitor = Client()
    subscribed = visitor.post(
        f"/projects/{graph.people.slug}/subscribe/", {"channel": "email", "address": ANON}
    )
    assert subscribed.status_code == 200
    wait_for(
        lambda: mails_to(smtp_sink, ANON, "Confirm"),
        timeout=30,
        while_waiting=sweep,
        message="the confirmation email",
    )
    [confirmation] = mails_to(smtp_sink, ANON, "Confirm")
    confirm_path = path_after(text_of(confirmation), "/subscriptions/confirm/")
    assert visitor.get(confirm_path).status_code == 200
    assert not Subscription.objects.get(address=ANON).is_active  # a GET changes nothing
    assert b"Subscription confirmed" in visitor.post(confirm_path).content
    assert Subscription.objects.get(address=ANON).is_active

    # A signed-in reader subscribes a webhook.
    member = Client()
    member.force_login(reader)
    hook = member.post(
        f"/projects/{graph.people.slug}/subscribe/",
        {"channel": "webhook", "address": http_sink.url("/subscriber")},
    )
    assert hook.status_code == 200

    # An IT outage touching People (through SSO) reaches both.
    # Subscribers read its public summary, never IT's title.
    outage = services.outage_open(
        actor=it_user,
        title="PDU B tripped in row 4",
        public_summary="Datacenter power",
        systems=[graph.dc],
    )
    wait_for(
        lambda: (
            mails_to(smtp_sink, ANON, "Datacenter power")
            and any(r.path == "/subscriber" for r in http_sink.requests)
        ),
        timeout=30,
        while_waiting=sweep,
        message="the subscriber's email and webhook",
    )
    [news] = mails_to(smtp_sink, ANON, "Datacenter power")
    news_text = text_of(news)
    assert "Datacenter power" in news_text and "PDU B" not in news_text
    [posted] = [r for r in http_sink.requests if r.path == "/subscriber"]
    expected = hmac.new(
        settings.STEWARD_WEBHOOK_SECRET.encode(), posted.body, hashlib.sha256
    ).hexdigest()
    assert expected in posted.headers["x-steward-signature"]
    payload = posted.json()
    assert payload["topic"] == "outage.opened"
    assert payload["project"] == graph.people.slug
    assert "/subscriptions/unsubscribe/" in payload["body"]

    # The one-click unsubscribe link in the email works (the page, then its button).
    unsubscribe_path = path_after(news_text, "/subscriptions/unsubscribe/")
    assert visitor.get(unsubscribe_path).status_code == 200
    assert b"Unsubscribed" in visitor.post(unsubscribe_path).content

    # The next event: the webhook still hears, the email address does not.
    services.outage_resolve(actor=it_user, outage=outage, message="Power is back")
    wait_for(
        lambda: sum(r.path == "/subscriber" for r in http_sink.requests) == 2 and all_sent(),
        timeout=30,
        while_waiting=sweep,
        message="the resolution to reach the webhook",
    )
    assert http_sink.requests[-1].json()["topic"] == "outage.resolved"
    assert [str(m["Subject"]) for m in mails_to(smtp_sink, ANON)] == [
        str(confirmation["Subject"]),
        str(news["Subject"]),
    ]
    assert not Notification.objects.filter(address=ANON, topic="outage.resolved").exists()
