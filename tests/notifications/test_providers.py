"""The providers without a worker: a channel whose provider is not configured is refused at save
(API and form), shown as not deliverable, and fails at send time without being recorded as sent;
Twilio's and Slack's answers map to retry or give up; every form of an SMS reply is understood."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.test import Client
from rest_framework.test import APIClient
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from notifications import channels, services
from notifications.models import Notification, Page
from notifications.providers import twilio as twilio_provider
from registry.deliverability import apprise_destination_refusal
from registry.models import ContactMethod, ProjectRole
from tests.e2e_support import http_sink  # noqa: F401
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory
from tests.notifications.standins import serving, twilio_api  # noqa: F401

from .conftest import MONDAY_10, person_with

# kind, an address that is valid for it, the setting that unconfigures its provider, and what
# the refusal names.
UNCONFIGURED = [
    ("sms", "+14155550100", {"TWILIO_ACCOUNT_SID": ""}, "Twilio is not configured"),
    ("phone", "+14155550100", {"TWILIO_AUTH_TOKEN": ""}, "Twilio is not configured"),
    ("phone", "+14155550100", {"TWILIO_FROM_NUMBER": ""}, "TWILIO_FROM_NUMBER"),
    ("slack_user", "U024BE7LH", {"SLACK_BOT_TOKEN": ""}, "Slack is not configured"),
    ("slack_user", "U024BE7LH", {"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET"),
    (
        "apprise",
        "ntfys://ntfy.example.com/olga",
        {"STEWARD_APPRISE_ENABLED": False},
        "Apprise is turned off",
    ),
]


@pytest.fixture
def olga(db):
    return PersonFactory(display_name="Olga Owner", email="olga@example.com")


def api_for(person) -> APIClient:
    client = APIClient()
    client.force_authenticate(person.user)
    return client


@pytest.mark.parametrize(("kind", "address", "unset", "reason"), UNCONFIGURED)
def test_saving_a_method_whose_provider_is_not_configured_is_refused(
    olga, settings, kind, address, unset, reason
):
    url = f"/api/v1/people/{olga.pk}/contact-methods/"
    document = {"kind": kind, "address": address}
    # Configured (the test settings), the same method saves.
    created = api_for(olga).post(url, document, format="json")
    assert created.status_code == 201, created.content
    ContactMethod.objects.all().delete()

    for name, value in unset.items():
        setattr(settings, name, value)
    response = api_for(olga).post(url, document, format="json")
    assert response.status_code == 400
    assert "kind" in json.dumps(response.json())
    assert reason in json.dumps(response.json())
    assert "is not deliverable" in json.dumps(response.json())

    client = Client()
    client.force_login(olga.user)
    page = client.post("/me/contacts/", {**document, "for_pages": "on"}, HTTP_HX_REQUEST="true")
    assert page.status_code == 200
    assert reason in page.content.decode()
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(
    ("kind", "address", "message"),
    [
        ("slack_user", "olga", "Slack member ID"),
        ("slack_user", "#general", "Slack member ID"),
        ("slack_user", "u024be7lh", "Slack member ID"),
        ("apprise", "https://example.com/", "does not send to “https://”"),
        ("apprise", "nosuchservice://host/x", "Steward does not send to “nosuchservice://”"),
        ("apprise", "mailto://user:pw@smtp.example.com", "does not send to “mailto://”"),
        ("apprise", "syslog://", "does not send to “syslog://”"),
        ("apprise", "gotify://host", "Apprise cannot send"),  # no token
        ("apprise", "tgram://", "Apprise cannot send"),
        ("apprise", "ntfy.example.com/topic", "Enter an Apprise URL"),
        ("apprise", "", "This field"),
    ],
)
def test_a_slack_member_id_and_an_apprise_url_are_checked_at_save(olga, kind, address, message):
    url = f"/api/v1/people/{olga.pk}/contact-methods/"
    response = api_for(olga).post(url, {"kind": kind, "address": address}, format="json")
    assert response.status_code == 400
    assert "address" in json.dumps(response.json())
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert not ContactMethod.objects.exists()


@pytest.mark.parametrize(("kind", "address", "unset", "reason"), UNCONFIGURED)
def test_a_method_on_file_whose_provider_is_unconfigured_fails_and_falls_back_never_sent(
    event,
    project,
    settings,
    twilio_api,  # noqa: F811
    kind,
    address,
    unset,
    reason,  # noqa: F811
):
    settings.TWILIO_BASE_URL = twilio_api.url
    person = person_with(
        (kind, address, True, True),
        (ContactMethod.Kind.EMAIL, "not-for-pages@example.com", False, False),
    )
    ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.OWNER)
    for name, value in unset.items():
        setattr(settings, name, value)
    services.pages_open(event=event, project=project, subject="Down", body="", now=MONDAY_10)
    [row] = Notification.objects.all()
    # A method for pages added since the page was written: the one it falls back to (never the
    # email the person turned off for pages).
    ContactMethod.objects.create(
        person=person, kind=ContactMethod.Kind.EMAIL, address="olga@example.com", order=5
    )
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "failed"
    row.refresh_from_db()
    assert (row.state, row.sent_at) == ("failed", None)
    assert reason in row.last_error and "not deliverable" in row.last_error.lower()
    assert row.attempt_log.get().outcome == "failed"
    assert not twilio_api.received  # nothing went to the provider
    [fallback] = row.fallbacks.all()
    assert (fallback.channel, fallback.address) == ("email", "olga@example.com")


def test_the_profile_my_pages_and_the_api_show_an_undeliverable_method(olga, settings):
    ContactMethod.objects.create(person=olga, kind="sms", address="+14155550100")
    ContactMethod.objects.create(person=olga, kind="email", address="olga@example.com")
    client = Client()
    client.force_login(olga.user)
    for path in ("/me/", "/notifications/mine/"):
        assert "not deliverable" not in client.get(path).content.decode()
    api = f"/api/v1/people/{olga.pk}/contact-methods/"
    reasons = [m["undeliverable_reason"] for m in api_for(olga).get(api).json()["results"]]
    assert reasons == [None, None]
    settings.TWILIO_AUTH_TOKEN = ""
    reasons = {
        m["kind"]: m["undeliverable_reason"] for m in api_for(olga).get(api).json()["results"]
    }
    assert reasons["email"] is None and "Twilio is not configured" in reasons["sms"]
    for path in ("/me/", "/notifications/mine/"):
        text = client.get(path).content.decode()
        assert text.count('<span class="badge hard">not deliverable</span>') == 1, path
        assert "Twilio is not configured" in text


# --- what the providers' answers mean ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, channels.TransientError),
        (503, channels.TransientError),
        (429, channels.TransientError),
        (400, channels.PermanentError),
        (401, channels.PermanentError),
        (404, channels.PermanentError),
    ],
)
def test_twilio_answers_map_to_retry_or_give_up(event, settings, status, error):
    document = {"code": 21211, "message": "planned", "status": status, "more_info": ""}
    with serving(lambda received: (status, document)) as twilio_stand_in:
        settings.TWILIO_BASE_URL = twilio_stand_in.url
        person = person_with((ContactMethod.Kind.SMS, "+14155550100", True, True))
        [row] = services.notices_send(
            event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
        )
        with pytest.raises(error) as raised:
            channels.deliver(row)
        assert raised.value.status_code == status
        assert len(twilio_stand_in.received) == 1


def test_twilio_unreachable_is_transient(event, settings):
    settings.TWILIO_BASE_URL = "http://127.0.0.1:9"
    person = person_with((ContactMethod.Kind.PHONE, "+14155550100", True, True))
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    with pytest.raises(channels.TransientError):
        channels.deliver(row)


def test_an_apprise_url_to_a_refused_network_is_not_pushed(event, settings):
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = []
    assert apprise_destination_refusal("ntfy://127.0.0.1:8080/t")
    assert apprise_destination_refusal("ntfy://localhost/t")
    assert apprise_destination_refusal("gotifys://[::1]/token")
    assert apprise_destination_refusal("json://user:pw@10.0.0.7:8080/hook")
    assert apprise_destination_refusal("matrixs://bot:pw@169.254.169.254/!room")
    # A vendor's service: the token where a host would be is not a destination.
    assert apprise_destination_refusal("tgram://123456:abcdef/42") is None
    assert apprise_destination_refusal("pover://user@token") is None
    person = person_with((ContactMethod.Kind.APPRISE, "ntfy://127.0.0.1:9/t", True, True))
    [row] = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="", now=MONDAY_10
    )
    with pytest.raises(channels.PermanentError):
        channels.deliver(row)


# --- SMS replies --------------------------------------------------------------------------------


@pytest.fixture
def sms_page(event, project):
    person = person_with((ContactMethod.Kind.SMS, "+14155550100", True, True))
    ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.OWNER)
    page = services.pages_open(event=event, project=project, subject="Down", body="", now=MONDAY_10)
    row = Notification.objects.get(channel="sms")
    code = twilio_provider.ack_code_for(row)
    return page, person, code


def sms_reply(body: str, *, sender: str = "+14155550100", sid: str = "SM1"):
    params = {"MessageSid": sid, "From": sender, "To": django_settings.TWILIO_FROM_NUMBER}
    params["Body"] = body
    url = f"{django_settings.SITE_URL}/notifications/twilio/sms/"
    signature = RequestValidator(django_settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return Client().post(
        "/notifications/twilio/sms/",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


@pytest.mark.parametrize(
    "form", ["ACK {code}", "ack {code}", "Ack: {code}", "ACK{code}", " {code} ", "ack #{code}."]
)
def test_every_usual_form_of_an_ack_reply_acknowledges(sms_page, form):
    page, person, code = sms_page
    response = sms_reply(form.format(code=code))
    assert response.status_code == 200
    assert "acknowledged" in response.content.decode()
    page.refresh_from_db()
    assert (page.state, page.acknowledged_via, page.acknowledged_by) == (
        "acknowledged",
        "sms",
        person,
    )


@pytest.mark.parametrize(
    ("body", "sender"),
    [
        ("ACK 0000", "+14155550100"),  # nobody's code
        ("ACK {code}", "+14155550199"),  # someone else's phone
        ("OK", "+14155550100"),
        ("ACK", "+14155550100"),
        ("ACK {code} 1", "+14155550100"),
    ],
)
def test_a_reply_that_names_no_page_of_the_sender_acknowledges_nothing(sms_page, body, sender):
    page, _person, code = sms_page
    response = sms_reply(body.format(code=code), sender=sender)
    assert response.status_code == 200
    assert Page.objects.get(pk=page.pk).state == "open"


def test_codes_are_kept_per_notification_and_unique_among_open_pages(event, project):
    person = person_with((ContactMethod.Kind.SMS, "+14155550100", True, True))
    ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.OWNER)
    services.pages_open(event=event, project=project, subject="Down", body="", now=MONDAY_10)
    row = Notification.objects.get()
    code = twilio_provider.ack_code_for(row)
    assert twilio_provider.ack_code_for(Notification.objects.get()) == code  # retries: same
    others = []
    for i in range(30):
        other = services.pages_open(
            event=event, project=ProjectRoleFactory(person=person).project, subject=str(i), body=""
        )
        others.append(twilio_provider.ack_code_for(other.notifications.get()))
    assert len(set(others + [code])) == 31


# --- one message listing several apps --------------------------------------------------------


def _signed_twilio_post(path: str, params: dict):
    url = f"{django_settings.SITE_URL}{path}"
    signature = RequestValidator(django_settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    return Client().post(
        path,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def _by_sms(row):
    code = twilio_provider.ack_code_for(row)
    return sms_reply(f"ACK {code}", sender=row.address, sid="SM-group")


def _by_call(row):
    return _signed_twilio_post(
        f"/notifications/twilio/gather/{row.pk}/", {"CallSid": "CA-group", "Digits": "1"}
    )


def _by_slack(row):
    body = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": row.address},
                    "actions": [{"action_id": "steward_ack", "value": str(row.pk)}],
                }
            )
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(django_settings.SLACK_SIGNING_SECRET).generate_signature(
        timestamp=timestamp, body=body
    )
    return Client().post(
        "/notifications/slack/interactivity/",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature,
    )


@pytest.mark.parametrize(
    ("kind", "address", "channel", "press", "via"),
    [
        ("sms", "+14155550100", "sms", _by_sms, "sms"),
        ("phone", "+14155550100", "voice", _by_call, "voice"),
        ("slack_user", "U0OLGA123", "slack_dm", _by_slack, "slack"),
    ],
)
def test_a_provider_acknowledgement_covers_every_app_its_message_listed(
    event, kind, address, channel, press, via
):
    owner = person_with((kind, address, True, True))
    projects = [ProjectFactory(name=name) for name in ("Wiki", "Forum", "Chat")]
    for project in projects:
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    pages = services.pages_open_many(
        event=event,
        requests=[services.PageRequest(p, f"Down: {p.name}", "") for p in projects],
        now=MONDAY_10,
    )
    [row] = Notification.objects.filter(recipient=owner, channel=channel)
    assert sorted(row.page_ids) == sorted(p.pk for p in pages)
    assert press(row).status_code == 200
    for page in pages:
        page.refresh_from_db()
        assert (page.state, page.acknowledged_by, page.acknowledged_via) == (
            "acknowledged",
            owner,
            via,
        )
