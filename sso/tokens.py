"""The ID token check: every claim OpenID Connect Core §3.1.3.7 asks a client to check.

mozilla-django-oidc checks the signature and the nonce only; Steward also checks the issuer, the
audience (and `azp` when there are several), the expiry and the issue time, and accepts only the
signing algorithms configured (never `none`, never a client-secret HMAC it did not ask for).
"""

from __future__ import annotations

from typing import Any

import jwt
from django.conf import settings

from .errors import SignInRefused
from .provider import Provider

_key_sets: dict[str, jwt.PyJWKClient] = {}


def _signing_key(jwks_uri: str, token: str) -> Any:
    client = _key_sets.get(jwks_uri)
    if client is None:
        client = jwt.PyJWKClient(
            jwks_uri, cache_keys=True, lifespan=3600, timeout=settings.STEWARD_OIDC_TIMEOUT
        )
        _key_sets[jwks_uri] = client
    try:
        # An unknown key id fetches the set again once (the provider rotated its keys).
        return client.get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as exc:
        raise SignInRefused(
            f"The identity provider's signing keys could not be read: {exc}"
        ) from exc
    except (jwt.PyJWKClientError, jwt.InvalidTokenError):
        raise SignInRefused(
            "The sign-in token is signed with a key the identity provider does not publish."
        ) from None


def id_token_claims(*, token: str, nonce: str | None, provider: Provider) -> dict[str, Any]:
    """The claims of a valid ID token; SignInRefused naming the first check that failed."""
    if not token:
        raise SignInRefused("The identity provider sent no ID token.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise SignInRefused("The sign-in token is not a signed token.") from None
    algorithm = header.get("alg")
    if algorithm not in settings.STEWARD_OIDC_SIGN_ALGORITHMS:
        raise SignInRefused(
            f"The sign-in token is signed with {algorithm!r}; Steward accepts "
            f"{', '.join(settings.STEWARD_OIDC_SIGN_ALGORITHMS)}."
        )
    key = _signing_key(provider.jwks_uri, token)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.STEWARD_OIDC_CLIENT_ID,
            issuer=provider.issuer,
            leeway=settings.STEWARD_OIDC_LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.InvalidSignatureError:
        raise SignInRefused("The sign-in token's signature does not verify.") from None
    except jwt.ExpiredSignatureError:
        raise SignInRefused("The sign-in token has expired.") from None
    except jwt.InvalidAudienceError:
        raise SignInRefused(
            "The sign-in token was issued for another application (audience)."
        ) from None
    except jwt.InvalidIssuerError:
        raise SignInRefused("The sign-in token was issued by another provider (issuer).") from None
    except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
        raise SignInRefused("The sign-in token is dated in the future.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise SignInRefused(f"The sign-in token has no {exc.claim!r} claim.") from exc
    except jwt.InvalidTokenError:
        raise SignInRefused("The sign-in token cannot be read.") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != settings.STEWARD_OIDC_CLIENT_ID:
        raise SignInRefused("The sign-in token was issued for another application (azp).")
    if nonce is None or claims.get("nonce") != nonce:
        raise SignInRefused(
            "The sign-in token does not belong to this sign-in (nonce): it may be replayed.",
            subject=str(claims.get("sub", "")),
        )
    return claims
