"""Sign-in rate limiting against password guessing, for the login page and the API token endpoint.

Failed attempts are counted per username and per client address, each in a window that starts
with the first failure (STEWARD_LOGIN_WINDOW_SECONDS, 15 minutes by default). Once a username has
STEWARD_LOGIN_MAX_FAILURES failures, or an address STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS, every
further attempt for it is refused with 429 until the window ends, *before* the password is
checked: a right guess inside a locked window does not get in, so guessing gains nothing.

A successful sign-in clears its username's counter (the owner got their password right) but not
the address's: one account an attacker owns must not reset the count against the others.

The counters live in Redis (REDIS_URL) so every web process shares them; without Redis, or if it
cannot be reached, in Django's cache (per process with the default local memory cache).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from steward.health import redis_connection

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


def _keys(*, username: str, client_address: str | None) -> list[tuple[str, int]]:
    """(counter key, limit) for each counter the attempt falls under."""
    keys = []
    name = (username or "").strip().lower()
    if name:
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        keys.append((f"{PREFIX}user:{digest}", settings.STEWARD_LOGIN_MAX_FAILURES))
    if client_address:
        keys.append(
            (f"{PREFIX}addr:{client_address}", settings.STEWARD_LOGIN_MAX_FAILURES_PER_ADDRESS)
        )
    return [(key, limit) for key, limit in keys if limit > 0]


def _window() -> int:
    return max(1, settings.STEWARD_LOGIN_WINDOW_SECONDS)


def login_attempt_check(*, username: str, client_address: str | None) -> LoginThrottle:
    """Say whether a sign-in attempt for `username` from `client_address` may be checked."""
    keys = _keys(username=username, client_address=client_address)
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


def login_success_record(*, username: str) -> None:
    """Forget the username's failures (not the address's)."""
    keys = [key for key, _ in _keys(username=username, client_address=None)]
    if not keys:
        return
    client = redis_connection()
    try:
        client.delete(*keys)
        return
    except (redis.RedisError, OSError) as exc:
        log.warning("login throttle: Redis unreachable, using the local cache: %s", exc)
    cache.delete_many(keys)


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR: a deployment behind a proxy sets it from the proxy's header."""
    return request.META.get("REMOTE_ADDR") or None


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
        username = request.POST.get("username", "")
        address = client_address(request)
        throttle = login_attempt_check(username=username, client_address=address)
        if not throttle.allowed:
            return throttled_response(request, throttle)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            login_success_record(username=username)
        else:
            login_failure_record(username=username, client_address=address)
        return response
