"""Per-key rate limits for the inbound endpoints: a fixed window counter per (endpoint, key).

In Redis (REDIS_URL) the count is shared by every web process: one INCR and one EXPIRE in a
MULTI. Without Redis it lives in Django's cache, which is per process with the default local
memory cache (the one-machine demo). A flood from one key fills only that key's window. If Redis
cannot be reached the request is let through: losing an alert is worse than a missed limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from steward.health import redis_connection

log = logging.getLogger(__name__)
PREFIX = "steward:ratelimit:"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    count: int
    retry_after: int


def _bucket(scope: str, key: str, window: int, now: float) -> tuple[str, int]:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    number = int(now // window)
    return f"{PREFIX}{scope}:{digest}:{number}", math.ceil((number + 1) * window - now)


def rate_limit_hit(*, scope: str, key: str, now: float | None = None) -> RateDecision:
    """Count one request for `key` and say whether it is within the limit
    (STEWARD_INBOUND_RATE_LIMIT requests per STEWARD_INBOUND_RATE_WINDOW_SECONDS)."""
    limit = settings.STEWARD_INBOUND_RATE_LIMIT
    window = settings.STEWARD_INBOUND_RATE_WINDOW_SECONDS
    if limit <= 0:
        return RateDecision(True, limit, 0, 0)
    now = time.time() if now is None else now
    bucket, retry_after = _bucket(scope, key, window, now)
    client = redis_connection()
    try:
        pipe = client.pipeline(transaction=True)
        pipe.incr(bucket)
        pipe.expire(bucket, window + 1)
        count = int(pipe.execute()[0])
    except (redis.RedisError, OSError) as exc:
        log.warning("rate limit store unreachable, letting the request through: %s", exc)
        return RateDecision(True, limit, 0, 0)
    return RateDecision(count <= limit, limit, count, max(1, retry_after))
