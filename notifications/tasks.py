"""Thin Celery tasks: take ids, call one service, safe to run twice (the service claims the row
with a conditional UPDATE). Queued only after commit, by the services.

Pages and everything else have tasks of their own names so that settings.CELERY_TASK_ROUTES
sends pages to the "pages" queue and the rest to "default" (a flood of notices never delays a page).
"""

import json

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from steward import net
from steward.health import task_ran_record

from . import services
from .channels import USER_AGENT, signature
from .services import enqueue


@shared_task(name="notifications.send", ignore_result=True)
def send(notification_id: int) -> str:
    return services.notification_send(notification_id=notification_id)


@shared_task(name="notifications.send_page", ignore_result=True)
def send_page(notification_id: int) -> str:
    return services.notification_send(notification_id=notification_id)


@shared_task(name="notifications.send_many", ignore_result=True)
def send_many(notification_ids: list[int]) -> dict:
    """Several sends with one claim (see `services.notifications_send`)."""
    return services.notifications_send(notification_ids=notification_ids)


@shared_task(name="notifications.send_pages", ignore_result=True)
def send_pages(notification_ids: list[int]) -> dict:
    return services.notifications_send(notification_ids=notification_ids)


@shared_task(name="notifications.fan_out", ignore_result=True)
def fan_out(notification_ids: list[int]) -> int:
    """Publish one send per id (a big fan-out leaves the request as a few of these instead of
    thousands of messages). Running it twice publishes twice: harmless, the claim decides."""
    enqueue._publish(notification_ids, urgent=False)
    return len(notification_ids)


@shared_task(name="notifications.fan_out_pages", ignore_result=True)
def fan_out_pages(notification_ids: list[int]) -> int:
    enqueue._publish(notification_ids, urgent=True)
    return len(notification_ids)


@shared_task(name="notifications.sweep", ignore_result=True)
def sweep() -> dict:
    result = services.sweep(now=timezone.now())
    task_ran_record("notifications.sweep")  # for /healthz and /metrics
    return {
        "enqueued": result.enqueued,
        "escalated": result.escalated,
        "digests": result.digests,
        "recorded": result.recorded,
        "alerts": result.alerts,
    }


@shared_task(name="notifications.bare_post", ignore_result=True)
def bare_post(url: str, keys: list[str], body_sizes: list[int]) -> int:
    """The baseline of bench/bench_fanout.py: the HTTP requests of one batch of webhook sends
    (for each key a signed JSON POST of its body size, with its Idempotency-Key, through
    `steward.net` as the channel sends them) and nothing else: no claim, no record, no retry.
    Returns how many were answered 2xx."""
    answered = 0
    for key, body_size in zip(keys, body_sizes, strict=True):
        body = json.dumps({"idempotency_key": key, "pad": ""}).encode()
        body = body[:-2] + b"x" * max(0, body_size - len(body)) + b'"}'
        answer = net.post(
            url,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Idempotency-Key": key,
                "X-Steward-Signature": signature(body),
            },
            connect_timeout=settings.STEWARD_WEBHOOK_CONNECT_TIMEOUT,
            read_timeout=settings.STEWARD_WEBHOOK_READ_TIMEOUT,
        )
        answered += 200 <= answer.status < 300
    return answered


@shared_task(name="notifications.noop", ignore_result=True)
def noop() -> None:
    """Does nothing: the baseline of bench/bench_fanout.py (what bare Celery reaches here)."""
