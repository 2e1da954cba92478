"""The acknowledge link, acknowledging on the web, "My pages", the delivery log, and the API."""

import datetime as dt

import pytest
from django.template.loader import render_to_string
from rest_framework.test import APIClient

from notifications import services
from notifications.models import Notification, Page
from tests.factories import PersonFactory

from .conftest import MONDAY_10

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(event, project, responders):
    return services.pages_open(
        event=event, project=project, subject="DB down", body="b", now=MONDAY_10
    )


def ack_path(page, person):
    return f"/notifications/ack/{services.ack_token(page=page, person=person)}/"


def test_the_ack_link_asks_first_and_acknowledges_only_on_post_without_sign_in(
    client, page, responders
):
    owner, _ = responders
    response = client.get(ack_path(page, owner))
    assert response.status_code == 200
    assert b"Acknowledge this page?" in response.content and b"DB down" in response.content
    page.refresh_from_db()
    assert page.state == "open"  # a mail scanner following the link acknowledges nothing

    response = client.post(ack_path(page, owner))
    assert response.status_code == 200 and b"Escalation has stopped" in response.content
    page.refresh_from_db()
    assert (page.state, page.acknowledged_by, page.acknowledged_via) == (
        "acknowledged",
        owner,
        "link",
    )
    again = client.post(ack_path(page, owner))
    assert again.status_code == 200 and b"Acknowledged" in again.content


@pytest.mark.parametrize(
    "mangle, status, says",
    [
        (lambda t: t[:-3] + "xyz", 400, b"altered"),
        (lambda t: "garbage", 400, b"not valid"),
    ],
)
def test_a_forged_ack_link_gets_a_page_that_says_why(
    client, page, responders, mangle, status, says
):
    token = services.ack_token(page=page, person=responders[0])
    for method in (client.get, client.post):
        response = method(f"/notifications/ack/{mangle(token)}/")
        assert response.status_code == status and says in response.content
    page.refresh_from_db()
    assert page.state == "open"


def test_an_expired_or_orphaned_ack_link_is_gone(client, page, responders, settings):
    path = ack_path(page, responders[0])
    settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS = -1
    response = client.post(path)
    assert response.status_code == 410 and b"expired" in response.content
    settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS = 3600
    orphan = ack_path(page.pk + 1000, responders[0].pk)
    assert client.get(orphan).status_code == 410


def test_web_ack_by_the_paged_owner_and_refused_for_a_stranger(client, page, responders):
    owner, _ = responders
    stranger = PersonFactory()
    client.force_login(stranger.user)
    assert client.post(f"/notifications/pages/{page.pk}/ack/").status_code == 403
    page.refresh_from_db()
    assert page.state == "open"
    client.force_login(owner.user)
    response = client.post(f"/notifications/pages/{page.pk}/ack/")
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.state, page.acknowledged_via) == ("acknowledged", "web")
    assert client.get(f"/notifications/pages/{page.pk}/ack/").status_code == 405


def test_my_pages_lists_what_waits_for_me_in_a_fixed_number_of_queries(
    client, event, project, responders, django_assert_max_num_queries
):
    from tests.factories import ProjectFactory, ProjectRoleFactory

    owner, _ = responders
    client.force_login(owner.user)
    services.pages_open(event=event, project=project, subject="First page", body="", now=MONDAY_10)
    with django_assert_max_num_queries(12) as few:
        client.get("/notifications/mine/")
    for i in range(5):
        other = ProjectFactory()
        ProjectRoleFactory(project=other, person=owner)
        services.pages_open(event=event, project=other, subject=f"Page {i}", body="", now=MONDAY_10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/notifications/mine/")
    assert b"First page" in response.content and b"Page 4" in response.content
    assert client.get("/notifications/mine/").content.count(b">Acknowledge</button>") == 6


def test_my_pages_needs_sign_in(client):
    response = client.get("/notifications/mine/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_delivery_log_shows_each_attempt_of_the_event(event, page, http_sink):
    [webhook] = page.notifications.filter(channel="webhook")
    http_sink.plan("/owner", [503])
    services.notification_send(notification_id=webhook.pk, now=MONDAY_10)
    html = render_to_string("notifications/_delivery_log.html", {"event": event.instance})
    assert "Wiki" in html and "Open" in html
    assert "(503)" in html and "Failed, will retry" in html


# --- API ---------------------------------------------------------------------------------------


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_the_api_lists_only_my_notifications_and_filters_by_state_and_kind(event, page, responders):
    owner, backup = responders
    services.notices_send(
        event=event, topic="t", recipients=[owner, backup], subject="n", body="", now=MONDAY_10
    )
    body = api(owner.user).get("/api/v1/notifications/").json()
    assert body["count"] == 3
    assert {r["kind"] for r in body["results"]} == {"page", "notice"}
    assert api(owner.user).get("/api/v1/notifications/?kind=page").json()["count"] == 2
    assert api(owner.user).get("/api/v1/notifications/?state=sent").json()["count"] == 0
    assert api(backup.user).get("/api/v1/notifications/").json()["count"] == 1
    assert api().get("/api/v1/notifications/").status_code in (401, 403)
    other = Notification.objects.filter(recipient=owner).first()
    assert api(backup.user).get(f"/api/v1/notifications/{other.pk}/").status_code == 404


def test_the_api_acknowledges_a_page_and_refuses_a_notice(event, page, responders):
    owner, _ = responders
    row = page.notifications.first()
    response = api(owner.user).post(f"/api/v1/notifications/{row.pk}/ack/")
    assert response.status_code == 200
    assert response.json()["state"] == "acknowledged"
    assert Page.objects.get(pk=page.pk).acknowledged_via == "api"
    assert api(owner.user).post(f"/api/v1/notifications/{row.pk}/ack/").status_code == 200
    [notice] = services.notices_send(
        event=event,
        topic="t",
        recipients=[owner],
        subject="n",
        body="",
        now=MONDAY_10 + dt.timedelta(minutes=1),
    )
    response = api(owner.user).post(f"/api/v1/notifications/{notice.pk}/ack/")
    assert response.status_code == 409 and response.json()["code"] == "not_a_page"
