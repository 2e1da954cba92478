"""XSS: every field a user can write holds a script payload, and every page that shows it (as
each role that can see it, full page and htmx fragment) and every notification email keeps it
inert: the raw markup never appears, only its escaped form. URLs people enter are refused unless
they are http(s).

The browser half (a page full of payloads fires no dialog) is tests/browser/test_xss_inert.py.
"""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.test import Client

from incidents.services.incidents import incident_update_post
from notifications.models import Notification
from tests.factories import TeamFactory
from tests.security.test_authorization_matrix import EXPECTED, _values
from tests.security.world import ROLES, World, world_build

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOAD = f"{IMG}{SCRIPT}"
# What must never reach a page: any of these means the payload was rendered as markup.
RAW = (SCRIPT, "<img src=x onerror=alert(1)>", "onerror=alert(1)>")


def _hostile_world() -> World:
    world = world_build(
        name=PAYLOAD,
        description=f"Broken {PAYLOAD}",
        title=f"Down {PAYLOAD}",
        public_summary=f"Public {PAYLOAD}",
        message=f"Update {PAYLOAD}",
        display_name=PAYLOAD,
    )
    incident_update_post(
        actor=world.users["owner"], incident=world.incident, message=f"Incident {PAYLOAD}"
    )
    world.subscription.address = f"https://hooks.example.com/{PAYLOAD}"
    world.subscription.channel = "webhook"
    world.subscription.save()
    world.people["owner"].contact_methods.create(
        kind="webhook", address=f"https://hooks.example.com/{PAYLOAD}", label=PAYLOAD
    )
    # IT's people, offered by a directory search that finds nothing.
    it_desk = TeamFactory(name=f"{PAYLOAD}IT desk", slug="it-desk", is_it=True)
    it_desk.members.add(world.users["it"].person)
    world.project.urls.create(url=f"https://app.example.com/{PAYLOAD}")
    world.project.runbook_url = f"https://wiki.example.com/{PAYLOAD}"
    world.project.save()
    return world


def _assert_inert(body: str, where: str) -> None:
    for raw in RAW:
        assert raw not in body, f"{where} renders user text as markup: {raw!r}"
    assert 'href="javascript:' not in body.lower(), where


def test_every_page_keeps_user_text_inert_for_every_role() -> None:
    world = _hostile_world()
    values = _values(world)
    pages = {name: path for name, (method, path, _s) in EXPECTED.items() if method == "GET"}
    pages |= {
        "directory search": "/?q=Owned",
        "directory search reflected": f"/?q={PAYLOAD}",
        "status search": "/status/",
        "schedule in the viewer's zone": "/projects/{project}/oncall/?tz=UTC",
    }
    checked = 0
    escaped_seen = False
    for role in ROLES:
        client = Client()
        if world.users[role] is not None:
            client.force_login(world.users[role])
        for name, path in sorted(pages.items()):
            url = path.format(**values)
            for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
                response = client.get(url, **headers)
                if response.status_code != 200:
                    continue
                if "html" not in response.get("Content-Type", ""):
                    continue
                body = response.content.decode()
                _assert_inert(body, f"{name} ({url}) as {role} {headers}")
                escaped_seen |= "&lt;script&gt;alert(1)&lt;/script&gt;" in body
                checked += 1
    assert checked > 100, checked
    assert escaped_seen, "the payload was never shown at all: the test would prove nothing"


def test_pages_that_show_the_payload_show_it_escaped() -> None:
    """Not vacuous: each of these pages really carries the text, escaped."""
    world = _hostile_world()
    values = _values(world)
    admin = Client()
    admin.force_login(world.users["admin"])
    for path in (
        "/",
        "/projects/{project}/",
        "/projects/{project}/edit/",
        "/projects/{project}/oncall/",
        "/systems/",
        "/systems/{system}/",
        "/it/changes/",
        "/it/changes/{change}/",
        "/it/outages/",
        "/it/outages/{outage}/",
        "/incidents/{incident}/",
        "/status/{project}/",
        "/projects/{other_project}/reports/",
    ):
        url = path.format(**values)
        body = admin.get(url).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url
        _assert_inert(body, url)


def test_notification_emails_keep_user_text_inert() -> None:
    _hostile_world()
    rendered = 0
    for notification in Notification.objects.all():
        context = {"n": notification, "ack_url": ""}
        html = render_to_string("notifications/email.html", context)
        _assert_inert(html, f"email.html for notification {notification.pk}")
        rendered += 1
    assert rendered, "no notifications to render"


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example.com/runbook",
        "vbscript:msgbox(1)",
    ],
)
def test_urls_people_enter_must_be_http(bad: str) -> None:
    world = world_build()
    owner = Client()
    owner.force_login(world.users["owner"])
    person = world.people["owner"].pk
    project = f"/api/v1/projects/{world.project.slug}/"
    attempts = {
        "runbook_url (API)": owner.patch(
            project, {"runbook_url": bad}, content_type="application/json"
        ),
        "urls (API)": owner.patch(project, {"urls": [bad]}, content_type="application/json"),
        "webhook contact": owner.post(
            f"/api/v1/people/{person}/contact-methods/",
            {"kind": "webhook", "address": bad},
            content_type="application/json",
        ),
        "slack contact": owner.post(
            f"/api/v1/people/{person}/contact-methods/",
            {"kind": "slack", "address": bad},
            content_type="application/json",
        ),
        "webhook subscription": owner.post(
            "/api/v1/subscriptions/",
            {"project": world.other_project.slug, "channel": "webhook", "address": bad},
            content_type="application/json",
        ),
        "runbook_url (form)": owner.post(
            f"/projects/{world.project.slug}/edit/",
            {"name": "Owned app", "support_tier": "side_project", "runbook_url": bad},
        ),
    }
    for what, response in attempts.items():
        assert response.status_code in (200, 400), (what, response.status_code)
        if what.endswith("(form)"):
            assert "errorlist" in response.content.decode(), what
        else:
            assert response.status_code == 400, what
    world.project.refresh_from_db()
    assert world.project.runbook_url == ""
    assert not world.project.urls.exists()
    assert not world.people["owner"].contact_methods.filter(address=bad).exists()
