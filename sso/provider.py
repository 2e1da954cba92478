"""The company's OpenID provider as Steward's settings describe it.

Endpoints come from the provider's discovery document (`STEWARD_OIDC_ISSUER` +
`/.well-known/openid-configuration`, or `STEWARD_OIDC_DISCOVERY_URL`), fetched on the first
sign-in and kept for an hour; any endpoint set explicitly wins over the document, and with every
endpoint set no document is fetched. Nothing is fetched when a process starts, so a provider that
is down does not stop Steward from starting (password sign-in, where enabled, keeps working).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from .errors import SignInRefused

log = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
_discovered: dict[str, tuple[float, dict[str, Any]]] = {}


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str


def is_configured() -> bool:
    return bool(
        settings.STEWARD_OIDC_CLIENT_ID
        and (settings.STEWARD_OIDC_ISSUER or settings.STEWARD_OIDC_AUTHORIZATION_ENDPOINT)
    )


def display_name() -> str:
    return settings.STEWARD_OIDC_PROVIDER_NAME or "your company's sign-in"


def _discovery_url() -> str:
    if settings.STEWARD_OIDC_DISCOVERY_URL:
        return settings.STEWARD_OIDC_DISCOVERY_URL
    return settings.STEWARD_OIDC_ISSUER.rstrip("/") + "/.well-known/openid-configuration"


def _document() -> dict[str, Any]:
    url = _discovery_url()
    cached = _discovered.get(url)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        response = requests.get(url, timeout=settings.STEWARD_OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise SignInRefused(f"The identity provider's discovery document ({url}): {exc}") from exc
    if not isinstance(document, dict):
        raise SignInRefused(f"The identity provider's discovery document ({url}) is not JSON")
    _discovered[url] = (time.monotonic() + DISCOVERY_SECONDS, document)
    return document


def provider() -> Provider:
    explicit = {
        "issuer": settings.STEWARD_OIDC_ISSUER,
        "authorization_endpoint": settings.STEWARD_OIDC_AUTHORIZATION_ENDPOINT,
        "token_endpoint": settings.STEWARD_OIDC_TOKEN_ENDPOINT,
        "userinfo_endpoint": settings.STEWARD_OIDC_USERINFO_ENDPOINT,
        "jwks_uri": settings.STEWARD_OIDC_JWKS_URI,
        "end_session_endpoint": settings.STEWARD_OIDC_END_SESSION_ENDPOINT,
    }
    required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if all(explicit[name] for name in required):
        return Provider(**explicit)
    document = _document()
    values = {name: value or str(document.get(name) or "") for name, value in explicit.items()}
    missing = [name for name in required if not values[name]]
    if missing:
        raise SignInRefused(
            f"The identity provider's discovery document has no {', '.join(missing)}"
        )
    return Provider(**values)


def forget_discovery() -> None:
    """Tests and a changed configuration: read the document again on the next sign-in."""
    _discovered.clear()
