"""LDAP sign-in and sync (issue 15) against a real slapd: an LDAP user signs in (into the person
IT added by email), the sync brings their new name and email, and a disabled entry deactivates
them through the leaver service."""

from __future__ import annotations

import pytest
from django_auth_ldap.config import LDAPSearch

from directory.ldap import ldap_sync
from directory.models import LdapAccount
from directory.tasks import ldap_sync as ldap_sync_task
from registry.models import Person, ProjectRole
from registry.services import person_add
from tests.factories import ProjectFactory, ProjectRoleFactory

from .slapd_support import PEOPLE, ROOT_DN, ROOT_PASSWORD, slapd  # noqa: F401

pytestmark = pytest.mark.django_db

ACTIVE = "(!(employeeType=disabled))"


def _entry(uid: str, name: str, mail: str) -> str:
    return (
        f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
        f"sn: {name.split()[-1]}\ngivenName: {name.split()[0]}\nmail: {mail}\n"
        f"userPassword: {uid}-password\n"
    )


@pytest.fixture
def ldap_settings(settings, slapd):  # noqa: F811
    settings.AUTH_LDAP_SERVER_URI = slapd.uri
    settings.AUTH_LDAP_BIND_DN = ROOT_DN
    settings.AUTH_LDAP_BIND_PASSWORD = ROOT_PASSWORD
    settings.STEWARD_LDAP_USER_BASE = PEOPLE
    settings.STEWARD_LDAP_ACTIVE_FILTER = ACTIVE
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(
        PEOPLE, 2, f"(&(objectClass=inetOrgPerson){ACTIVE}(uid=%(user)s))"
    )
    settings.AUTHENTICATION_BACKENDS = [
        "directory.ldap.StewardLDAPBackend",
        "registry.backends.ModelBackend",
    ]
    return slapd


def test_an_ldap_user_signs_in_and_is_synced_until_disabled(ldap_settings, client):
    server = ldap_settings
    server.ldif(_entry("ann", "Ann Lee", "ann@example.com"))
    # IT added Ann before she ever signed in: signing in through LDAP is that person.
    added = person_add(actor=None, email="ann@example.com", display_name="Ann")
    wiki = ProjectFactory(slug="wiki")
    ProjectRoleFactory(project=wiki, person=added, role=ProjectRole.Role.OWNER)

    assert (
        client.post("/accounts/login/", {"username": "ann", "password": "wrong"}).status_code == 200
    )
    signed_in = client.post("/accounts/login/", {"username": "ann", "password": "ann-password"})
    assert signed_in.status_code == 302
    ann = Person.objects.select_related("user", "ldap").get(pk=added.pk)
    assert ann.display_name == "Ann Lee" and ann.ldap.dn == f"uid=ann,{PEOPLE}"
    assert client.get("/me/").status_code == 200

    # The directory renames her; the sync (the beat task) brings it.
    server.ldif(
        f"dn: uid=ann,{PEOPLE}\nchangetype: modify\nreplace: cn\ncn: Ann Lee-Park\n-\n"
        "replace: mail\nmail: ann.park@example.com\n",
        modify=True,
    )
    assert ldap_sync_task() == {"updated": 1, "deactivated": 0}
    ann.refresh_from_db()
    assert (ann.display_name, ann.email) == ("Ann Lee-Park", "ann.park@example.com")

    # Disabled in the directory: deactivated through the leaver service, once.
    server.ldif(
        f"dn: uid=ann,{PEOPLE}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n",
        modify=True,
    )
    result = ldap_sync()
    assert result.deactivated == [ann.pk]
    ann.refresh_from_db()
    ann.user.refresh_from_db()
    assert ann.deactivated_at is not None and not ann.user.is_active
    wiki.refresh_from_db()
    assert wiki.orphaned_at is not None
    assert ldap_sync().deactivated == []
    assert LdapAccount.objects.filter(person=ann).exists()  # nothing deleted
    # Her session is over, and she cannot sign in again.
    assert client.get("/me/").status_code == 302
    client.logout()
    again = client.post("/accounts/login/", {"username": "ann", "password": "ann-password"})
    assert again.status_code == 200
