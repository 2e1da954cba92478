"""Prometheus metrics for `/metrics`, written with `prometheus_client`.

Why the library and not hand-written text: it gets the exposition format's escaping, histogram
`_bucket`/`_sum`/`_count` series and `# TYPE` lines right, and it has a multi-process mode.

- Request counts are in-process counters fed by `RequestMetricsMiddleware`, and so are the kept
  fragments' (`steward.fragments.FRAGMENTS`: kept, waited for, rendered). Under gunicorn with
  several workers each worker counts only its own requests, and a scrape reaches one worker at
  random. Set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped at start) for every web process
  and the counters are shared through files there (prometheus_client's multi-process mode).
- Everything else is read from PostgreSQL (and Redis) at scrape time by `DatabaseCollector`, so
  it is the same whichever process answers: notifications by state and channel, delivery
  latency (a histogram of every attempt, those that failed and those that went through), the
  queue of due notifications, the broker's queue lengths, the oldest page still waiting to go
  out, inbound events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from notifications.models import Channel, DeliveryAttempt, Notification, Page
from steward.fragments import FRAGMENTS
from steward.health import SWEEPER_TASK, channels_status, redis_connection, task_ran_at

from .models import Heartbeat, InboundEvent

# No `_created` series: they double the output and no dashboard here reads them.
disable_created_metrics()

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
HTTP_REQUESTS = Counter(
    "steward_http_requests",
    "HTTP requests answered by this web process (or all of them in multi-process mode), by "
    "method and status code.",
    ["method", "status"],
    registry=None,
)
# Upper bounds of the delivery latency histogram, in seconds.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# kombu's Redis transport keeps a priority queue's messages in lists with these suffixes.
REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def request_observe(method: str, status: int) -> None:
    HTTP_REQUESTS.labels(method if method in METHODS else "other", str(status)).inc()


def broker_queues() -> list[str]:
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.add(route["queue"])
    return sorted(queues)


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue (Redis list lengths). Empty when Redis cannot be
    read."""
    queues = broker_queues()
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for queue in queues:
            for suffix in REDIS_PRIORITY_SUFFIXES:
                pipe.llen(f"{queue}{suffix}")
        counts = pipe.execute()
    except redis.RedisError:
        return {}
    step = len(REDIS_PRIORITY_SUFFIXES)
    return {q: sum(counts[i * step : (i + 1) * step]) for i, q in enumerate(queues)}


class DatabaseCollector:
    """Reads the pipeline's state at scrape time: a fixed handful of queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from self._notifications()
        yield from self._queue(now)
        yield self._latency()
        yield from self._broker()
        yield from self._inbound()
        yield from self._sweeper()
        yield from self._channels()

    def _notifications(self) -> Iterator[Metric]:
        counts = {
            (row["state"], row["channel"]): row["n"]
            for row in Notification.objects.order_by()
            .values("state", "channel")
            .annotate(n=Count("pk"))
        }
        family = GaugeMetricFamily(
            "steward_notifications",
            "Notification rows by state and channel.",
            labels=["state", "channel"],
        )
        for state in Notification.State.values:
            for channel in Channel.values:
                family.add_metric([state, channel], counts.get((state, channel), 0))
        yield family

    def _queue(self, now) -> Iterator[Metric]:
        due = Q(state=Notification.State.PENDING, deliver_after__lte=now)
        # Every count is of rows still on their way out: the queue (`Due`), not the table.
        waiting = (
            Notification.objects.filter(due__isnull=False)
            .order_by()
            .aggregate(
                pending_pages=Count("pk", filter=due & Q(kind=Notification.Kind.PAGE)),
                pending_other=Count("pk", filter=due & ~Q(kind=Notification.Kind.PAGE)),
                held=Count("pk", filter=Q(state=Notification.State.HELD)),
                oldest_page=Min(
                    "created_at",
                    filter=Q(
                        kind=Notification.Kind.PAGE,
                        state__in=[Notification.State.PENDING, Notification.State.SENDING],
                        deliver_after__lte=now,
                    ),
                ),
            )
        )
        depth = GaugeMetricFamily(
            "steward_notification_queue_depth",
            "Notifications due and not yet sent (pending), by urgency.",
            labels=["urgency"],
        )
        depth.add_metric(["page"], waiting["pending_pages"])
        depth.add_metric(["notice"], waiting["pending_other"])
        yield depth
        yield GaugeMetricFamily(
            "steward_notifications_held",
            "Notices held for the recipient's working hours.",
            value=waiting["held"],
        )
        oldest = waiting["oldest_page"]
        yield GaugeMetricFamily(
            "steward_oldest_pending_page_seconds",
            "Age of the oldest page notification that is due and not yet sent (0 when none).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        open_since = Page.objects.filter(state=Page.State.OPEN).aggregate(at=Min("opened_at"))["at"]
        yield GaugeMetricFamily(
            "steward_oldest_unacknowledged_page_seconds",
            "Age of the oldest page nobody has acknowledged yet (0 when none).",
            value=(now - open_since).total_seconds() if open_since else 0.0,
        )

    def _latency(self) -> Metric:
        """Every attempt's: those that failed (DeliveryAttempt rows) and those that went through
        (kept on their notification's row, `sent_latency_ms`)."""
        bounds = [(f"le_{i}", int(b * 1000)) for i, b in enumerate(LATENCY_BUCKETS)]

        def histogram(rows, channel: str, latency: str) -> dict[str, list[int]]:
            counted = (
                rows.order_by()
                .values(channel)
                .annotate(
                    total=Count("pk"),
                    total_ms=Sum(latency),
                    **{
                        name: Count("pk", filter=Q(**{f"{latency}__lte": ms}))
                        for name, ms in bounds
                    },
                )
            )
            return {
                row[channel]: [row["total_ms"] or 0, row["total"], *(row[n] for n, _ in bounds)]
                for row in counted
            }

        failed = histogram(DeliveryAttempt.objects.all(), "notification__channel", "latency_ms")
        went = histogram(
            Notification.objects.filter(sent_latency_ms__isnull=False), "channel", "sent_latency_ms"
        )
        family = HistogramMetricFamily(
            "steward_delivery_latency_seconds",
            "Time one delivery attempt took, by channel.",
            labels=["channel"],
        )
        zero = [0] * (len(bounds) + 2)  # a channel with no attempt of that kind
        for channel in sorted(failed.keys() | went.keys()):
            total_ms, total, *counts = (
                a + b
                for a, b in zip(failed.get(channel, zero), went.get(channel, zero), strict=True)
            )
            buckets = [(str(b), count) for b, count in zip(LATENCY_BUCKETS, counts, strict=True)]
            buckets.append(("+Inf", total))
            family.add_metric([channel], buckets, sum_value=total_ms / 1000)
        return family

    def _broker(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "steward_broker_queue_length",
            "Messages waiting in each Celery queue of the broker.",
            labels=["queue"],
        )
        for queue, length in broker_queue_lengths().items():
            family.add_metric([queue], length)
        yield family

    def _inbound(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "steward_inbound_events",
            "Inbound events accepted (stored), by source and outcome.",
            labels=["source", "outcome"],
        )
        for row in (
            InboundEvent.objects.order_by().values("source", "outcome").annotate(n=Count("pk"))
        ):
            family.add_metric([row["source"], row["outcome"]], row["n"])
        yield family
        beats = Heartbeat.objects.aggregate(
            total=Count("pk"), down=Count("pk", filter=Q(down_since__isnull=False))
        )
        yield GaugeMetricFamily("steward_heartbeats", "Heartbeats expected.", value=beats["total"])
        yield GaugeMetricFamily(
            "steward_heartbeats_down",
            "Heartbeats overdue (an outage is open).",
            value=beats["down"],
        )

    def _sweeper(self) -> Iterator[Metric]:
        try:
            ran_at = task_ran_at(SWEEPER_TASK)
        except redis.RedisError:
            ran_at = None
        if ran_at is not None:
            yield GaugeMetricFamily(
                "steward_sweeper_last_run_age_seconds",
                "Seconds since the notifications sweeper last ran.",
                value=max(0.0, time.time() - ran_at),
            )

    def _channels(self) -> Iterator[Metric]:
        """Each delivery channel's run of failures (from Redis, where the workers count it)."""
        try:
            status = channels_status(list(Channel.values))
        except redis.RedisError:
            return
        failures = GaugeMetricFamily(
            "steward_channel_consecutive_failures",
            "Deliveries in a row that failed on each channel (0 once one goes through).",
            labels=["channel"],
        )
        degraded = GaugeMetricFamily(
            "steward_channel_degraded",
            "1 while a channel keeps failing (IT staff see a banner and get a notice), else 0.",
            labels=["channel"],
        )
        for channel in Channel.values:
            info = status.get(channel, {})
            failures.add_metric([channel], info.get("consecutive_failures", 0))
            degraded.add_metric([channel], 1 if info.get("degraded") else 0)
        yield failures
        yield degraded


def metrics_text() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Only under gunicorn's several processes; the module reads its folder when imported.
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(FRAGMENTS)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
