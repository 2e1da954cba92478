"""End to end through the real providers' clients: a real Celery worker on Redis and PostgreSQL
sends pages through Twilio's client (SMS, a call), slack_sdk (a direct message) and Apprise
(ntfy, Gotify, json://) to local stand-ins of those providers' HTTP APIs; the callbacks the
providers would make are signed with the providers' own libraries (Twilio's RequestValidator,
slack_sdk's SignatureVerifier) and posted to Steward, which acknowledges the page. Forged,
altered, stale and replayed callbacks are refused and acknowledge nothing."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from incidents.events import outage_event
from incidents.models import Outage
from notifications import services
from notifications.models import Notification
from registry.models import ContactMethod, ProjectRole
from tests.e2e_support import celery_worker, smtp_sink, wait_for  # noqa: F401
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory
from tests.notifications.standins import (  # noqa: F401
    SLACK_DM_CHANNEL,
    push_server,
    slack_api,
    twilio_api,
)

from .conftest import person_with

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST = {"STEWARD_RETRY_BASE_SECONDS": "0.3", "STEWARD_RETRY_MAX_SECONDS": "2"}
FORM = "application/x-www-form-urlencoded"


def page_to(*methods, subject="Wiki down"):
    """A page of a new project whose owner has `methods`."""
    return page_for(person_with(*methods, display_name="Olga Owner"), subject=subject)


def page_for(owner, subject="Wiki down"):
    """A page of a new project owned by `owner`, opened the way incidents opens one (in the
    event's transaction)."""
    project = ProjectFactory(name="Wiki")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    outage = Outage.objects.create(title=subject)
    with transaction.atomic():
        page = services.pages_open(
            event=outage_event(outage), project=project, subject=subject, body="Investigating."
        )
    return page, owner


def delivered(channel: str) -> Notification:
    wait_for(
        lambda: Notification.objects.filter(channel=channel, state="sent").exists(),
        timeout=30,
        message=f"the {channel} notification to be sent",
    )
    return Notification.objects.get(channel=channel)


def page_state(page) -> tuple:
    page.refresh_from_db()
    return page.state, page.acknowledged_via, page.acknowledged_by_id


# --- Twilio -----------------------------------------------------------------------------------


def twiml(response) -> ElementTree.Element:
    """The TwiML Steward answered (our own server's XML, not untrusted input)."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/xml")
    return ElementTree.fromstring(response.content)  # noqa: S314


def twilio_signature(path: str, params: dict, *, token: str | None = None, url: str = "") -> str:
    validator = RequestValidator(token or settings.TWILIO_AUTH_TOKEN)
    return validator.compute_signature(url or settings.SITE_URL + path, params)


def twilio_post(path: str, params: dict, *, signature: str | None = None):
    if signature is None:
        signature = twilio_signature(path, params)
    return Client().post(
        path, urlencode(params), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
    )


def forgeries(path: str, params: dict, tamper: dict) -> list[tuple[str, dict, str]]:
    """The ways a callback that Twilio did not send arrives: (name, params posted, signature)."""
    altered = {**params, **tamper}
    return [
        ("no signature", params, ""),
        ("signed with another auth token", params, twilio_signature(path, params, token="x" * 32)),
        ("a field changed after signing", altered, twilio_signature(path, params)),
        (
            "signed for another host",
            params,
            twilio_signature(path, params, url="http://evil.test" + path),
        ),
        (
            "signature of another path",
            params,
            twilio_signature("/notifications/twilio/sms/x", params),
        ),
    ]


def test_an_sms_page_goes_through_twilio_and_a_signed_ack_reply_acknowledges_it(
    celery_worker,  # noqa: F811
    twilio_api,  # noqa: F811
):
    celery_worker(TWILIO_BASE_URL=twilio_api.url, **FAST)
    page, owner = page_to((ContactMethod.Kind.SMS, "+14155550101", True, True))

    row = delivered("sms")
    [request] = twilio_api.at("/Messages.json")
    assert request.path == f"/2010-04-01/Accounts/{settings.TWILIO_ACCOUNT_SID}/Messages.json"
    assert request.basic_auth == (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    sms = request.form
    assert (sms["To"], sms["From"]) == ("+14155550101", settings.TWILIO_FROM_NUMBER)
    assert "Wiki down" in sms["Body"]
    code = re.search(r"Reply ACK (\d{4,8}) to acknowledge", sms["Body"]).group(1)
    assert row.ack_code == code and [a.status_code for a in row.attempts_made] == [201]
    assert f"{settings.SITE_URL}/notifications/ack/" in sms["Body"]

    path = "/notifications/twilio/sms/"
    reply = {
        "MessageSid": "SM" + "a" * 32,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "From": "+14155550101",
        "To": settings.TWILIO_FROM_NUMBER,
        "Body": f"ACK {code}",
    }
    for name, params, signature in forgeries(path, reply, {"From": "+14155550199"}):
        response = twilio_post(path, params, signature=signature)
        assert response.status_code == 403, name
    assert page_state(page) == ("open", "", None)

    # The right code from another number acknowledges nothing.
    other = {**reply, "MessageSid": "SM" + "b" * 32, "From": "+14155550199"}
    response = twilio_post(path, other)
    assert response.status_code == 200 and "no page with code" in response.content.decode()
    assert page_state(page) == ("open", "", None)

    response = twilio_post(path, reply)
    message = twiml(response).find("Message").text
    assert message.startswith("Steward: acknowledged")
    assert page_state(page) == ("acknowledged", "sms", owner.pk)

    # The same callback again (a replay) is refused.
    assert twilio_post(path, reply).status_code == 409


def test_a_voice_page_reads_the_summary_and_pressing_1_acknowledges_it(
    celery_worker,  # noqa: F811
    twilio_api,  # noqa: F811
):
    celery_worker(TWILIO_BASE_URL=twilio_api.url, **FAST)
    page, owner = page_to((ContactMethod.Kind.PHONE, "+14155550102", True, True))

    row = delivered("voice")
    [request] = twilio_api.at("/Calls.json")
    assert request.basic_auth == (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    call = request.form
    assert (call["To"], call["From"]) == ("+14155550102", settings.TWILIO_FROM_NUMBER)
    voice_path = call["Url"].removeprefix(settings.SITE_URL)
    assert voice_path == f"/notifications/twilio/voice/{row.pk}/"
    assert (
        call["StatusCallback"] == f"{settings.SITE_URL}/notifications/twilio/call-status/{row.pk}/"
    )

    answered = {
        "CallSid": "CA" + "c" * 32,
        "AccountSid": settings.TWILIO_ACCOUNT_SID,
        "From": settings.TWILIO_FROM_NUMBER,
        "To": "+14155550102",
        "CallStatus": "in-progress",
    }
    for name, params, signature in forgeries(voice_path, answered, {"CallSid": "CA" + "d" * 32}):
        assert twilio_post(voice_path, params, signature=signature).status_code == 403, name

    said_on_answer = twiml(twilio_post(voice_path, answered))
    gather = said_on_answer.find("Gather")
    assert gather.get("numDigits") == "1"
    said = " ".join(s.text for s in gather.findall("Say"))
    assert "Wiki down" in said and "Press 1 to acknowledge" in said
    gather_path = gather.get("action").removeprefix(settings.SITE_URL)
    assert gather_path == f"/notifications/twilio/gather/{row.pk}/"

    # A wrong key asks again; forged key presses are refused.
    again = twiml(twilio_post(gather_path, {**answered, "Digits": "2"}))
    assert again.find("Gather") is not None
    pressed = {**answered, "Digits": "1"}
    for name, params, signature in forgeries(gather_path, pressed, {"To": "+14155550199"}):
        assert twilio_post(gather_path, params, signature=signature).status_code == 403, name
    assert page_state(page) == ("open", "", None)

    response = twilio_post(gather_path, pressed)
    assert "Acknowledged" in twiml(response).find("Say").text
    assert page_state(page) == ("acknowledged", "voice", owner.pk)
    assert twilio_post(gather_path, pressed).status_code == 409  # replayed

    # The call's end after an acknowledgement changes nothing.
    ended = {**answered, "CallStatus": "completed"}
    assert (
        twilio_post(call["StatusCallback"].removeprefix(settings.SITE_URL), ended).status_code
        == 204
    )
    row.refresh_from_db()
    assert row.state == "sent" and not row.fallbacks.exists()


@pytest.mark.parametrize("status", ["no-answer", "busy", "completed"])
def test_an_unanswered_call_falls_back_to_the_next_contact_method(
    celery_worker,  # noqa: F811
    twilio_api,  # noqa: F811
    smtp_sink,  # noqa: F811
    status,
):
    celery_worker(smtp_port=smtp_sink.port, TWILIO_BASE_URL=twilio_api.url, **FAST)
    page, owner = page_to(
        (ContactMethod.Kind.PHONE, "+14155550103", True, True),
        (ContactMethod.Kind.EMAIL, "notices-only@example.com", False, True),
    )
    row = delivered("voice")
    # A method for pages added since the call went out: the one the page falls back to (never
    # the email the person keeps for notices).
    ContactMethod.objects.create(
        person=owner, kind=ContactMethod.Kind.EMAIL, address="olga@example.com", order=5
    )
    [request] = twilio_api.at("/Calls.json")
    status_path = request.form["StatusCallback"].removeprefix(settings.SITE_URL)
    ended = {"CallSid": "CA" + "e" * 32, "CallStatus": status, "To": "+14155550103"}
    assert twilio_post(status_path, ended, signature="forged").status_code == 403
    assert twilio_post(status_path, ended).status_code == 204
    row.refresh_from_db()
    assert row.state == "failed" and status in row.last_error
    wait_for(lambda: len(smtp_sink.messages) == 1, timeout=30, message="the fallback email")
    assert smtp_sink.messages[0]["To"] == "olga@example.com"
    assert page_state(page)[0] == "open"  # escalation runs on as for any page
    assert twilio_post(status_path, ended).status_code == 409


# --- Slack ------------------------------------------------------------------------------------


def slack_post(payload: dict, *, timestamp: int | None = None, secret: str | None = None):
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(secret or settings.SLACK_SIGNING_SECRET)
    return Client().post(
        "/notifications/slack/interactivity/",
        body,
        content_type=FORM,
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=verifier.generate_signature(timestamp=timestamp, body=body),
    )


def test_a_slack_page_is_a_direct_message_whose_button_acknowledges_and_updates_it(
    celery_worker,  # noqa: F811
    slack_api,  # noqa: F811
    settings,
):
    api = slack_api.url + "/api/"
    settings.SLACK_API_URL = api  # this process answers the button and updates the message
    celery_worker(SLACK_API_URL=api, **FAST)
    page, owner = page_to((ContactMethod.Kind.SLACK_USER, "U0OLGA123", True, True))

    row = delivered("slack_dm")
    [opened] = slack_api.at("/conversations.open")
    assert opened.headers["authorization"] == f"Bearer {settings.SLACK_BOT_TOKEN}"
    assert opened.data["users"] == "U0OLGA123"
    [posted] = slack_api.at("/chat.postMessage")
    message = posted.data
    assert message["channel"] == SLACK_DM_CHANNEL
    blocks = (
        message["blocks"] if isinstance(message["blocks"], list) else json.loads(message["blocks"])
    )
    [button] = [
        b
        for block in blocks
        if block["type"] == "actions"
        for b in block["elements"]
        if b.get("action_id") == "steward_ack"
    ]
    assert button["value"] == str(row.pk) and button["text"]["text"] == "Acknowledge"

    def pressed(user: str) -> dict:
        return {
            "type": "block_actions",
            "user": {"id": user},
            "actions": [button],
            "container": {
                "type": "message",
                "channel_id": SLACK_DM_CHANNEL,
                "message_ts": "1733400000.000100",
            },
            "channel": {"id": SLACK_DM_CHANNEL},
            "message": {"ts": "1733400000.000100"},
        }

    payload = pressed("U0OLGA123")
    now = int(time.time())
    assert slack_post(payload, timestamp=now - 6 * 60).status_code == 403  # stale
    assert slack_post(payload, timestamp=now + 6 * 60).status_code == 403  # from the future
    assert slack_post(payload, secret="another-app-secret").status_code == 403
    body = urlencode({"payload": json.dumps(payload)})
    unsigned = Client().post("/notifications/slack/interactivity/", body, content_type=FORM)
    assert unsigned.status_code == 403
    # Someone else's click (the id is checked, not assumed) acknowledges nothing.
    assert slack_post(pressed("U0MALLORY")).status_code == 200
    assert page_state(page) == ("open", "", None)
    assert not slack_api.at("/chat.update")

    response = slack_post(payload, timestamp=now)
    assert response.status_code == 200
    assert page_state(page) == ("acknowledged", "slack", owner.pk)
    [update] = slack_api.at("/chat.update")
    updated = update.data
    assert (updated["channel"], updated["ts"]) == (SLACK_DM_CHANNEL, "1733400000.000100")
    assert "Acknowledged by <@U0OLGA123>" in json.dumps(updated)
    assert "steward_ack" not in json.dumps(updated)  # the button is gone

    # The same request again, inside the timestamp window, is a replay.
    replay = Client().post(
        "/notifications/slack/interactivity/",
        body,
        content_type=FORM,
        HTTP_X_SLACK_REQUEST_TIMESTAMP=str(now),
        HTTP_X_SLACK_SIGNATURE=SignatureVerifier(settings.SLACK_SIGNING_SECRET).generate_signature(
            timestamp=str(now), body=body
        ),
    )
    assert replay.status_code == 409


# --- Apprise ----------------------------------------------------------------------------------

APPRISE_URLS = {
    "ntfy": "ntfy://127.0.0.1:{port}/steward-olga",
    "gotify": "gotify://127.0.0.1:{port}/AbCdEfGhIjKlMnO",
    "json": "json://127.0.0.1:{port}/push",
}


@pytest.mark.parametrize("service", sorted(APPRISE_URLS))
def test_an_apprise_push_carries_the_ack_link_that_acknowledges_the_page(
    celery_worker,  # noqa: F811
    push_server,  # noqa: F811
    service,
):
    from registry import services as registry_services

    celery_worker(**FAST)
    owner = PersonFactory(display_name="Olga Owner")
    # Saved the way people save it, so the URL passes Apprise's own check.
    registry_services.contact_method_add(
        actor=None,
        person=owner,
        kind=ContactMethod.Kind.APPRISE,
        address=APPRISE_URLS[service].format(port=push_server.port),
    )
    page, owner = page_for(owner)
    delivered("apprise")
    [push] = push_server.received
    text = push.body.decode()
    assert "Wiki down" in text
    ack_path = re.search(
        re.escape(settings.SITE_URL) + r"(/notifications/ack/[^\s\"\\]+/)", text
    ).group(1)
    if service == "ntfy":  # tapping the notification opens the same link
        assert push.headers["x-click"] == settings.SITE_URL + ack_path
    client = Client()
    assert client.get(ack_path).status_code == 200
    assert page_state(page)[0] == "open"
    assert client.post(ack_path).status_code == 200
    assert page_state(page) == ("acknowledged", "link", owner.pk)
