"""Signing in with the company's LDAP directory (django-auth-ldap), and the periodic sync that
keeps those people's names and emails, and marks them as left when the directory disables or
drops them (README, "Provisioning").

Sign-in: the account is found by its LDAP username, or else by its email (so that a person IT
added before they ever signed in — `registry.services.person_add` — is the one who signs in), or
made; its person gets the directory's name and email and an `LdapAccount` with the entry's DN.

The sync (`ldap_sync`, the Celery task `directory.ldap_sync` on the beat schedule) reads every
entry under STEWARD_LDAP_USER_BASE that passes STEWARD_LDAP_ACTIVE_FILTER in one search, then for
each person with an `LdapAccount`: an entry found updates their name and email; an entry missing
(deleted, moved out, or disabled by the filter) deactivates them through
`directory.services.person_deactivate`. It never reactivates anyone: coming back is IT's call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_auth_ldap.backend import LDAPBackend, _LDAPUser

from registry.backends import account_with_person
from registry.models import Person
from registry.names import name_problem
from registry.services import person_for_account

from . import services
from .models import LdapAccount

logger = logging.getLogger(__name__)


def _first(attrs: dict, name: str) -> str:
    values = attrs.get(name) or attrs.get(name.lower()) or []
    value = values[0] if values else ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_name(attrs: dict, fallback: str) -> str:
    name = _first(attrs, settings.STEWARD_LDAP_NAME_ATTR).strip()
    if not name or name_problem(name):
        return fallback
    return name[:200]


def _person_update(person: Person, *, dn: str, attrs: dict, now) -> bool:
    """The directory's name and email on the person; True when something changed."""
    name = _entry_name(attrs, person.display_name)
    email = _first(attrs, settings.STEWARD_LDAP_EMAIL_ATTR).strip()[:254] or person.email
    changed = (person.display_name, person.email) != (name, email)
    if changed:
        person.display_name, person.email = name, email
        person.save(update_fields=["display_name", "email", "updated_at"])
        if person.user.email != email:
            person.user.email = email
            person.user.save(update_fields=["email"])
    LdapAccount.objects.update_or_create(person=person, defaults={"dn": dn, "synced_at": now})
    return changed


class StewardLDAPBackend(LDAPBackend):
    """django-auth-ldap's backend, finding the person IT already added by email, and keeping
    the person (not only the account) in step with the directory."""

    def get_or_build_user(self, username, ldap_user):
        user, built = super().get_or_build_user(username, ldap_user)
        email = _first(ldap_user.attrs or {}, settings.STEWARD_LDAP_EMAIL_ATTR).strip()
        if built and email:
            existing = (
                get_user_model()
                .objects.filter(person__email__iexact=email, person__ldap__isnull=True)
                .first()
            )
            if existing is not None:
                return existing, False
        return user, built

    def get_user(self, user_id):
        # Django's ModelBackend ends an inactive account's sessions; django-auth-ldap's does not.
        # Read with the person every page asks for (`registry.backends`); then what
        # django-auth-ldap's own get_user does with the account: attach its `ldap_user`.
        user = account_with_person(user_id)
        if user is None or not user.is_active:
            return None
        _LDAPUser(self, user=user)
        return user

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            with transaction.atomic():
                person = person_for_account(user)
                _person_update(person, dn=ldap_user.dn, attrs=ldap_user.attrs or {}, now=None)
        return user


@dataclass
class SyncResult:
    updated: list[int] = field(default_factory=list)
    deactivated: list[int] = field(default_factory=list)
    unchanged: int = 0


def _directory_entries() -> dict[str, dict]:
    """Every active entry under the user base, by lower-cased DN, in one search."""
    import ldap

    connection = ldap.initialize(settings.AUTH_LDAP_SERVER_URI)
    connection.set_option(ldap.OPT_REFERRALS, 0)
    connection.set_option(ldap.OPT_NETWORK_TIMEOUT, 10)
    try:
        if settings.AUTH_LDAP_START_TLS:
            connection.start_tls_s()
        connection.simple_bind_s(settings.AUTH_LDAP_BIND_DN, settings.AUTH_LDAP_BIND_PASSWORD)
        query = f"(&{settings.STEWARD_LDAP_SYNC_FILTER}{settings.STEWARD_LDAP_ACTIVE_FILTER})"
        rows = connection.search_s(
            settings.STEWARD_LDAP_USER_BASE,
            ldap.SCOPE_SUBTREE,
            query,
            [settings.STEWARD_LDAP_NAME_ATTR, settings.STEWARD_LDAP_EMAIL_ATTR],
        )
    finally:
        connection.unbind_s()
    return {dn.lower(): attrs for dn, attrs in rows if dn}


def ldap_sync(*, now=None) -> SyncResult:
    """Bring the people who signed in through LDAP in step with the directory. Safe to run
    twice: a second run finds nothing to change. Does nothing when LDAP is not configured; an
    unreachable directory raises (the task logs it) and changes nothing — a directory that cannot
    be read must not look like everyone has left."""
    result = SyncResult()
    if not settings.AUTH_LDAP_SERVER_URI:
        return result
    now = now or timezone.now()
    entries = _directory_entries()
    accounts = LdapAccount.objects.select_related("person__user").order_by("pk")
    for account in accounts:
        person = account.person
        attrs = entries.get(account.dn.lower())
        with transaction.atomic():
            if attrs is None:
                if person.deactivated_at is None:
                    services.person_deactivate(
                        actor=None, person=person, source=services.Source.LDAP, now=now
                    )
                    result.deactivated.append(person.pk)
                else:
                    result.unchanged += 1
                continue
            if _person_update(person, dn=account.dn, attrs=attrs, now=now):
                result.updated.append(person.pk)
            else:
                result.unchanged += 1
    logger.info(
        "LDAP sync: %d updated, %d deactivated, %d unchanged",
        len(result.updated),
        len(result.deactivated),
        result.unchanged,
    )
    return result
