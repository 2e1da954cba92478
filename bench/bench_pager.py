"""Paging latency: from an outage opened (`incidents.services.outages.outage_open`, what the form
and the API call) to the LAST first-level page delivered at a local webhook sink, for an outage
on a root IT system of the synthetic registry at scale 0.5 (5,000 projects), with a real Celery
worker (one, two prefork processes, on Redis) already running.

One page per person per event: the first level of every touched project is paged, but someone
on the first level of several of them gets one message per contact channel listing them, so the
number of messages sent is the number of people paged (per channel), not of projects. The row
says both, and how many messages one per project would have been.

Baseline, in the same run, with the same worker settings: as many bare Celery tasks as there
were messages, each making the same signed-JSON-sized HTTP POST to the same sink (one pooled
`requests` session per process), timed from the first publish to the last request received.
The ratio is baseline time / paging time (1.0 would mean the pipeline costs nothing on top of
the sends). Fails loudly (raises) if a first page does not arrive within `DEADLINE` seconds or
arrives twice.

Then a smaller outage (a system touching 40-120 projects) to a slow receiver (each page answered
after SLOW_SECONDS), with a worker of docker-compose.yml's pages worker's 4 processes: its sends
spread over the processes (STEWARD_SEND_SPREAD) against the same outage in full batches from the
first (spread 1), alternating, SMALL_OUTAGE_ROUNDS runs each, the medians compared.

    python -m bench.run_all pager        # or: python -m bench.bench_pager
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from celery import shared_task

from bench import django_setup, row
from bench.bench_fanout import _sink, _stop

ROOT = Path(__file__).resolve().parent.parent
SCALE = 0.5
DEADLINE = 240.0
BODY = json.dumps({"event": "outage.page", "subject": "x" * 120, "body": "y" * 400})
# A slow receiver (a distant webhook, a mail relay): each page's request answered this late.
SLOW_SECONDS = 0.1
# A smaller outage, on the first system (from the layer below the datacenters up) whose impact
# is this many projects.
SMALL_OUTAGE_PROJECTS = (40, 120)
# The processes of docker-compose.yml's pages worker.
SMALL_OUTAGE_PROCESSES = 4
SMALL_OUTAGE_ROUNDS = 3

_session = None


@shared_task(name="bench.pager.post", ignore_result=True)
def bare_post(url: str, key: str) -> int:
    """The baseline's unit of work: one HTTP POST like a page's, nothing else."""
    global _session
    import requests

    if _session is None:
        _session = requests.Session()
    response = _session.post(
        url,
        data=BODY,
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        timeout=5,
    )
    return response.status_code


def _worker(log_path: Path, *, processes: int = 2, env: dict | None = None) -> subprocess.Popen:
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "steward.settings.test",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
        **(env or {}),
    }
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "steward", "worker"),
                *("-Q", "pages,default", "-P", "prefork", "-c", str(processes)),
                *("-I", "bench.bench_pager"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("--loglevel", "WARNING", "-n", f"pager{os.getpid()}@%h"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _arrived(sink, prefix: str) -> list:
    with sink.lock:
        return [r for r in sink.requests if r.path.startswith(prefix)]


def _wait_for(sink, prefix: str, count: int, what: str) -> list:
    deadline = time.monotonic() + DEADLINE
    while True:
        arrived = _arrived(sink, prefix)
        if len(arrived) >= count:
            return arrived
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what}: only {len(arrived)} of {count} arrived at the sink within {DEADLINE:.0f} s"
            )
        time.sleep(0.01)


def _warmed_up(sink) -> None:
    """Returns once a worker just started answers: its 8 warm-up posts arrived."""
    for i in range(8):
        bare_post.apply_async(args=[sink.url("/warm"), f"warm-{i}"], queue="pages")
    _wait_for(sink, "/warm", 8, "the worker's warm-up")


def _first_pages(sink, outage, what: str):
    """The requests of `outage`'s first pages once all arrived at the sink, and their rows;
    raises if a page came twice or one that is not the outage's came."""
    from notifications.models import Notification

    rows = Notification.objects.filter(event_id=outage.pk, kind="page")
    messages = rows.count()
    arrived = _wait_for(sink, "/page", messages, what)
    keys = {r.key for r in arrived}
    if len(arrived) != messages or keys != set(rows.values_list("idempotency_key", flat=True)):
        raise RuntimeError(
            f"{what}: {len(arrived)} requests, {len(keys)} distinct keys for {messages} messages"
        )
    return arrived, rows


def _small_outage_system(registry):
    """A system below the datacenters whose outage touches SMALL_OUTAGE_PROJECTS projects, and
    how many."""
    from registry.models import ITSystem
    from registry.selectors import impacted_projects_for

    low, high = SMALL_OUTAGE_PROJECTS
    for layer in registry.layer_system_ids[1:]:
        for system_id in layer:
            touched = len(impacted_projects_for([system_id]))
            if low <= touched <= high:
                return ITSystem.objects.get(pk=system_id), touched
    raise RuntimeError(f"no system of the synthetic registry touches {low}-{high} projects")


def _small_outage_paged(sink, broker, system, log_path: Path, *, spread: int) -> tuple[float, int]:
    """An outage on `system` opened with a worker of SMALL_OUTAGE_PROCESSES processes running
    at STEWARD_SEND_SPREAD `spread`, every page answered SLOW_SECONDS late: seconds to the last
    first page, and how many messages. The outage is resolved after, its notices discarded."""
    from django.db import transaction

    from incidents.services.outages import outage_open, outage_resolve

    sink.clear()
    broker.flushdb()
    outage = None
    worker = _worker(
        log_path,
        processes=SMALL_OUTAGE_PROCESSES,
        env={"STEWARD_SEND_SPREAD": str(spread)},
    )
    try:
        _warmed_up(sink)
        sink.plan("/page", [("sleep", SLOW_SECONDS)] * 10_000)
        started = time.monotonic()
        with transaction.atomic():
            outage = outage_open(actor=None, title=f"{system.name} down", systems=[system])
        arrived, _rows = _first_pages(sink, outage, "the smaller outage's pages")
        return max(r.at for r in arrived) - started, len(arrived)
    finally:
        _stop(worker)
        sink.plan("/page", [])
        if outage is not None:
            outage_resolve(actor=None, outage=outage)
        broker.flushdb()  # the owners' notices of the resolution: not measured


def run() -> list[dict]:
    django_setup()
    import redis
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.urls import get_resolver

    from bench import synthetic
    from incidents.models import Outage
    from incidents.services.outages import outage_open
    from notifications.services import SEND_BATCH
    from registry.models import ITSystem

    sink, server = _sink()
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()
    registry = synthetic.build(SCALE, webhook_url=sink.url("/page"))
    with connection.cursor() as cursor:  # one channel per person: every message is one POST
        cursor.execute("UPDATE registry_contactmethod SET for_pages = false WHERE kind = 'email'")
    root = ITSystem.objects.get(pk=registry.root_system_ids[0])
    log_dir = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))
    log_dir.mkdir(parents=True, exist_ok=True)
    # What a serving process has warm already (see bench_fanout).
    get_resolver().url_patterns  # noqa: B018
    ContentType.objects.get_for_model(Outage)

    worker = _worker(log_dir / "bench-pager-worker.log")
    try:
        _warmed_up(sink)

        # 1. Outage opened → the last first page delivered.
        started = time.monotonic()
        with transaction.atomic():
            outage = outage_open(actor=None, title="Datacenter down", systems=[root])
        committed = time.monotonic()
        arrived, rows = _first_pages(sink, outage, "the first pages")
        paging_seconds = max(r.at for r in arrived) - started
        messages = len(arrived)
        projects = outage.impacted.count()
        # One message per project a person is paged for: what the pipeline sent before.
        listed = [len(ids) for ids in rows.values_list("page_ids", flat=True)]
        pages_listed, largest = sum(listed), max(listed, default=0)

        # 2. Baseline: as many bare tasks making the same POST.
        started_bare = time.monotonic()
        for i in range(messages):
            bare_post.apply_async(args=[sink.url(f"/bare{i}"), f"bare-{i}"], queue="pages")
        bare = _wait_for(sink, "/bare", messages, "the baseline's posts")
        bare_seconds = max(r.at for r in bare) - started_bare
        _stop(worker)
        worker = None

        # 3. A smaller outage to a slow receiver: its sends spread over the processes, against
        # the same outage sent in full batches (no spreading), alternating, the median of each.
        small, small_projects = _small_outage_system(registry)
        timings: dict[int, list[float]] = {1: [], settings.STEWARD_SEND_SPREAD: []}
        for _round in range(SMALL_OUTAGE_ROUNDS):
            for spread, seconds in timings.items():
                taken, small_messages = _small_outage_paged(
                    sink, broker, small, log_dir / "bench-pager-small.log", spread=spread
                )
                seconds.append(taken)
    finally:
        if worker is not None:
            _stop(worker)
        server.shutdown()
        broker.flushdb()
    full, spread = (statistics.median(t) for t in timings.values())

    return [
        row(
            "pager: outage opened → last first page delivered",
            paging_seconds,
            "s",
            baseline=bare_seconds,
            ratio=bare_seconds / paging_seconds,
            note=f"{projects} projects, {messages} messages (one per person per channel; "
            f"{pages_listed} if one per project; largest lists {largest}); rows committed "
            f"after {committed - started:.2f} s; baseline: {messages} bare Celery tasks "
            f"making the same POST, 1 worker × 2 processes",
        ),
        row(
            "pager: a smaller outage, slow receiver",
            spread,
            "s",
            baseline=full,
            ratio=full / spread,
            note=f"outage opened → last first page delivered; {small.name}: "
            f"{small_projects} projects, {small_messages} messages, each answered after "
            f"{SLOW_SECONDS * 1000:.0f} ms; 1 worker × {SMALL_OUTAGE_PROCESSES} processes; sends "
            f"spread over {settings.STEWARD_SEND_SPREAD} messages or more (STEWARD_SEND_SPREAD); "
            f"baseline: batches of {SEND_BATCH} from the first (spread 1); medians of "
            f"{SMALL_OUTAGE_ROUNDS} alternating runs each",
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
