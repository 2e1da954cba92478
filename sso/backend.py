"""mozilla-django-oidc's authorization-code flow (state, nonce, PKCE, the code exchange and the
userinfo request) with Steward's checks and people: the provider from `provider.py` (discovery),
the full ID token check of `tokens.py`, and `services.account_sign_in` for the account.

Listed in AUTHENTICATION_BACKENDS; it answers only the OpenID callback (a request carrying
`code` and `state` plus the nonce from the session) and leaves password sign-in to Django's
ModelBackend, whose permission checks it inherits."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from registry.backends import account_with_person

from . import provider as op
from .errors import SignInRefused
from .services import account_sign_in
from .tokens import id_token_claims


def oidc_setting(attr: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, from Steward's STEWARD_OIDC_* ones."""
    values = {
        "OIDC_RP_CLIENT_ID": settings.STEWARD_OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.STEWARD_OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.STEWARD_OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": settings.STEWARD_OIDC_SIGN_ALGORITHMS[0],
        "OIDC_USE_NONCE": True,
        "OIDC_USE_PKCE": True,
        # The hint of RP-initiated logout. (Settings names, not secrets: bandit B105.)
        "OIDC_STORE_ID_TOKEN": True,  # nosec B105
        "OIDC_TIMEOUT": settings.STEWARD_OIDC_TIMEOUT,
        "OIDC_AUTHENTICATION_CALLBACK_URL": "sso:callback",
        "OIDC_REDIRECT_FIELD_NAME": "next",
        "OIDC_TOKEN_USE_BASIC_AUTH": (
            settings.STEWARD_OIDC_TOKEN_AUTH == "client_secret_basic"  # noqa: S105  # nosec B105
        ),
        "LOGIN_REDIRECT_URL": settings.LOGIN_REDIRECT_URL,
    }
    if attr in values:
        return values[attr]
    if default:
        return default[0]
    return getattr(settings, attr)


class OIDCBackend(OIDCAuthenticationBackend):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The provider's endpoints are looked up when a callback comes, not here: Django makes a
        # backend for every password sign-in too.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.STEWARD_OIDC_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.STEWARD_OIDC_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.STEWARD_OIDC_SIGN_ALGORITHMS[0]
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.OIDC_OP_JWKS_ENDPOINT = None

    get_settings = staticmethod(oidc_setting)

    def get_user(self, user_id: Any) -> AbstractBaseUser | None:
        """The session's account, unless it was deactivated (a leaver): their SSO session ends
        with it, as a password session does through Django's ModelBackend."""
        user = account_with_person(user_id)  # with the person every page asks for
        return user if user is not None and user.is_active else None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> AbstractBaseUser | None:
        if request is None or "nonce" not in kwargs or not op.is_configured():
            return None
        self.provider = op.provider()
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        try:
            return super().authenticate(request, **kwargs)
        except requests.RequestException as exc:
            raise SignInRefused(f"The identity provider could not be reached: {exc}") from exc

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return super().get_token(payload)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            raise SignInRefused(
                f"The identity provider refused the sign-in code (HTTP {status})."
            ) from exc

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        self.id_token_claims = id_token_claims(
            token=token, nonce=kwargs.get("nonce"), provider=self.provider
        )
        return self.id_token_claims

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict:
        """The ID token's claims, then the userinfo endpoint's, which must be about the same
        subject (OpenID Connect Core §5.3.2)."""
        claims = dict(payload)
        if self.provider.userinfo_endpoint and access_token:
            response = requests.get(
                self.provider.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=settings.STEWARD_OIDC_TIMEOUT,
            )
            response.raise_for_status()
            if "json" not in response.headers.get("content-type", ""):
                raise SignInRefused("The identity provider's userinfo answer is not JSON.")
            userinfo = response.json()
            if not isinstance(userinfo, dict) or userinfo.get("sub") != payload.get("sub"):
                raise SignInRefused(
                    "The identity provider's userinfo is about another subject than the token."
                )
            claims.update(userinfo)
        return claims

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> AbstractBaseUser:
        claims = self.get_userinfo(access_token, id_token, payload)
        return account_sign_in(issuer=self.provider.issuer, claims=claims)

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:  # pragma: no cover
        raise SuspiciousOperation("Steward matches accounts in sso.services.account_sign_in")
