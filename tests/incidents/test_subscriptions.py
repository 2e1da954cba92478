"""Status subscriptions against PostgreSQL: who hears about an event, the unsubscribe link in each
message, subscribing and confirming, and the bad input the issue lists."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType

from incidents import services, subscription_services
from incidents.models import Outage, Subscription
from notifications.models import Notification
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def subscriber_rows(event=None):
    rows = Notification.objects.filter(recipient__isnull=True)
    if event is not None:
        rows = rows.filter(event_type=ContentType.objects.get_for_model(event), event_id=event.pk)
    return list(rows.order_by("id"))


def unsubscribe_token_in(body: str) -> str:
    marker = "/subscriptions/unsubscribe/"
    assert marker in body
    return body.split(marker, 1)[1].split("/", 1)[0]


# --- subscribers_notify -------------------------------------------------------------------------


def test_only_active_subscriptions_of_the_given_projects_hear(graph):
    active = SubscriptionFactory(project=graph.people, address="a@example.org")
    hook = SubscriptionFactory(
        project=graph.wiki, channel="webhook", address="https://hooks.example.org/x"
    )
    SubscriptionFactory(project=graph.people, address="pending@example.org", confirmed_at=None)
    SubscriptionFactory(project=graph.people, address="gone@example.org", unsubscribed_at=NOW)
    SubscriptionFactory(project=graph.connect, address="other@example.org")

    written = subscription_services.subscribers_notify(
        project_ids=[graph.people.pk, graph.wiki.pk],
        event=graph.people,
        topic="incident.opened",
        subject="Down",
        body="People is down.",
        link="http://x/status/",
        now=NOW,
    )

    assert sorted((n.channel, n.address) for n in written) == [
        ("email", active.address),
        ("webhook", hook.address),
    ]
    by_address = {n.address: n for n in written}
    assert by_address[active.address].project == graph.people
    assert by_address[active.address].recipient is None
    assert by_address[active.address].link == "http://x/status/"
    assert by_address[active.address].body.startswith("People is down.")
    # Each message carries the link that unsubscribes its own subscription, no other.
    for subscription in (active, hook):
        token = unsubscribe_token_in(by_address[subscription.address].body)
        found = subscription_services.subscription_from_token(
            token,
            salt=subscription_services.UNSUBSCRIBE_SALT,
            max_age=3600,
            noun="unsubscribe",
        )
        assert found == subscription


def test_a_second_call_for_the_same_event_and_topic_writes_nothing(graph):
    SubscriptionFactory(project=graph.people)
    kwargs = dict(
        project_ids=[graph.people.pk],
        event=graph.people,
        topic="incident.opened",
        subject="Down",
        body="x",
        now=NOW,
    )
    assert len(subscription_services.subscribers_notify(**kwargs)) == 1
    assert subscription_services.subscribers_notify(**kwargs) == []
    assert len(subscriber_rows()) == 1
    # Another topic (an update) is another message.
    kwargs["topic"] = "incident.updated.1"
    assert len(subscription_services.subscribers_notify(**kwargs)) == 1


def test_no_subscribers_no_rows(graph):
    assert (
        subscription_services.subscribers_notify(
            project_ids=[graph.people.pk], event=graph.people, topic="t", subject="s", body="b"
        )
        == []
    )
    assert (
        subscription_services.subscribers_notify(
            project_ids=[], event=graph.people, topic="t", subject="s", body="b"
        )
        == []
    )


# --- IT outages tell the subscribers of every touched project ----------------------------------


def test_outage_open_update_resolve_reach_subscribers_of_touched_projects(graph, it_user):
    # DC down touches People (via SSO) and Connect (via Mail), not Wiki.
    people_sub = SubscriptionFactory(project=graph.people, address="p@example.org")
    connect_sub = SubscriptionFactory(project=graph.connect, address="c@example.org")
    SubscriptionFactory(project=graph.wiki, address="w@example.org")

    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    opened = subscriber_rows(outage)
    assert sorted(n.address for n in opened) == [connect_sub.address, people_sub.address]
    assert {n.topic for n in opened} == {"outage.opened"}
    assert all("DC power" in n.subject for n in opened)

    services.outage_update(
        actor=it_user,
        outage=outage,
        message="Generator on its way",
        status=Outage.Status.IDENTIFIED,
        now=NOW + timedelta(minutes=5),
    )
    services.outage_resolve(
        actor=it_user, outage=outage, message="Power back", now=NOW + timedelta(minutes=30)
    )
    rows = subscriber_rows(outage)
    assert len(rows) == 6
    topics = sorted({n.topic.split(".")[1] for n in rows})
    assert topics == ["opened", "resolved", "updated"]
    assert any("Generator on its way" in n.body for n in rows)
    assert any("Power back" in n.body for n in rows)


def test_an_unsubscribed_subscriber_hears_nothing_more(graph, it_user):
    sub = SubscriptionFactory(project=graph.people)
    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    assert len(subscriber_rows(outage)) == 1
    Subscription.objects.filter(pk=sub.pk).update(unsubscribed_at=NOW)
    services.outage_resolve(actor=it_user, outage=outage, now=NOW + timedelta(minutes=1))
    assert len(subscriber_rows(outage)) == 1
