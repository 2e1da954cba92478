"""A person's webhook, Slack and Teams contact methods take only URLs Steward may call, through
every way of saving one (API create and update, the profile page, the admin), against the
production settings of the networks: each URL of the class in `tests.ssrf_support` is refused
with a 400 (or a form error) naming `address` and the reason, and nothing is stored."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.forms import modelform_factory
from django.utils.html import escape
from rest_framework.test import APIClient

from registry.admin import ContactMethodForm
from registry.models import ContactMethod, Person
from tests.ssrf_support import connections, refused_urls

from .pages import HTMX, client_for

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("production_network_settings", "fake_dns"),
]
API = "/api/v1"
URL_KINDS = (ContactMethod.Kind.WEBHOOK, ContactMethod.Kind.SLACK, ContactMethod.Kind.TEAMS)
DJANGO_SAYS = "Enter an http:// or https:// URL."


def django_accepts(url: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return False
    return True


def check_reason(url: str, says: str, messages: list[str]) -> str | None:
    """What is wrong with the error messages shown for `url`, or None. Where Django's own URL
    check lets the URL through, the message must be Steward's reason; otherwise either."""
    text = " ".join(messages)
    if says in text:
        return None
    if not django_accepts(url) and DJANGO_SAYS in text:
        return None
    return f"{url!r}: {text!r} does not say {says!r}"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_refuses_every_closed_url_for_every_url_kind(reader, loopback_listener):
    client = api(reader)
    url_of = f"{API}/people/{reader.person.pk}/contact-methods/"
    problems = []
    for index, (url, says) in enumerate(refused_urls(loopback_listener.port)):
        kind = URL_KINDS[index % len(URL_KINDS)]
        response = client.post(url_of, {"kind": kind, "address": url}, format="json")
        if response.status_code != 400 or "address" not in response.json():
            problems.append(f"{url!r}: {response.status_code} {response.content!r}")
            continue
        problems.append(check_reason(url, says, response.json()["address"]))
    assert [p for p in problems if p] == []
    assert not ContactMethod.objects.exists()
    assert connections(loopback_listener) == 0


def test_the_api_refuses_changing_a_method_to_a_closed_url(reader, loopback_listener):
    client = api(reader)
    created = client.post(
        f"{API}/people/{reader.person.pk}/contact-methods/",
        {"kind": "webhook", "address": "https://hooks.example.org/me"},
        format="json",
    )
    assert created.status_code == 201, created.content
    method_url = f"{API}/people/{reader.person.pk}/contact-methods/{created.json()['id']}/"
    problems = []
    for url, says in refused_urls(loopback_listener.port):
        response = client.patch(method_url, {"address": url}, format="json")
        if response.status_code != 400 or "address" not in response.json():
            problems.append(f"{url!r}: {response.status_code} {response.content!r}")
            continue
        problems.append(check_reason(url, says, response.json()["address"]))
    assert [p for p in problems if p] == []
    assert ContactMethod.objects.get().address == "https://hooks.example.org/me"


def test_the_profile_page_refuses_every_closed_url(reader, loopback_listener):
    client = client_for(reader)
    problems = []
    for index, (url, says) in enumerate(refused_urls(loopback_listener.port)):
        kind = URL_KINDS[index % len(URL_KINDS)]
        response = client.post(
            "/me/contacts/", {"kind": kind, "address": url, "for_pages": "on"}, **HTMX
        )
        content = response.content.decode()
        if response.status_code >= 500 or not (
            escape(says) in content or (not django_accepts(url) and escape(DJANGO_SAYS) in content)
        ):
            problems.append(f"{url!r}: {response.status_code}, reason {says!r} not shown")
    assert problems == []
    assert not ContactMethod.objects.exists()
    assert connections(loopback_listener) == 0


def test_the_admin_refuses_every_closed_url(reader, loopback_listener):
    [inline] = [i for i in admin.site._registry[Person].inlines if i.model is ContactMethod]
    assert inline.form is ContactMethodForm
    form_class = modelform_factory(
        ContactMethod, form=ContactMethodForm, fields=["kind", "address"]
    )
    problems = []
    for index, (url, says) in enumerate(refused_urls(loopback_listener.port)):
        form = form_class(
            {"kind": URL_KINDS[index % len(URL_KINDS)], "address": url},
            instance=ContactMethod(person=reader.person),
        )
        if form.is_valid():
            problems.append(f"{url!r}: accepted")
            continue
        problems.append(check_reason(url, says, form.errors.get("address", [])))
    assert [p for p in problems if p] == []


def test_a_public_url_and_the_other_kinds_are_still_accepted(reader):
    client = api(reader)
    url_of = f"{API}/people/{reader.person.pk}/contact-methods/"
    for kind, address in [
        ("webhook", "https://hooks.example.org/steward"),
        ("slack", "https://hooks.slack.com/services/T0/B0/x"),
        ("teams", "https://example.webhook.office.com/webhookb2/x"),
        ("email", "someone@localhost.example"),
        ("sms", "+14155550100"),
    ]:
        response = client.post(url_of, {"kind": kind, "address": address}, format="json")
        assert response.status_code == 201, (kind, response.content)
