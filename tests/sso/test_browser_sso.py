"""In Chromium, against the real OpenID provider: a person signs in with the company's identity,
is registered with the provider's time zone and IT group, signs out (at the provider too), signs
in again with changed claims and is updated; deactivated, they are refused."""

import re

import pytest
from playwright.sync_api import Page, expect

from registry.models import Person

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in_at_the_provider(page: Page, live_server, login: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")


def _sign_out_everywhere(page: Page, live_server) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's own page
    page.wait_for_url(f"{live_server.url}/**")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_sign_in_with_the_identity_provider_registers_updates_and_refuses(
    page: Page, live_server, sso_settings, openid_provider
) -> None:
    openid_provider.set_account(
        "ada",
        email="ada@example.com",
        name="Ada Lovelace",
        zoneinfo="Asia/Tokyo",
        groups=["steward-it"],
    )

    _sign_in_at_the_provider(page, live_server, "ada")

    page.wait_for_url(f"{live_server.url}/**")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    person = Person.objects.select_related("user").get(email="ada@example.com")
    assert (person.display_name, person.time_zone) == ("Ada Lovelace", "Asia/Tokyo")
    assert person.user.groups.filter(name=sso_settings.STEWARD_IT_GROUP).exists()

    # The provider now says she moved and left IT; the next sign-in brings Steward up to date.
    openid_provider.set_account(
        "ada", email="ada@example.com", name="Ada King", zoneinfo="America/Chicago", groups=[]
    )
    _sign_out_everywhere(page, live_server)
    _sign_in_at_the_provider(page, live_server, "ada")  # the provider asks again: logged out
    page.wait_for_url(f"{live_server.url}/**")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    person.refresh_from_db()
    assert (person.display_name, person.time_zone) == ("Ada King", "America/Chicago")
    assert not person.user.groups.exists()
    assert Person.objects.filter(email="ada@example.com").count() == 1

    # Deactivated in Steward: the provider still signs her in, Steward refuses.
    person.user.is_active = False
    person.user.save(update_fields=["is_active"])
    page.context.clear_cookies()
    _sign_in_at_the_provider(page, live_server, "ada")
    page.wait_for_url(re.compile(r".*/sso/callback/.*"))
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("deactivated")
