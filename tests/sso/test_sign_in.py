"""Sign-in through a real OpenID provider (tests/sso/op_support.py) at HTTP level: the account
and person behind the claims, matching people already in Steward, and what is refused."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from registry.models import AuditEntry, Person
from sso.models import Identity
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _signed_in(response) -> bool:
    return "_auth_user_id" in response.wsgi_request.session


def test_first_sign_in_registers_the_person_from_the_claims(sso_settings, openid_provider):
    openid_provider.set_account(
        "ada",
        email="ada@example.com",
        email_verified=True,
        name="Ada Lovelace",
        zoneinfo="Asia/Tokyo",
        locale="en-GB",
        groups=["steward-it", "everyone"],
    )
    client = Client()

    response = openid_provider.sign_in(client, "ada")

    assert response.status_code == 302, response.content.decode()[:500]
    person = Person.objects.get(email="ada@example.com")
    assert client.session["_auth_user_id"] == str(person.user_id)
    assert (person.display_name, person.time_zone) == ("Ada Lovelace", "Asia/Tokyo")
    assert person.user.groups.filter(name=sso_settings.STEWARD_IT_GROUP).exists()
    assert not person.user.has_usable_password()
    identity = Identity.objects.get(user=person.user)
    assert (identity.subject, identity.locale) == ("ada", "en-GB")


def test_a_person_imported_or_added_by_it_signs_in_to_that_same_person(
    sso_settings, openid_provider
):
    imported = PersonFactory(display_name="Grace Hopper", email="Grace@Example.com")
    openid_provider.set_account("grace-sub", email="grace@example.com", name="Grace Hopper")

    response = openid_provider.sign_in(Client(), "grace-sub")

    assert response.status_code == 302
    assert Person.objects.filter(email__iexact="grace@example.com").count() == 1
    assert response.wsgi_request.session["_auth_user_id"] == str(imported.user_id)
    # not in the IT group at the provider: not IT staff, and nothing else changed
    assert not imported.user.groups.exists()


def test_the_subject_keeps_finding_the_person_after_the_email_changes(
    sso_settings, openid_provider
):
    person = PersonFactory(email="old@example.com")
    openid_provider.set_account("sub-1", email="old@example.com", groups=["steward-it"])
    openid_provider.sign_in(Client(), "sub-1")
    openid_provider.set_account("sub-1", email="new@example.com", groups=[])

    response = openid_provider.sign_in(Client(), "sub-1")

    assert response.wsgi_request.session["_auth_user_id"] == str(person.user_id)
    person.refresh_from_db()
    assert person.email == "new@example.com"
    assert not person.user.groups.filter(name=sso_settings.STEWARD_IT_GROUP).exists()
    assert AuditEntry.objects.filter(
        object_type="registry.person", object_id=str(person.pk), changes__it_staff=[True, False]
    ).exists()


def test_an_unknown_zone_keeps_the_persons_zone_and_logs_why(sso_settings, openid_provider, caplog):
    person = PersonFactory(email="lin@example.com", time_zone="Europe/Paris")
    openid_provider.set_account("lin", email="lin@example.com", zoneinfo="Mars/Olympus_Mons")

    with caplog.at_level(logging.WARNING, logger="sso.services"):
        response = openid_provider.sign_in(Client(), "lin")

    assert _signed_in(response)
    person.refresh_from_db()
    assert person.time_zone == "Europe/Paris"
    assert "Mars/Olympus_Mons" in caplog.text and "keeping" in caplog.text


def test_a_deactivated_account_is_refused_with_a_page_and_an_audit_entry(
    sso_settings, openid_provider
):
    person = PersonFactory(email="gone@example.com", user__is_active=False)
    openid_provider.set_account("gone", email="gone@example.com", zoneinfo="Asia/Tokyo")

    response = openid_provider.sign_in(Client(), "gone")

    assert response.status_code == 403
    assert "deactivated" in response.content.decode()
    assert not _signed_in(response)
    person.refresh_from_db()
    assert person.time_zone != "Asia/Tokyo"
    assert AuditEntry.objects.filter(
        action=AuditEntry.Action.WARNING, object_type="sso.signin", object_id="gone"
    ).exists()


def test_a_session_signed_in_through_sso_ends_when_the_account_is_deactivated(
    sso_settings, openid_provider
):
    openid_provider.set_account("leaver", email="leaver@example.com")
    client = Client()
    assert _signed_in(openid_provider.sign_in(client, "leaver"))
    assert client.get("/me/").wsgi_request.user.is_authenticated

    get_user_model().objects.filter(person__email="leaver@example.com").update(is_active=False)

    assert not client.get("/me/").wsgi_request.user.is_authenticated


def test_an_unverified_email_is_not_matched_to_a_person(sso_settings, openid_provider):
    PersonFactory(email="boss@example.com")
    openid_provider.set_account("mallory", email="boss@example.com", email_verified=False)

    response = openid_provider.sign_in(Client(), "mallory")

    assert response.status_code == 403
    assert "not verified" in response.content.decode()


@pytest.mark.parametrize("create", [False])
def test_without_registration_an_unknown_person_is_refused(sso_settings, openid_provider, create):
    sso_settings.STEWARD_OIDC_CREATE_PEOPLE = create
    openid_provider.set_account("stranger", email="stranger@example.com")

    response = openid_provider.sign_in(Client(), "stranger")

    assert response.status_code == 403
    assert "ask IT to add you" in response.content.decode()
    assert not Person.objects.filter(email="stranger@example.com").exists()


def test_local_password_failures_do_not_stop_sso(sso_settings, openid_provider):
    person = PersonFactory(email="ada@example.com", user__username="ada")
    for _ in range(25):  # past the username's and the address's limits
        Client().post("/accounts/login/", {"username": "ada", "password": "wrong"})
    assert (
        Client().post("/accounts/login/", {"username": "ada", "password": "pw"}).status_code == 429
    )
    openid_provider.set_account("ada", email="ada@example.com")

    response = openid_provider.sign_in(Client(), "ada")

    assert response.wsgi_request.session["_auth_user_id"] == str(person.user_id)


def test_the_login_page_offers_the_provider_and_can_turn_passwords_off(sso_settings):
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' in page

    sso_settings.STEWARD_LOCAL_PASSWORDS_ENABLED = False
    sso_settings.AUTHENTICATION_BACKENDS = ["sso.backend.OIDCBackend"]
    PersonFactory(user__username="ada")
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with Test IdP" in page and 'name="password"' not in page
    assert (
        Client().post("/accounts/login/", {"username": "ada", "password": "pw"}).status_code == 403
    )
    token = Client().post(
        "/api/v1/auth/token/",
        {"username": "ada", "password": "pw"},
        content_type="application/json",
    )
    assert token.status_code == 400


def test_sso_pages_are_not_found_while_no_provider_is_configured(settings):
    settings.STEWARD_OIDC_CLIENT_ID = ""
    assert Client().get("/sso/start/").status_code == 404
    assert Client().get("/sso/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in Client().get("/accounts/login/").content.decode()


def test_admins_see_who_is_linked_to_which_identity(sso_settings, openid_provider, admin_client):
    openid_provider.set_account("ada-sub", email="ada@example.com")
    openid_provider.sign_in(Client(), "ada-sub")

    page = admin_client.get("/admin/sso/identity/")

    assert page.status_code == 200 and "ada-sub" in page.content.decode()
