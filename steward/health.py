"""Health: `/healthz` reports the web process, the database, the broker, how long ago the
sweeper last ran and whether each delivery channel works, and answers 503 when any of them is
down (or a channel degraded).

The sweeper's last run is a timestamp the `notifications.sweep` task writes (`task_ran_record`)
in Redis, where every process sees it. So are the delivery channels' consecutive failures
(`channel_failure_record` / `channel_success_record`, fed by the workers): a channel (email,
webhook, sms …) is degraded once STEWARD_CHANNEL_DEGRADED_AFTER deliveries in a row to at
least two addresses failed on it.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string

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


# --- delivery channels ------------------------------------------------------------------------

CHANNEL_PREFIX = "steward:channel:"
# A channel counts as degraded only when its failures span this many addresses: one dead
# receiver is that receiver's problem, not the channel's.
CHANNEL_MIN_ADDRESSES = 2
# Seconds between two resets of a channel's counters by one process: a fast channel sending
# hundreds of messages a second costs Redis one write a second per process, not one a message.
_RESET_EVERY = 1.0
_reset_at: dict[str, float] = {}


# The channels with a run of failures under way: what `channels_status` reads.
CHANNELS_FAILING = f"{CHANNEL_PREFIX}names"


def _channel_keys(channel: str) -> tuple[str, str, str, str]:
    base = f"{CHANNEL_PREFIX}{channel}:"
    return f"{base}failures", f"{base}since", f"{base}addresses", f"{base}error"


def channel_failure_record(channel: str, *, address: str, error: str, at: float | None = None):
    """One more delivery failed on `channel` (to `address`). Never raises."""
    at = time.time() if at is None else at
    failures, since, addresses, last_error = _channel_keys(channel)
    try:
        pipe = redis_connection().pipeline(transaction=False)
        pipe.sadd(CHANNELS_FAILING, channel)
        pipe.incr(failures)
        pipe.set(since, repr(at), nx=True)
        pipe.sadd(addresses, address[:200])
        pipe.set(last_error, error[:500])
        pipe.execute()
    except (OSError, redis.RedisError):
        return
    _reset_at.pop(channel, None)  # the next success resets at once


def channel_success_record(channel: str) -> None:
    """A delivery on `channel` went through: its run of failures is over. Never raises."""
    now = time.monotonic()
    if now - _reset_at.get(channel, -_RESET_EVERY) < _RESET_EVERY:
        return
    _reset_at[channel] = now
    try:
        pipe = redis_connection().pipeline(transaction=False)
        pipe.delete(*_channel_keys(channel))
        pipe.srem(CHANNELS_FAILING, channel)
        pipe.execute()
    except (OSError, redis.RedisError):
        return


def channels_status(channels: list[str] | None = None) -> dict[str, dict]:
    """Each channel that failed lately: its consecutive failures, since when (wall-clock
    seconds), the last error and whether it counts as degraded. Raises RedisError."""
    client = redis_connection()
    if channels is None:
        channels = sorted(name.decode() for name in client.smembers(CHANNELS_FAILING))
    if not channels:
        return {}
    pipe = client.pipeline(transaction=False)
    for channel in channels:
        failures, since, addresses, last_error = _channel_keys(channel)
        pipe.get(failures)
        pipe.get(since)
        pipe.scard(addresses)
        pipe.get(last_error)
    values = pipe.execute()
    threshold = settings.STEWARD_CHANNEL_DEGRADED_AFTER
    report = {}
    for i, channel in enumerate(channels):
        failures, since, addresses, error = values[i * 4 : i * 4 + 4]
        count = int(failures or 0)
        if not count:
            continue
        report[channel] = {
            "consecutive_failures": count,
            "failing_since": float(since) if since else None,
            "last_error": (error or b"").decode(errors="replace"),
            "degraded": count >= threshold and addresses >= CHANNEL_MIN_ADDRESSES,
        }
    return report


def degraded_channels() -> dict[str, dict]:
    """The degraded channels (see `channels_status`); empty when Redis cannot be read."""
    try:
        status = channels_status()
    except (OSError, redis.RedisError):
        return {}
    return {channel: info for channel, info in status.items() if info["degraded"]}


def _channels(*, now: float) -> dict:
    try:
        status = channels_status()
    except redis.RedisError as exc:
        return {"status": "unknown", "error": exc.__class__.__name__}
    detail = {
        channel: {
            "status": "degraded" if info["degraded"] else "ok",
            "consecutive_failures": info["consecutive_failures"],
            "failing_for_seconds": (
                round(max(0.0, now - info["failing_since"]), 1) if info["failing_since"] else None
            ),
            "last_error": info["last_error"][:200],
        }
        for channel, info in status.items()
    }
    degraded = any(info["degraded"] for info in status.values())
    return {"status": "degraded" if degraded else "ok", "failing": detail}


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


def _app_parts() -> dict:
    """Parts the apps report (settings.STEWARD_HEALTH_PARTS: name → dotted path of a function
    returning `{"status": ..., ...}`), loaded by name: this kit imports no app."""
    parts = {}
    for name, path in settings.STEWARD_HEALTH_PARTS.items():
        try:
            parts[name] = import_string(path)()
        except Exception as exc:  # a part that cannot answer is unknown, not a crashed /healthz
            parts[name] = {"status": "unknown", "error": str(exc)[:200]}
    return parts


def health_report(*, now: float | None = None, web_only: bool = False) -> tuple[bool, dict]:
    """Every part, or with `web_only` what a web process itself needs (web and database): a load
    balancer must not pull healthy web processes because beat stopped."""
    now = time.time() if now is None else now
    parts = {"web": {"status": "ok"}, "database": _database()}
    if not web_only:
        parts |= {
            "broker": _broker(),
            "sweeper": _sweeper(now=now),
            "channels": _channels(now=now),
        }
        parts |= _app_parts()
    statuses = {part["status"] for part in parts.values()}
    healthy = statuses <= {"ok", "unknown"}
    overall = (
        "ok" if healthy else ("degraded" if statuses <= {"ok", "unknown", "degraded"} else "down")
    )
    return healthy, {"status": overall, **parts}


def healthz(request: HttpRequest) -> JsonResponse:
    """For monitors: 200 when every part is up, 503 otherwise. `?scope=web` checks only what the
    web process needs, for load balancers and the container's own health check."""
    healthy, report = health_report(web_only=request.GET.get("scope") == "web")
    response = JsonResponse(report, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
