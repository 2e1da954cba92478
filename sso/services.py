"""Signing in through the company's OpenID provider: the account and person behind a set of
claims, kept up to date from them, and the audit entry of a refused sign-in."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from registry.models import AuditEntry, Person
from registry.names import name_problem
from registry.services import audit_record, person_add, person_for_account, person_update
from steward.times import is_time_zone

from .errors import SignInRefused
from .models import Identity

log = logging.getLogger(__name__)


def _claim(claims: dict[str, Any], setting: str) -> str:
    value = claims.get(getattr(settings, setting))
    return value.strip() if isinstance(value, str) else ""


def _matched_account(claims: dict[str, Any]) -> AbstractBaseUser | None:
    """The account a first sign-in belongs to: a person (imported, added by IT, or who signed in
    with a password before) whose email, or username, is the configured claim's value."""
    claim = settings.STEWARD_OIDC_MATCH_CLAIM
    value = _claim(claims, "STEWARD_OIDC_MATCH_CLAIM")
    if not value:
        return None
    users = get_user_model().objects
    if settings.STEWARD_OIDC_MATCH_FIELD == "username":
        matches = list(users.filter(username__iexact=value)[:2])
    else:
        if claim == "email" and claims.get("email_verified") is False:
            raise SignInRefused(
                "The identity provider says this email address is not verified, so it cannot "
                "be matched to a person in Steward.",
                subject=str(claims.get("sub", "")),
                email=value,
            )
        people = list(Person.objects.filter(email__iexact=value).values_list("user_id", flat=True))
        if not people:
            people = list(users.filter(email__iexact=value).values_list("pk", flat=True))
        if len(set(people)) > 1:
            raise SignInRefused(
                f"Several people in Steward have the email {value}; IT must merge them first.",
                subject=str(claims.get("sub", "")),
                email=value,
            )
        matches = list(users.filter(pk__in=people))
    if len(matches) > 1:
        raise SignInRefused(
            f"Several accounts match {claim} {value}; IT must merge them first.",
            subject=str(claims.get("sub", "")),
        )
    return matches[0] if matches else None


def _new_person(claims: dict[str, Any]) -> Person:
    email = _claim(claims, "STEWARD_OIDC_EMAIL_CLAIM")
    subject = str(claims.get("sub", ""))
    if not settings.STEWARD_OIDC_CREATE_PEOPLE:
        raise SignInRefused(
            "You are not registered in Steward yet: ask IT to add you.",
            subject=subject,
            email=email,
        )
    if not email:
        raise SignInRefused(
            "The identity provider sent no email address, which Steward needs to register you.",
            subject=subject,
        )
    fields: dict[str, Any] = {}
    name = _claim(claims, "STEWARD_OIDC_NAME_CLAIM")
    if name and not name_problem(name):
        fields["display_name"] = name[:200]
    zone = _claim(claims, "STEWARD_OIDC_ZONEINFO_CLAIM")
    if zone and is_time_zone(zone):  # an unknown one is logged by _person_changes
        fields["time_zone"] = zone
    try:
        return person_add(actor=None, email=email, **fields)
    except ValidationError as exc:
        raise SignInRefused(
            f"Steward could not register you: {exc.messages[0]}", subject=subject
        ) from exc


def _person_changes(person: Person, claims: dict[str, Any]) -> dict[str, Any]:
    """What the claims change in the person: name, email, time zone. A value Steward cannot
    take (a name it refuses, an email another person has, a zone it does not know) keeps the
    person's own, and the log says why."""
    changes: dict[str, Any] = {}
    name = _claim(claims, "STEWARD_OIDC_NAME_CLAIM")
    if name and name[:200] != person.display_name:
        problem = name_problem(name)
        if problem:
            log.warning(
                "sso: keeping %s's name: the provider's %r is refused: %s", person.pk, name, problem
            )
        else:
            changes["display_name"] = name[:200]
    email = _claim(claims, "STEWARD_OIDC_EMAIL_CLAIM")
    if email and email.lower() != person.email.lower():
        if Person.objects.filter(email__iexact=email).exclude(pk=person.pk).exists():
            log.warning("sso: keeping person %s's email: %s is another person's", person.pk, email)
        else:
            changes["email"] = email
    zone = _claim(claims, "STEWARD_OIDC_ZONEINFO_CLAIM")
    if zone and zone != person.time_zone:
        if is_time_zone(zone):
            changes["time_zone"] = zone
        else:
            log.warning(
                "sso: keeping person %s's time zone %s: the provider's zoneinfo %r is not an "
                "IANA zone Steward knows",
                person.pk,
                person.time_zone,
                zone,
            )
    return changes


def _groups(claims: dict[str, Any]) -> set[str] | None:
    value = claims.get(settings.STEWARD_OIDC_GROUPS_CLAIM)
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(item) for item in value}
    return None


def _it_staff_update(user: AbstractBaseUser, person: Person, claims: dict[str, Any]) -> None:
    """Membership of the IT staff group follows the provider's groups claim when a mapping is
    configured. A sign-in whose claims carry no groups claim at all (a provider that left it out,
    Entra ID's group overage) changes nothing."""
    mapped = set(settings.STEWARD_OIDC_IT_GROUPS)
    groups = _groups(claims)
    if not mapped or groups is None:
        return
    it_group, _ = Group.objects.get_or_create(name=settings.STEWARD_IT_GROUP)
    was = user.groups.filter(pk=it_group.pk).exists()
    should = bool(groups & mapped)
    if was == should:
        return
    if should:
        user.groups.add(it_group)
    else:
        user.groups.remove(it_group)
    user.__dict__.pop("_steward_is_it", None)
    audit_record(
        actor=None,
        action=AuditEntry.Action.UPDATE,
        instance=person,
        before={"it_staff": was},
        after={"it_staff": should},
    )


def account_sign_in(*, issuer: str, claims: dict[str, Any]) -> AbstractBaseUser:
    """The account that the provider's (already verified) claims sign in to, with its person
    made or brought up to date from them. Refuses a deactivated account before writing anything."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SignInRefused("The identity provider sent no subject (sub).")
    identity = (
        Identity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    user = identity.user if identity is not None else _matched_account(claims)
    if user is not None and not user.is_active:
        raise SignInRefused(
            "This account is deactivated in Steward: ask IT if you should still have access.",
            subject=subject,
            email=getattr(user, "email", ""),
        )
    if identity is None and user is not None:
        other = Identity.objects.filter(issuer=issuer, user=user).first()
        if other is not None:
            raise SignInRefused(
                "This Steward account is linked to another identity at the provider.",
                subject=subject,
                email=getattr(user, "email", ""),
            )
    with transaction.atomic():
        if user is None:
            user = _new_person(claims).user
        person = person_for_account(user)
        changes = _person_changes(person, claims)
        if changes:
            person_update(actor=None, person=person, **changes)
        _it_staff_update(user, person, claims)
        Identity.objects.update_or_create(
            issuer=issuer,
            subject=subject,
            defaults={
                "user": user,
                "locale": _claim(claims, "STEWARD_OIDC_LOCALE_CLAIM")[:35],
                "last_signed_in_at": timezone.now(),
            },
        )
    return user


def sign_in_refusal_record(
    *, reason: str, subject: str = "", email: str = "", address: str | None = None
) -> AuditEntry:
    """The audit entry (and log line) of a refused sign-in through the provider."""
    log.warning(
        "sso: sign-in refused (subject %r, email %r, address %s): %s",
        subject,
        email,
        address,
        reason,
    )
    return AuditEntry.objects.create(
        actor=None,
        action=AuditEntry.Action.WARNING,
        object_type="sso.signin",
        object_id=(subject or "-")[:64],
        object_repr=f"Sign-in refused: {reason}"[:300],
        changes={
            "reason": [None, reason],
            "email": [None, email],
            "address": [None, address or ""],
        },
    )
