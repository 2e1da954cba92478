"""Health: `/healthz` reports the web process, the database, the broker and how long ago the
sweeper last ran, and answers 503 when any of them is down.

The sweeper's last run is a timestamp the `notifications.sweep` task writes (`task_ran_record`)
in Redis, where every process sees it.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

SWEEPER_TASK = "notifications.sweep"
BEACON_PREFIX = "steward:ran:"


_client: redis.Redis | None = None
_client_url = ""


def redis_connection() -> redis.Redis:
    """A shared client for REDIS_URL with short timeouts."""
    global _client, _client_url
    if _client is None or _client_url != settings.REDIS_URL:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        _client_url = settings.REDIS_URL
    return _client


def task_ran_record(name: str, *, at: float | None = None) -> None:
    """Remember that periodic task `name` just ran (wall-clock seconds). Never raises: a task
    must not fail because its health beacon could not be written."""
    at = time.time() if at is None else at
    try:
        redis_connection().set(f"{BEACON_PREFIX}{name}", repr(at))
    except (OSError, redis.RedisError):
        return


def task_ran_at(name: str) -> float | None:
    """When periodic task `name` last ran (wall-clock seconds), or None if never recorded."""
    value = redis_connection().get(f"{BEACON_PREFIX}{name}")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        return {"status": "down", "error": exc.__class__.__name__}
    return {"status": "ok"}


def _broker() -> dict:
    try:
        redis_connection().ping()
    except redis.RedisError as exc:
        return {"status": "down", "kind": "redis", "error": exc.__class__.__name__}
    return {"status": "ok", "kind": "redis"}


def _sweeper(*, now: float) -> dict:
    """`stale` (down) once the sweeper has not run for STEWARD_SWEEPER_MAX_AGE_SECONDS; `unknown`
    when it never ran here (a fresh deployment before beat's first tick): reported, not down."""
    try:
        ran_at = task_ran_at(SWEEPER_TASK)
    except redis.RedisError as exc:
        return {"status": "unknown", "error": exc.__class__.__name__}
    if ran_at is None:
        return {"status": "unknown", "last_run_seconds_ago": None}
    ago = max(0.0, now - ran_at)
    limit = settings.STEWARD_SWEEPER_MAX_AGE_SECONDS
    return {
        "status": "ok" if ago <= limit else "stale",
        "last_run_seconds_ago": round(ago, 1),
        "max_age_seconds": limit,
    }


def health_report(*, now: float | None = None, web_only: bool = False) -> tuple[bool, dict]:
    """Every part, or with `web_only` what a web process itself needs (web and database): a load
    balancer must not pull healthy web processes because beat stopped."""
    now = time.time() if now is None else now
    parts = {"web": {"status": "ok"}, "database": _database()}
    if not web_only:
        parts |= {"broker": _broker(), "sweeper": _sweeper(now=now)}
    healthy = all(part["status"] in ("ok", "unknown") for part in parts.values())
    return healthy, {"status": "ok" if healthy else "down", **parts}


def healthz(request: HttpRequest) -> JsonResponse:
    """For monitors: 200 when every part is up, 503 otherwise. `?scope=web` checks only what the
    web process needs, for load balancers and the container's own health check."""
    healthy, report = health_report(web_only=request.GET.get("scope") == "web")
    response = JsonResponse(report, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
