"""Header injection, as a class: every header Steward builds from what someone typed (an outage
title, a monitor's summary, a project name, a file name) × every way text can try to end a header
line. Each email goes through a real SMTP server (aiosmtpd) and is read back: one message, no
injected header, the subject intact apart from its line breaks folded to spaces and its length
bounded. Content-Disposition values are read back by the standard library's parser.
"""

from __future__ import annotations

import datetime as dt
import email
import json
from collections.abc import Callable
from email import policy

import pytest
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from imports.text_bodies import attachment
from incidents.services.outages import outage_open
from incidents.services.subscriptions import subscription_create
from notifications.channels import send_email
from notifications.models import Channel, Notification
from notifications.services.sending import notification_send
from registry.models import ContactMethod, Dependency, ProjectRole
from steward.headers import MAX_HEADER_CHARS, content_disposition, header_value
from tests.e2e_support import SmtpSink, smtp, smtp_sink  # noqa: F401
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
)

pytestmark = pytest.mark.django_db

INJECTED = ("Bcc", "X-Injected")
NASTY = {
    "crlf": "Disk full\r\nBcc: evil@example.com\r\nX-Injected: yes",
    "lf": "Disk full\nBcc: evil@example.com",
    "cr": "Disk full\rX-Injected: yes",
    "crlf then blank line": "Disk full\r\n\r\nX-Injected: body starts here",
    "line separator": "Disk full\u2028X-Injected: yes",
    "paragraph separator": "Disk full\u2029X-Injected: yes",
    "next line": "Disk full\x85X-Injected: yes",
    "nul": "Disk\x00full\x00X-Injected: yes",
    "other controls": "Disk\tfull\x0bnow\x0c\x1b[31m\x7fX-Injected: yes",
    "very long": "Disk full " + "lorem ipsum " * 834,  # 10,018 characters
    "very long without spaces": "x" * 10_000,
    "non-latin": "Диск заполнен — ディスクがいっぱい — القرص ممتلئ 💾",
    "non-latin with a line break": "Диск\r\nBcc: evil@example.com ディスク",
    "encoded word": "=?utf-8?q?X-Injected=3A_yes?=\r\nX-Injected: yes",
}


def storable(value: str, limit: int) -> str:
    """What a text column can hold: NUL is refused by PostgreSQL (the monitors' receivers keep
    it as U+FFFD), and each column has its length."""
    return value.replace("\x00", "\ufffd")[:limit]


# --- the sites: each turns the value into emails, and returns the subjects it meant to send ------


def _send_pending() -> list[str]:
    """Deliver every email row now (past any working-hours delay); the subjects they carry."""
    later = timezone.now() + dt.timedelta(days=8)
    rows = list(Notification.objects.filter(channel=Channel.EMAIL).order_by("pk"))
    for row in rows:
        assert notification_send(notification_id=row.pk, now=later) == "sent", row.last_error
    return [("[PAGE] " if row.kind == Notification.Kind.PAGE else "") + row.subject for row in rows]


def _unsaved(kind: str, subject: str) -> Notification:
    return Notification(
        kind=kind,
        channel=Channel.EMAIL,
        address="olga@example.com",
        subject=subject,
        body="The body.",
        idempotency_key=f"n:test:{kind}",
        topic="test",
        created_at=timezone.now(),
    )


def page_subject(value: str) -> list[str]:
    send_email(_unsaved(Notification.Kind.PAGE, value))
    return [f"[PAGE] {value}"]


def notice_subject(value: str) -> list[str]:
    send_email(_unsaved(Notification.Kind.NOTICE, value))
    return [value]


def _paged_project():
    system = SystemFactory(name="Core database", slug="core-db")
    project = ProjectFactory(name="Wiki", slug="wiki")
    DependencyFactory(
        source_project=project, target_system=system, criticality=Dependency.Criticality.HARD
    )
    owner = PersonFactory(display_name="Olga Owner", email="olga@example.com")
    ContactMethodFactory(person=owner, kind=ContactMethod.Kind.EMAIL, address="olga@example.com")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    return system


def outage_title_typed_by_it(value: str) -> list[str]:
    system = _paged_project()
    outage_open(actor=None, title=storable(value, 200), systems=[system])
    return _send_pending()


def monitor_summary(value: str) -> list[str]:
    system = _paged_project()
    event = {
        "routing_key": system.integration_key,
        "event_action": "trigger",
        "payload": {"summary": value[:1024], "source": "probe", "severity": "critical"},
    }
    response = Client().post("/v2/enqueue", json.dumps(event), content_type="application/json")
    assert response.status_code == 202, response.content
    return _send_pending()


def project_name(value: str) -> list[str]:
    project = ProjectFactory(name=storable(value, 200), slug="wiki")
    subscription_create(actor=None, project=project, address="olga@example.com")
    return _send_pending()


EMAIL_SITES: dict[str, Callable[[str], list[str]]] = {
    "page subject": page_subject,
    "notice subject": notice_subject,
    "outage title typed by IT": outage_title_typed_by_it,
    "monitor summary": monitor_summary,
    "project name in a confirmation": project_name,
}


@pytest.mark.parametrize("value", NASTY.values(), ids=NASTY.keys())
@pytest.mark.parametrize("site", EMAIL_SITES.values(), ids=EMAIL_SITES.keys())
def test_user_text_in_an_email_header_arrives_as_one_folded_line(smtp, site, value):  # noqa: F811
    meant = site(value)

    assert meant, "the site sent nothing"
    assert len(smtp.messages) == len(meant)
    for message, subject in zip(smtp.messages, meant, strict=True):
        assert not message.defects, message.defects
        for name in INJECTED:
            assert message[name] is None, f"{name} injected: {message[name]!r}"
        assert message["To"] == "olga@example.com"
        received = message["Subject"]
        assert received == header_value(subject)
        assert len(received) <= MAX_HEADER_CHARS
        # The user's text is there, folded: not cut at the first line break.
        assert any(header_value(text)[:60] in received for text in (value, storable(value, 200)))
        # One message: the body parts are the ones Steward wrote, nothing the subject started.
        assert {p.get_content_type() for p in message.walk()} == {
            "multipart/alternative",
            "text/plain",
            "text/html",
        }
    for raw in smtp.raw:
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998


# --- Content-Disposition ---------------------------------------------------------------------


def _filename(header: str) -> str:
    """The file name a mail or HTTP client reads from the header (RFC 2231/6266 decoding)."""
    parsed = email.message_from_string(f"Content-Disposition: {header}\n\n", policy=policy.default)
    return parsed.get_filename()


DISPOSITION_SITES: dict[str, Callable[[str], HttpResponse]] = {
    "export attachment": lambda name: attachment("a,b\n", content_type="text/csv", filename=name),
    "inline feed": lambda name: _with(
        "Content-Disposition", content_disposition(name, as_attachment=False)
    ),
    "attachment": lambda name: _with("Content-Disposition", content_disposition(name)),
}


def _with(header: str, value: str) -> HttpResponse:
    response = HttpResponse("x")
    response[header] = value  # Django refuses a value with a line break (BadHeaderError)
    return response


@pytest.mark.parametrize(
    "value",
    [*NASTY.values(), 'quote" and \\ back', "../../etc/passwd"],
    ids=[*NASTY, "quote", "path"],
)
@pytest.mark.parametrize("site", DISPOSITION_SITES.values(), ids=DISPOSITION_SITES.keys())
def test_a_file_name_in_content_disposition_is_one_safe_header(site, value):
    response = site(value)

    header = response["Content-Disposition"]
    assert not any(c in header for c in "\r\n\x00\u2028\u2029\x85")
    name = _filename(header)
    assert name == header_value(value, max_length=150).replace("/", "_").replace("\\", "_")
    assert "/" not in name


def test_the_insights_export_is_named_through_the_kit(client, django_user_model):
    ProjectFactory(slug="wiki")
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com"))

    response = client.get("/insights/projects/wiki/?format=csv")

    assert response.status_code == 200
    assert _filename(response["Content-Disposition"]).startswith("steward-project-wiki-")
