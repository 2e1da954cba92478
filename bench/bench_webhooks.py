"""Outgoing webhooks at scale: an outage on a root IT system of the synthetic registry at scale 0.5
(5,000 projects touched), opened through `incidents.services.outages.outage_open`.

1. What webhook endpoints add to the outage's transaction: the same outage opened without any
   endpoint (baseline) and with one endpoint on every touched project, in the same run.
2. How fast those deliveries (one signed POST each, with its document) reach a local HTTP sink
   through one Celery worker (as many processes as docker-compose.yml's pages worker), against a
   bare Celery task making the same number of signed POSTs of the documents' mean size to the
   same sink, with no bookkeeping, on the same Redis and worker settings, measured the same way
   (bench_fanout's `bare_post_rate`: the same unit of work). The run fails when the sink
   received fewer deliveries than were written.

People's own contact methods are removed first, so both outages write the same pages and the
worker sends only the endpoint deliveries.

    REDIS_URL=redis://127.0.0.1:6379/3 python -m bench.bench_webhooks
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import django_setup, row
from bench.bench_fanout import CONCURRENCY, _sink, bare_post_rate, delivery_rate

ROOT = Path(__file__).resolve().parent.parent
SCALE = 0.5


def _open(root, title: str):
    from django.db import transaction

    from incidents.services.outages import outage_open

    committed = {}
    started = time.perf_counter()
    with transaction.atomic():
        transaction.on_commit(lambda: committed.setdefault("at", time.perf_counter()))
        outage = outage_open(actor=None, title=title, systems=[root])
    return outage, committed["at"] - started


def run() -> list[dict]:
    django_setup()
    import redis
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.urls import get_resolver

    from bench import synthetic
    from incidents.models import Outage
    from notifications.models import Notification
    from registry.models import ITSystem
    from webhooks.models import WebhookEndpoint

    sink, server = _sink()
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()
    registry = synthetic.build(SCALE, webhook_url=sink.url("/people"))
    root = ITSystem.objects.get(pk=registry.root_system_ids[0])
    log_dir = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))
    get_resolver().url_patterns  # noqa: B018 — warm the URLconf, as a serving process has it
    ContentType.objects.get_for_model(Outage)

    # Only endpoint deliveries: nobody has a contact method or an account email, so both outages
    # write the same pages and no other rows, and the worker sends only what endpoints get.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_contactmethod")
        cursor.execute("UPDATE registry_person SET email = ''")

    # 1. Without endpoints, then with one on every touched project.
    _, without_seconds = _open(root, "Datacenter down (no webhooks)")
    touched = list(
        Outage.objects.get(title="Datacenter down (no webhooks)").impacted.values_list(
            "project_id", flat=True
        )
    )
    WebhookEndpoint.objects.bulk_create(
        [WebhookEndpoint(project_id=pk, url=sink.url(f"/hook/{pk}")) for pk in touched],
        batch_size=2000,
    )
    Notification.objects.all().delete()
    broker.flushdb()
    outage, with_seconds = _open(root, "Datacenter down (webhooks)")
    total = Notification.objects.filter(event_id=outage.pk, webhook_endpoint__isnull=False).count()

    # 2. Delivery of the endpoint deliveries by one worker.
    sink.clear()
    deliveries = Notification.objects.filter(event_id=outage.pk, webhook_endpoint__isnull=False)
    # Timed as the baseline is, at the sink (see bench_fanout's `steward_rate`); every delivery
    # recorded as sent is waited for after the clock stops, and checked.
    rate = delivery_rate(
        sink,
        log_dir / "bench-webhooks-worker.log",
        total=total,
        arrivals=lambda: sink.arrivals(distinct=True),  # its Idempotency-Key: the webhook-id
        settled=lambda: deliveries.filter(state="sent").count() == total,
    )
    requests = list(sink.requests)
    ids = {r.headers.get("webhook-id") for r in requests}
    signed = sum(1 for r in requests if r.headers.get("webhook-signature", "").startswith("v1,"))
    if len(ids) != total:
        raise AssertionError(
            f"the sink received {len(ids)} of {total} deliveries; the delivery rate means nothing"
        )
    recorded = deliveries.filter(state="sent").count()
    if recorded != total:
        raise AssertionError(
            f"the sink received every delivery but only {recorded} of {total} were recorded as "
            "sent; the delivery rate means nothing"
        )
    body_sizes = [len(r.body) for r in requests]

    # 3. The same POSTs from a bare task, the same way.
    try:
        baseline = bare_post_rate(
            sink,
            broker,
            log_dir / "bench-webhooks-bare-post-worker.log",
            body_sizes=body_sizes,
        )
    finally:
        server.shutdown()
        broker.flushdb()

    return [
        row(
            "webhooks: outage opened with an endpoint per project",
            with_seconds,
            "s",
            baseline=without_seconds,
            ratio=without_seconds / with_seconds,
            note=f"{len(touched)} projects, {total} endpoint deliveries written in the outage's "
            "transaction; baseline: the same outage with no endpoints",
        ),
        row(
            "webhooks: delivery to a local sink",
            rate,
            "msg/s",
            baseline=baseline,
            ratio=rate / baseline,
            note=f"1 worker × {CONCURRENCY} processes; baseline: a bare task making the same number of "
            f"signed POSTs of the same sizes (mean {sum(body_sizes) / len(body_sizes):,.0f} bytes), no bookkeeping; {len(ids)} distinct webhook-ids, "
            f"{len(requests)} requests, {signed} signed",
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
