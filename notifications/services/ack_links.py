"""Signed acknowledge links: a link in an email or SMS that acknowledges one page as one person,
without signing in."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import lru_cache

import orjson
from django.conf import settings
from django.core import signing

from registry.models import Person

from ..models import Page
from .pages import page_ack

ACK_SALT = "steward.notifications.page-ack"


class AckLinkError(Exception):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _AckSigner(signing.TimestampSigner):
    """`signing.dumps(..., salt=ACK_SALT)`'s signer, made once per secret with its HMAC key
    derived once: Django makes a signer and derives the key again for every token, which was
    most of the ~45 µs each page message of a fan-out spent on its link."""

    def __init__(self, key: str) -> None:
        super().__init__(key=key, salt=ACK_SALT)
        # What `salted_hmac(self.salt + "signer", value, key, algorithm="sha256")` derives.
        derived = hashlib.sha256(f"{self.salt}signer".encode() + key.encode()).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value, key=None) -> str:
        if (key or self.key) != self.key or self.algorithm != "sha256":  # a fallback key
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(value.encode())
        return signing.b64_encode(mac.digest()).decode()


@lru_cache(maxsize=2)
def _ack_signer(key: str) -> _AckSigner:
    return _AckSigner(key)


def ack_token(*, page: Page | int, person: Person | int) -> str:
    """A signed token that acknowledges one page as one person, and nothing else: what
    `signing.dumps({"page": …, "person": …}, salt=ACK_SALT)` makes."""
    page_id = page if isinstance(page, int) else page.pk
    person_id = person if isinstance(person, int) else person.pk
    signer = _ack_signer(settings.SECRET_KEY)
    # `sign_object` without compression: the JSON in base64, the time, then the signature. The
    # JSON is `json.dumps(..., separators=(",", ":"))`'s, written by orjson in a tenth of the time.
    data = orjson.dumps({"page": page_id, "person": person_id})
    value = f"{signing.b64_encode(data).decode()}{signer.sep}{signer.timestamp()}"
    return f"{value}{signer.sep}{signer.signature(value)}"


def ack_url(*, page: Page | int, person: Person | int) -> str:
    return f"{settings.SITE_URL}/notifications/ack/{ack_token(page=page, person=person)}/"


def ack_link_resolve(token: str) -> tuple[Page, Person | None]:
    """The page and person a token names; AckLinkError (400 forged, 410 expired/gone) otherwise."""
    try:
        data = signing.loads(
            token, salt=ACK_SALT, max_age=settings.STEWARD_ACK_LINK_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise AckLinkError(
            "This acknowledge link has expired. Sign in to acknowledge the page.", status=410
        ) from exc
    except signing.BadSignature as exc:
        raise AckLinkError(
            "This acknowledge link is not valid: it was altered or is not an acknowledge link.",
            status=400,
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("page"), int):
        raise AckLinkError("This acknowledge link is not valid.", status=400)
    page = Page.objects.select_related("project").filter(pk=data["page"]).first()
    if page is None:
        raise AckLinkError("The page this link acknowledges no longer exists.", status=410)
    person = Person.objects.filter(pk=data.get("person")).first()
    return page, person


def ack_link_use(*, token: str, now: datetime | None = None) -> Page:
    page, person = ack_link_resolve(token)
    return page_ack(page=page, person=person, via="link", now=now)
