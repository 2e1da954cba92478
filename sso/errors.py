"""Why a sign-in through the identity provider was refused."""

from __future__ import annotations


class SignInRefused(Exception):
    """A sign-in that must not go ahead. `reason` is shown to the person and audited; it names
    what failed (the token's signature, audience, issuer, nonce, expiry; a deactivated account; a
    provider that cannot be reached), never a token or a secret."""

    def __init__(self, reason: str, *, subject: str = "", email: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.subject = subject
        self.email = email
