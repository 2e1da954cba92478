"""The emailed links (acknowledge a page; confirm or stop a subscription) cannot be forged,
replayed after expiry, or turned on another page, person or subscription. Each is exercised over
HTTP (POST: the button on the link's page), and the state is read back from the database."""

from __future__ import annotations

import base64
import json
import time
from unittest import mock

import pytest
from django.test import Client

from incidents.models import Subscription
from incidents.services import subscriptions as subscription_services
from notifications.models import Page
from notifications.services import ack_token
from tests.factories import SubscriptionFactory
from tests.security.world import World, world_build

pytestmark = pytest.mark.django_db

EIGHT_DAYS = 8 * 24 * 3600


def _tampered(token: str) -> str:
    """The same token with the last character of its signature changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _with_payload(token: str, payload: dict) -> str:
    """A token whose signed payload is swapped for another, keeping the old signature."""
    head, rest = token.split(":", 1)
    encoded = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    assert head, token
    return encoded.decode().rstrip("=") + ":" + rest


def _signed_in_the_past(seconds: int, make):
    with mock.patch("time.time", return_value=time.time() - seconds):
        return make()


# --- acknowledge links --------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    return world_build()


def _page(world: World) -> Page:
    return Page.objects.get(pk=world.notification.page_id)


def _ack(token: str, client: Client | None = None):
    return (client or Client()).post(f"/notifications/ack/{token}/")


def test_a_valid_link_acknowledges_as_the_person_it_names(world) -> None:
    page, owner = _page(world), world.people["owner"]
    reader = Client()
    reader.force_login(world.users["reader"])  # whoever clicks, the link names the person

    response = _ack(ack_token(page=page, person=owner), reader)

    assert response.status_code == 200
    page.refresh_from_db()
    assert (page.state, page.acknowledged_by) == ("acknowledged", owner)


def test_a_tampered_link_is_refused_and_changes_nothing(world) -> None:
    page = _page(world)
    response = _ack(_tampered(ack_token(page=page, person=world.people["owner"])))
    assert response.status_code == 400
    page.refresh_from_db()
    assert page.state == "open"


def test_a_link_cannot_be_turned_on_another_page_or_person(world) -> None:
    page = _page(world)
    token = ack_token(page=page, person=world.people["owner"])
    other_person = _with_payload(token, {"page": page.pk, "person": world.people["reader"].pk})
    other_page = _with_payload(token, {"page": page.pk + 1, "person": world.people["owner"].pk})
    assert other_person != token and other_page != token

    for forged in (other_person, other_page):
        assert _ack(forged).status_code == 400
    page.refresh_from_db()
    assert page.state == "open"


def test_other_links_are_not_acknowledge_links(world) -> None:
    page = _page(world)
    unsubscribe = subscription_services.unsubscribe_token(world.subscription)
    assert _ack(unsubscribe).status_code == 400
    page.refresh_from_db()
    assert page.state == "open"


def test_an_expired_link_is_refused(world, settings) -> None:
    page = _page(world)
    settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS = 7 * 24 * 3600
    old = _signed_in_the_past(
        EIGHT_DAYS, lambda: ack_token(page=page, person=world.people["owner"])
    )

    response = _ack(old)

    assert response.status_code == 410
    assert "expired" in response.content.decode()
    page.refresh_from_db()
    assert page.state == "open"


def test_replaying_a_used_link_changes_nothing(world) -> None:
    page = _page(world)
    token = ack_token(page=page, person=world.people["owner"])
    assert _ack(token).status_code == 200
    page.refresh_from_db()
    first = (page.state, page.acknowledged_by_id, page.acknowledged_at)

    assert _ack(token).status_code == 200
    page.refresh_from_db()
    assert (page.state, page.acknowledged_by_id, page.acknowledged_at) == first


# --- subscription links -------------------------------------------------------------------------


def _unsubscribe(token: str):
    return Client().post(f"/subscriptions/unsubscribe/{token}/")


def _confirm(token: str):
    return Client().post(f"/subscriptions/confirm/{token}/")


def _active(subscription: Subscription) -> bool:
    subscription.refresh_from_db()
    return subscription.unsubscribed_at is None


def test_an_unsubscribe_link_stops_only_its_subscription(world) -> None:
    mine = world.subscription
    theirs = SubscriptionFactory(project=world.project, address="someone@example.org")

    assert _unsubscribe(subscription_services.unsubscribe_token(mine)).status_code == 200

    assert not _active(mine)
    assert _active(theirs)


def test_forged_unsubscribe_links_change_nothing(world) -> None:
    mine = world.subscription
    theirs = SubscriptionFactory(project=world.project, address="someone@example.org")
    token = subscription_services.unsubscribe_token(mine)
    forged = [
        _tampered(token),
        _with_payload(token, {"s": theirs.pk, "a": theirs.address}),
        subscription_services.confirm_token(theirs),  # another kind of link
        ack_token(page=world.notification.page_id, person=world.people["owner"]),
    ]
    for link in forged:
        assert _unsubscribe(link).status_code == 400, link
    assert _active(mine) and _active(theirs)


def test_an_expired_unsubscribe_link_is_refused(world, settings) -> None:
    settings.STEWARD_UNSUBSCRIBE_LINK_MAX_AGE_SECONDS = 3600
    old = _signed_in_the_past(
        7200, lambda: subscription_services.unsubscribe_token(world.subscription)
    )
    response = _unsubscribe(old)
    assert response.status_code == 410
    assert _active(world.subscription)


def test_a_link_for_a_row_whose_address_changed_does_not_work(world) -> None:
    """Ids are reused by nothing, but the address rides in the token all the same."""
    token = subscription_services.unsubscribe_token(world.subscription)
    Subscription.objects.filter(pk=world.subscription.pk).update(address="new@example.org")
    assert _unsubscribe(token).status_code == 410
    assert _active(world.subscription)


def test_an_old_unsubscribe_link_does_not_stop_a_new_subscription(world) -> None:
    token = subscription_services.unsubscribe_token(world.subscription)
    assert _unsubscribe(token).status_code == 200
    again = SubscriptionFactory(
        project=world.project, person=world.people["owner"], address=world.subscription.address
    )

    assert _unsubscribe(token).status_code == 200  # a replay: the old row, already stopped

    assert _active(again)


def test_confirmation_links_cannot_be_forged_or_used_late(world, settings) -> None:
    pending = SubscriptionFactory(
        project=world.project, person=None, address="anon@example.org", confirmed_at=None
    )
    other = SubscriptionFactory(
        project=world.project, person=None, address="anon2@example.org", confirmed_at=None
    )
    token = subscription_services.confirm_token(pending)
    settings.STEWARD_SUBSCRIPTION_CONFIRM_MAX_AGE_SECONDS = 3600
    late = _signed_in_the_past(7200, lambda: subscription_services.confirm_token(pending))

    assert _confirm(_tampered(token)).status_code == 400
    assert _confirm(_with_payload(token, {"s": other.pk, "a": other.address})).status_code == 400
    assert _confirm(subscription_services.unsubscribe_token(pending)).status_code == 400
    assert _confirm(late).status_code == 410
    pending.refresh_from_db()
    other.refresh_from_db()
    assert pending.confirmed_at is None and other.confirmed_at is None

    assert _confirm(token).status_code == 200
    pending.refresh_from_db()
    assert pending.confirmed_at is not None
    other.refresh_from_db()
    assert other.confirmed_at is None


def test_link_pages_only_act_on_post(world) -> None:
    """A mail scanner fetching every link acknowledges and cancels nothing."""
    page = _page(world)
    Client().get(f"/notifications/ack/{ack_token(page=page, person=world.people['owner'])}/")
    Client().get(
        f"/subscriptions/unsubscribe/{subscription_services.unsubscribe_token(world.subscription)}/"
    )
    page.refresh_from_db()
    assert page.state == "open"
    assert _active(world.subscription)
