"""Status subscriptions against PostgreSQL, through the services: who hears about an event, the
unsubscribe link in each message, subscribing and confirming, and the bad input the issue lists.
The pages that call these services are tested in `tests/portal/test_subscription_pages.py`."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError

from incidents.models import Outage, Subscription
from incidents.services import outages as services
from incidents.services import subscriptions as subscription_services
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


def test_a_fixed_number_of_statements_however_many_projects(graph):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import ProjectFactory

    def notify(projects, topic):
        with CaptureQueriesContext(connection) as captured:
            rows = subscription_services.subscribers_notify(
                project_ids=[p.pk for p in projects],
                event=graph.people,
                topic=topic,
                subject="s",
                body="b",
            )
        return rows, len(captured)

    few = [ProjectFactory() for _ in range(2)]
    many = [ProjectFactory() for _ in range(30)]
    for project in few + many:
        SubscriptionFactory(project=project)
        SubscriptionFactory(project=project, channel="webhook", address="https://h.example.org/")
    notify(few, "warm-up")  # the content type is cached after the first call
    rows_few, queries_few = notify(few, "a")
    rows_many, queries_many = notify(many, "b")
    assert len(rows_few) == 4 and len(rows_many) == 60
    assert queries_many == queries_few
    # Every row carries its own subscription's project (stamped by one raw UPDATE).
    assert Notification._meta.db_table == "notifications_notification"
    stored = Notification.objects.filter(topic="b").values_list("project_id", "address")
    assert {pid for pid, _ in stored} == {p.pk for p in many}
    for row in rows_many:
        token = unsubscribe_token_in(row.body)
        found = subscription_services.subscription_from_token(
            token, salt=subscription_services.UNSUBSCRIBE_SALT, max_age=60, noun="unsubscribe"
        )
        assert found.project_id == row.project_id


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

    outage = services.outage_open(
        actor=it_user,
        title="DC power",
        public_summary="Several apps are down",
        systems=[graph.dc],
        now=NOW,
    )
    opened = subscriber_rows(outage)
    assert sorted(n.address for n in opened) == [connect_sub.address, people_sub.address]
    assert {n.topic for n in opened} == {"outage.opened"}
    assert all(n.subject == "Outage: Several apps are down" for n in opened)

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
    # Subscribers may be anyone: IT's title and its systems stay inside.
    for row in rows:
        assert "DC power" not in row.subject + row.body, row.subject
        assert graph.dc.name not in row.body
        assert "Several apps are down" in row.subject


def test_the_owners_still_read_its_own_title_and_systems(graph, it_user):
    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    services.outage_update(actor=it_user, outage=outage, message="Generator on its way")
    notices = Notification.objects.filter(
        recipient=graph.people_owner, topic__startswith="outage.updated"
    )
    assert notices and all("DC power" in n.subject for n in notices)
    assert all(graph.dc.name in n.body for n in notices)


def test_an_unsubscribed_subscriber_hears_nothing_more(graph, it_user):
    sub = SubscriptionFactory(project=graph.people)
    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    assert len(subscriber_rows(outage)) == 1
    Subscription.objects.filter(pk=sub.pk).update(unsubscribed_at=NOW)
    services.outage_resolve(actor=it_user, outage=outage, now=NOW + timedelta(minutes=1))
    assert len(subscriber_rows(outage)) == 1


# --- subscribing -------------------------------------------------------------------------------


def confirmation_rows():
    return list(Notification.objects.filter(topic="subscription.confirm"))


def token_in(body: str, marker: str) -> str:
    assert marker in body
    return body.split(marker, 1)[1].split("/", 1)[0]


@pytest.fixture
def old_clock(monkeypatch):
    """Sign links as if four days ago (the signer reads time.time())."""
    import time as real_time

    from django.core import signing

    real = real_time.time

    def shift(seconds):
        monkeypatch.setattr(signing.time, "time", lambda: real() - seconds)

    yield shift
    monkeypatch.setattr(signing.time, "time", real)


def test_signed_in_email_subscription_uses_their_own_address_and_is_active_at_once(graph, reader):
    sub = subscription_services.subscription_create(
        actor=reader, project=graph.people, channel="email", address="someone@else.org"
    )
    assert sub.address == reader.person.email
    assert sub.person == reader.person
    assert sub.is_active
    assert confirmation_rows() == []


def test_subscribing_twice_is_refused_naming_the_address(graph, reader):
    subscription_services.subscription_create(actor=reader, project=graph.people)
    with pytest.raises(ValidationError) as refused:
        subscription_services.subscription_create(actor=reader, project=graph.people)
    assert "already follows People" in refused.value.message_dict["address"][0]
    assert Subscription.objects.count() == 1
    # After unsubscribing, subscribing again is fine (a new row).
    subscription_services.subscription_cancel(actor=reader, subscription=Subscription.objects.get())
    subscription_services.subscription_create(actor=reader, project=graph.people)
    assert Subscription.objects.filter(unsubscribed_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.org/x", "javascript:alert(1)", "file:///etc/passwd", "nope", ""]
)
def test_a_webhook_must_be_http_or_https(graph, reader, url):
    with pytest.raises(ValidationError) as refused:
        subscription_services.subscription_create(
            actor=reader, project=graph.people, channel="webhook", address=url
        )
    assert "address" in refused.value.message_dict
    assert not Subscription.objects.exists()


def test_a_webhook_subscription(graph, reader):
    sub = subscription_services.subscription_create(
        actor=reader, project=graph.people, channel="webhook", address="https://hooks.example.org/s"
    )
    assert sub.is_active and sub.channel == "webhook"


def test_anonymous_cannot_subscribe_a_webhook(graph):
    with pytest.raises(PermissionDenied):
        subscription_services.subscription_create(
            actor=AnonymousUser(), project=graph.people, channel="webhook", address="https://x.org"
        )


@pytest.mark.parametrize("address", ["", "not-an-email", "a@", "x" * 250 + "@example.org"])
def test_anonymous_needs_a_valid_email(graph, address):
    with pytest.raises(ValidationError) as refused:
        subscription_services.subscription_create(
            actor=AnonymousUser(), project=graph.people, address=address
        )
    assert "address" in refused.value.message_dict
    assert not Subscription.objects.exists()


def test_anonymous_subscription_waits_for_confirmation_sent_through_the_pipeline(graph):
    sub = subscription_services.subscription_create(
        actor=AnonymousUser(), project=graph.people, address="anon@example.org", now=NOW
    )
    assert sub.confirmed_at is None and not sub.is_active
    [mail] = confirmation_rows()
    assert mail.address == "anon@example.org" and mail.channel == "email"
    assert mail.recipient is None
    # Not yet confirmed: events send nothing to it.
    assert (
        subscription_services.subscribers_notify(
            project_ids=[graph.people.pk], event=graph.people, topic="t", subject="s", body="b"
        )
        == []
    )
    outcome = subscription_services.subscription_confirm(
        token=token_in(mail.body, "/subscriptions/confirm/"), now=NOW + timedelta(hours=1)
    )
    assert outcome.changed
    sub.refresh_from_db()
    assert sub.confirmed_at == NOW + timedelta(hours=1)
    again = subscription_services.subscription_confirm(
        token=token_in(mail.body, "/subscriptions/confirm/")
    )
    assert not again.changed


def test_anonymous_subscribing_twice_while_pending_is_refused(graph):
    subscription_services.subscription_create(
        actor=AnonymousUser(), project=graph.people, address="anon@example.org"
    )
    with pytest.raises(ValidationError):
        subscription_services.subscription_create(
            actor=AnonymousUser(), project=graph.people, address="ANON@example.org"
        )
    assert Subscription.objects.count() == 1
    assert len(confirmation_rows()) == 1


def test_a_pending_subscription_whose_link_expired_can_start_again(graph):
    old = subscription_services.subscription_create(
        actor=AnonymousUser(), project=graph.people, address="anon@example.org", now=NOW
    )
    fresh = subscription_services.subscription_create(
        actor=AnonymousUser(),
        project=graph.people,
        address="anon@example.org",
        now=NOW + timedelta(days=4),
    )
    assert not Subscription.objects.filter(pk=old.pk).exists()
    assert fresh.confirmed_at is None
    assert len(confirmation_rows()) == 2


def test_anonymous_cannot_subscribe_when_status_is_private(graph, settings):
    settings.STEWARD_STATUS_PUBLIC = False
    with pytest.raises(PermissionDenied):
        subscription_services.subscription_create(
            actor=AnonymousUser(), project=graph.people, address="anon@example.org"
        )
    assert not Subscription.objects.exists()


def test_an_expired_confirmation_link_changes_nothing(graph, old_clock):
    old_clock(4 * 24 * 3600)
    sub = subscription_services.subscription_create(
        actor=AnonymousUser(), project=graph.people, address="anon@example.org"
    )
    token = subscription_services.confirm_token(sub)
    old_clock(0)
    with pytest.raises(subscription_services.SubscriptionLinkError) as refused:
        subscription_services.subscription_confirm(token=token)
    assert refused.value.status == 410
    assert "expired" in refused.value.message
    sub.refresh_from_db()
    assert sub.confirmed_at is None


def test_a_forged_or_foreign_link_changes_nothing(graph):
    a = SubscriptionFactory(project=graph.people)
    b = SubscriptionFactory(project=graph.people)
    token = subscription_services.unsubscribe_token(a)
    # b's id and address with a's timestamp and signature.
    payload = signing.b64_encode(
        json.dumps({"s": b.pk, "a": b.address}, separators=(",", ":")).encode()
    ).decode()
    forged = payload + token[token.index(":") :]
    assert forged != token
    for bad in (token[:-2] + "xx", forged, "nonsense"):
        with pytest.raises(subscription_services.SubscriptionLinkError) as refused:
            subscription_services.subscription_unsubscribe(token=bad)
        assert refused.value.status == 400
    # A confirmation link does not unsubscribe (another salt).
    with pytest.raises(subscription_services.SubscriptionLinkError):
        subscription_services.subscription_unsubscribe(token=subscription_services.confirm_token(a))
    assert Subscription.objects.filter(unsubscribed_at__isnull=True).count() == 2


def test_an_unsubscribe_link_stops_that_subscription_only(graph):
    a = SubscriptionFactory(project=graph.people)
    b = SubscriptionFactory(project=graph.people)
    outcome = subscription_services.subscription_unsubscribe(
        token=subscription_services.unsubscribe_token(a), now=NOW
    )
    assert outcome.changed
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.unsubscribed_at == NOW and b.unsubscribed_at is None
    assert not subscription_services.subscription_unsubscribe(
        token=subscription_services.unsubscribe_token(a)
    ).changed


def test_an_expired_unsubscribe_link_changes_nothing(graph, old_clock):
    sub = SubscriptionFactory(project=graph.people)
    old_clock(400 * 24 * 3600)
    token = subscription_services.unsubscribe_token(sub)
    old_clock(0)
    with pytest.raises(subscription_services.SubscriptionLinkError) as refused:
        subscription_services.subscription_unsubscribe(token=token)
    assert refused.value.status == 410
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None


def test_only_the_subscriber_cancels(graph, reader):
    sub = subscription_services.subscription_create(actor=reader, project=graph.people)
    with pytest.raises(PermissionDenied):
        subscription_services.subscription_cancel(actor=graph.people_owner.user, subscription=sub)
    subscription_services.subscription_cancel(actor=reader, subscription=sub)
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None


def test_incidents_reach_the_projects_subscribers(graph):
    from incidents.services.incidents import incident_open

    sub = SubscriptionFactory(project=graph.people, address="follower@example.org")
    SubscriptionFactory(project=graph.wiki, address="elsewhere@example.org")
    incident = incident_open(
        actor=graph.people_owner.user,
        project=graph.people,
        title="Token cache poisoned?",
        public_summary="Login fails",
        now=NOW,
    )
    [row] = subscriber_rows(incident)
    assert row.address == sub.address
    assert row.subject == "Incident: Login fails (People)"
    assert "Token cache poisoned?" not in row.subject + row.body  # the owners' own title
    assert "/subscriptions/unsubscribe/" in row.body


def test_admins_list_subscriptions_where_they_always_were(client, graph):
    from tests.factories import UserFactory

    SubscriptionFactory(project=graph.people, address="<b>fan</b>@example.org")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get("/admin/incidents/subscription/")
    assert response.status_code == 200
    assert b"&lt;b&gt;fan&lt;/b&gt;@example.org" in response.content
