"""Sign-in rate limiting against password guessing, for the login page and the API token endpoint.

It must stop guessing without letting anyone lock someone else out. Failed attempts are counted
in Redis, each counter in a window that starts at its first failure
(STEWARD_LOGIN_WINDOW_SECONDS, 15 minutes by default):

- per username *and* client address (STEWARD_LOGIN_MAX_FAILURES, 5): guessing one account from
  one address. The lock holds for that pair only, so the right password from another address
  still gets in: a failed guess from one address never blocks the owner elsewhere.
- per client address (STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS, 20): one address trying many
  usernames.
- per username over every address (STEWARD_LOGIN_MAX_FAILURES_PER_USERNAME, 100): guessing one
  account from many addresses. Past it only browsers that signed in to that account before (a
  signed "known browser" cookie, OWASP's device cookies) may still try: the owner at their usual
  browser is not locked out by a botnet, the botnet is.

A locked attempt is refused with 429 *before* the password is checked: a right guess inside a
locked window does not get in, so guessing gains nothing. A success clears its username-and-
address counter only: one account an attacker owns must not reset the count against others.

Client addresses come from `steward.proxies.client_address` (X-Forwarded-For only from trusted
proxies). Sign-in through the company's identity provider (sso/) is never throttled here: the
provider does its own, and local-password failures must not stop it.

Without Redis, or if it cannot be reached, the counters live in Django's cache (per process with
the default local memory cache).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.template.response import TemplateResponse

from steward.health import redis_connection
from steward.proxies import client_address

log = logging.getLogger(__name__)
PREFIX = "steward:login-failures:"


@dataclass(frozen=True)
class LoginThrottle:
    """Whether an attempt may go ahead; `retry_after` seconds until it may when it may not."""

    allowed: bool
    retry_after: int = 0

    @property
    def message(self) -> str:
        minutes = max(1, -(-self.retry_after // 60))
        return (
            "Too many failed sign-in attempts for this account or from this address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _name(username: str) -> str:
    return (username or "").strip().lower()


def _keys(
    *, username: str, client_address: str | None, known_browser: bool = False
) -> list[tuple[str, int]]:
    """(counter key, limit) for each counter the attempt falls under."""
    keys = []
    name = _name(username)
    address = client_address or "unknown"
    if name:
        keys.append((f"{PREFIX}pair:{_digest(name, address)}", settings.STEWARD_LOGIN_MAX_FAILURES))
        if not known_browser:
            keys.append(
                (f"{PREFIX}user:{_digest(name)}", settings.STEWARD_LOGIN_MAX_FAILURES_PER_USERNAME)
            )
    if client_address:
        keys.append(
            (f"{PREFIX}addr:{client_address}", settings.STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS)
        )
    return [(key, limit) for key, limit in keys if limit > 0]


KNOWN_BROWSER_COOKIE = "steward_known_signin"
KNOWN_BROWSER_SALT = "steward.login_throttle.known-browser"
KNOWN_BROWSER_MAX_AGE = 180 * 24 * 3600
KNOWN_BROWSER_MAX_NAMES = 8


def _known_names(request: HttpRequest) -> list[str]:
    try:
        value = signing.loads(
            request.COOKIES.get(KNOWN_BROWSER_COOKIE, ""),
            salt=KNOWN_BROWSER_SALT,
            max_age=KNOWN_BROWSER_MAX_AGE,
        )
    except signing.BadSignature:
        return []
    return [str(name) for name in value] if isinstance(value, list) else []


def is_known_browser(request: HttpRequest, username: str) -> bool:
    """Whether this browser signed in to `username` with its password before (a cookie Steward
    signed then), so a username-wide lock does not shut its owner out."""
    return _digest(_name(username)) in _known_names(request)


def known_browser_remember(request: HttpRequest, response: HttpResponse, username: str) -> None:
    names = [name for name in _known_names(request) if name != _digest(_name(username))]
    names = [_digest(_name(username)), *names][:KNOWN_BROWSER_MAX_NAMES]
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        signing.dumps(names, salt=KNOWN_BROWSER_SALT),
        max_age=KNOWN_BROWSER_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _window() -> int:
    return max(1, settings.STEWARD_LOGIN_WINDOW_SECONDS)


def login_attempt_check(
    *, username: str, client_address: str | None, known_browser: bool = False
) -> LoginThrottle:
    """Say whether a sign-in attempt for `username` from `client_address` may be checked."""
    keys = _keys(username=username, client_address=client_address, known_browser=known_browser)
    if not keys:
        return LoginThrottle(True)
    client = redis_connection()
    retry_after = 0
    try:
        pipe = client.pipeline(transaction=False)
        for key, _ in keys:
            pipe.get(key)
            pipe.ttl(key)
        answers = pipe.execute()
        for index, (_, limit) in enumerate(keys):
            count, ttl = answers[2 * index], answers[2 * index + 1]
            if count is not None and int(count) >= limit:
                retry_after = max(retry_after, ttl if ttl and ttl > 0 else _window())
        return LoginThrottle(retry_after == 0, retry_after)
    except (redis.RedisError, OSError) as exc:
        log.warning("login throttle: Redis unreachable, using the local cache: %s", exc)
    for key, limit in keys:
        if (cache.get(key) or 0) >= limit:
            retry_after = _window()
    return LoginThrottle(retry_after == 0, retry_after)


def login_failure_record(*, username: str, client_address: str | None) -> None:
    """Count one failed attempt against the username and the address."""
    keys = _keys(username=username, client_address=client_address)
    window = _window()
    client = redis_connection()
    try:
        pipe = client.pipeline(transaction=True)
        for key, _ in keys:
            # The window starts at the first failure (SET NX EX, then INCR keeps the TTL).
            pipe.set(key, 0, ex=window, nx=True)
            pipe.incr(key)
        pipe.execute()
        return
    except (redis.RedisError, OSError) as exc:
        log.warning("login throttle: Redis unreachable, using the local cache: %s", exc)
    for key, _ in keys:
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window)


def login_success_record(*, username: str, client_address: str | None) -> None:
    """Forget the failures of this username from this address (not the address's own count,
    nor the username's over every address)."""
    keys = [key for key, _ in _keys(username=username, client_address=client_address)]
    keys = [key for key in keys if key.startswith(f"{PREFIX}pair:")]
    if not keys:
        return
    client = redis_connection()
    try:
        client.delete(*keys)
        return
    except (redis.RedisError, OSError) as exc:
        log.warning("login throttle: Redis unreachable, using the local cache: %s", exc)
    cache.delete_many(keys)


def throttled_response(request: HttpRequest, throttle: LoginThrottle) -> HttpResponse:
    response = TemplateResponse(
        request,
        "registration/login_throttled.html",
        {"message": throttle.message, "retry_after": throttle.retry_after},
        status=429,
    )
    response["Retry-After"] = str(throttle.retry_after)
    return response


class ThrottledLoginView(auth_views.LoginView):
    """Django's LoginView that refuses (429) a username or address past its failure limit."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.STEWARD_LOCAL_PASSWORDS_ENABLED:
            return HttpResponseForbidden(
                "Passwords are turned off: sign in with the identity provider."
            )
        username = request.POST.get("username", "")
        address = client_address(request)
        throttle = login_attempt_check(
            username=username,
            client_address=address,
            known_browser=is_known_browser(request, username),
        )
        if not throttle.allowed:
            return throttled_response(request, throttle)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            login_success_record(username=username, client_address=address)
            known_browser_remember(request, response, username)
        else:
            login_failure_record(username=username, client_address=address)
        return response
