"""The password pages: in the site's layout, and a reset that works end to end, its email read
back from a real SMTP server."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.e2e_support import SmtpSink, smtp, smtp_sink  # noqa: F401  (fixtures)
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def in_site_layout(html: str) -> bool:
    return 'class="site-header"' in html and "css/steward.css" in html and "Django" not in html


def test_a_forgotten_password_is_reset_from_the_emailed_link(client, smtp, settings):  # noqa: F811
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "proxy.example"]  # a host also served
    settings.SITE_URL = "https://steward.example.com"
    person = PersonFactory(user__email="ana@example.com")
    login = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login

    form = client.get("/accounts/password_reset/")
    assert in_site_layout(form.content.decode())
    sent = client.post(
        "/accounts/password_reset/", {"email": "ana@example.com"}, HTTP_HOST="proxy.example"
    )
    assert sent.status_code == 302
    assert in_site_layout(client.get(sent["Location"]).content.decode())

    (message,) = smtp.messages
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Reset your Steward password"
    body = message.get_content()
    # The link is on the site's address, never on the Host header the request carried.
    (link,) = re.findall(r"https://steward\.example\.com(/accounts/reset/\S+)", body)
    assert "proxy.example" not in body

    confirm = client.get(link, follow=True)
    html = confirm.content.decode()
    assert in_site_layout(html) and "Choose a new password" in html
    set_url = confirm.redirect_chain[-1][0]
    done = client.post(
        set_url, {"new_password1": "a new long passphrase 42", "new_password2": "nope"}
    )
    assert "errorlist" in done.content.decode()  # the mismatch is shown beside its field
    done = client.post(
        set_url,
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
        follow=True,
    )
    assert in_site_layout(done.content.decode()) and "Password set" in done.content.decode()
    user = get_user_model().objects.get(pk=person.user.pk)
    assert user.check_password("a new long passphrase 42")
    # The link worked once.
    assert "does not work" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_answers_the_same_and_sends_nothing(client, smtp):  # noqa: F811
    sent = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password_reset/done/"
    assert smtp.messages == []


def test_a_signed_in_person_changes_their_password(client):
    person = PersonFactory()
    person.user.set_password("the old passphrase 1")
    person.user.save()
    client.force_login(person.user)
    assert 'href="/accounts/password_change/"' in client.get("/me/").content.decode()
    page = client.get("/accounts/password_change/").content.decode()
    assert in_site_layout(page) and "Change your password" in page
    wrong = client.post(
        "/accounts/password_change/",
        {
            "old_password": "not it",
            "new_password1": "the new passphrase 2",
            "new_password2": "the new passphrase 2",
        },
    )
    assert wrong.status_code == 200 and "errorlist" in wrong.content.decode()
    done = client.post(
        "/accounts/password_change/",
        {
            "old_password": "the old passphrase 1",
            "new_password1": "the new passphrase 2",
            "new_password2": "the new passphrase 2",
        },
        follow=True,
    )
    assert in_site_layout(done.content.decode()) and "Password changed" in done.content.decode()
    person.user.refresh_from_db()
    assert person.user.check_password("the new passphrase 2")
