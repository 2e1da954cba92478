"""Fan-out: an outage on a root IT system of the synthetic registry at scale 0.5 (5,000 projects),
opened through `incidents.services.outages.outage_open` exactly as the form and the API do.

Prints: the time until every notification row exists (the transaction that writes the outage, its
impact snapshot, the pages and their notifications commits), then the delivery rate of those
pages, with those of outages on the other datacenters (up to BENCH_FANOUT_OUTAGES outages in
all), to a local webhook sink (a threaded http.server in this process) by one Celery worker on
Redis with as many prefork processes as docker-compose.yml's pages worker runs
(BENCH_FANOUT_CONCURRENCY to choose), beside the rate of a bare Celery task that makes the same
HTTP requests (same sink, same body size, signed, one Idempotency-Key each, the same number to a
message, the same worker) with none of the bookkeeping (no claim, no record): the same unit of
work, so the ratio is what delivery's guarantees cost; the target is at least 0.7×.

Both rates are measured the same way: messages are published while no worker runs, a worker
starts, and the rate is over the time between the arrival of the first tenth of the requests
the sink expects and the last, as the sink recorded them (a worker's first tasks warm it up).
The run fails (an exception, so `make bench` exits non-zero) when the sink received fewer
requests than expected.

On a two-core machine one busy moment moves a round by a third; so the two are run ROUNDS times,
alternating (Steward, bare, Steward, bare, ...), Steward's later rounds re-sending the same rows
(put back to pending, vacuumed, published as the fan-out publishes them), and the ratio is of the
two medians, each round's ratio printed beside it.

Pages only go to the webhook (the synthetic people's email methods are switched off for pages),
so every delivery is one HTTP POST, signed, with its Idempotency-Key.

    REDIS_URL=redis://127.0.0.1:6379/3 python -m bench.bench_fanout
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench import django_setup, row

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_FANOUT_SCALE", "0.5"))
TARGET_ROWS_SECONDS = 2.0
TARGET_DELIVERY_RATIO = 0.7
# Seven: a single round's ratio ranges over a third of it on a two-core machine (0.63 to 0.86
# in one run), and the README's figures are medians of seven.
ROUNDS = int(os.environ.get("BENCH_FANOUT_ROUNDS", "7"))


def _pages_worker_concurrency() -> int:
    """The processes of docker-compose.yml's pages worker (`-c`): delivery waits on receivers,
    so a worker runs more processes than the machine has cores."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker-pages"][
        "command"
    ]
    return int(command[command.index("-c") + 1])


# Both rates are measured with the worker as it is deployed, unless told otherwise.
CONCURRENCY = int(os.environ.get("BENCH_FANOUT_CONCURRENCY") or _pages_worker_concurrency())
# Outages whose pages are delivered in each round (each on another datacenter, each paging
# about as many people): one lasted ~0.4 s at the baseline's rate, too short to time steadily.
OUTAGES = int(os.environ.get("BENCH_FANOUT_OUTAGES", "3"))
# A delivery that makes no progress for this long has lost something: stop waiting.
STALL_SECONDS = 60.0


def _sink():
    from tests.e2e_support import HttpSink, _handler

    sink = HttpSink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    server.request_queue_size = 256
    sink.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return sink, server


def _worker(log_path: Path) -> tuple[subprocess.Popen, float]:
    """Start a worker (2 prefork processes); return it and the moment it said it was ready."""
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "steward.settings.test",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
    }
    log = open(log_path, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "steward",
            "worker",
            "-Q",
            "pages,default",
            "-P",
            "prefork",
            "-c",
            str(CONCURRENCY),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
            "-n",
            f"bench{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # At WARNING the banner is silent; "ready" is when the consumer connected: poll the queue.
    log.close()
    return process, time.perf_counter()


def _stop(process: subprocess.Popen) -> None:
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def steady_rate(times: list[float]) -> float:
    """Messages a second from the arrival of the tenth part of them to the last: a worker's
    first tasks (their connections, statements prepared, the collection `steward.memory` makes
    after each process's first task) are not the rate it keeps."""
    times = sorted(times)
    start = len(times) // 10
    if len(times) - start < 2:
        return 0.0
    return (len(times) - 1 - start) / (times[-1] - times[start])


def busy_seconds() -> float:
    """The machine's CPU time spent busy so far, all processes and cores together (`/proc/stat`:
    user, nice, system, irq and softirq; not idle, iowait or what the hypervisor took)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _process_group(pid: int, parent: int, cmdline: str) -> str:
    """What a process is, for `cpu_by_process`."""
    if pid == os.getpid():
        return "this process (the sink)"
    if "celery" in cmdline:
        # The main process takes the messages from Redis; its pool processes run the tasks.
        return "Celery main process" if parent == os.getpid() else "Celery pool processes"
    if "redis-server" in cmdline:
        return "Redis"
    if cmdline.startswith("postgres:"):
        for part in ("walwriter", "autovacuum", "checkpointer", "background writer", "stats"):
            if part in cmdline:
                return f"PostgreSQL {part}"
        return "PostgreSQL backends"
    return "other"


def cpu_by_process() -> Counter:
    """CPU seconds so far of every process running, by what it is (`_process_group`), from
    `/proc/<pid>/stat` (user and system, all its threads). A process that exited is missing."""
    groups: Counter = Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as command:
                cmdline = command.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        kind = _process_group(int(entry.name), int(fields[1]), cmdline)
        groups[kind] += (int(fields[11]) + int(fields[12])) / tick
    return groups


def delivery_rate(
    sink,
    log_path: Path,
    *,
    total: int,
    arrivals: Callable[[], list[float]],
    settled: Callable[[], bool] | None = None,
    cpu: list[float] | None = None,
    by_process: list[Counter] | None = None,
) -> float:
    """Start a worker on what is queued; once `arrivals()` (when each request that counts
    reached the sink, by the sink's clock) holds `total` times, messages per second between
    the first tenth and the last of them (`steady_rate`). Then, untimed, wait for `settled()`
    (if given) before the worker is stopped. Timed by the sink's own record rather than by this
    loop's polling, which every tenth of a second moved a round of ~1 s by up to a tenth.

    Given `cpu`, appends the machine's busy CPU time a message (µs) over the same stretch, as
    this loop's polling saw it: every process's (worker, PostgreSQL, Redis, the sink), which a
    neighbour taking the machine's cores for a moment moves far less than it moves the rate.
    Given `by_process`, appends the same stretch's CPU a message (µs) of each kind of process
    (`cpu_by_process`): where the time went."""
    worker, _ = _worker(log_path)
    try:
        waiting_since = time.perf_counter()
        while not sink.requests:
            if time.perf_counter() - waiting_since > STALL_SECONDS:
                return 0.0  # nothing arrived: the caller fails loudly
            time.sleep(0.01)
        done, progress_at = 0, time.perf_counter()
        first: tuple[int, float] | None = None  # (arrived, busy) once a tenth had arrived
        last = (0, 0.0)
        processes: list[Counter] = []  # at the first tenth and the last arrival
        while done < total:
            time.sleep(0.1)
            now_done, busy = len(arrivals()), busy_seconds()
            if first is None and now_done >= total // 10:
                first = (now_done, busy)
                if by_process is not None:
                    processes.append(cpu_by_process())
            last = (now_done, busy)
            if by_process is not None and first is not None and now_done >= total:
                processes.append(cpu_by_process())
            if now_done > done:
                done, progress_at = now_done, time.perf_counter()
            elif time.perf_counter() - progress_at > STALL_SECONDS:
                break  # the caller finds what is missing and fails loudly
        rate = steady_rate(arrivals())
        if cpu is not None and first is not None and last[0] > first[0]:
            cpu.append((last[1] - first[1]) / (last[0] - first[0]) * 1e6)
        if by_process is not None and len(processes) == 2 and last[0] > first[0]:
            start, end = processes
            by_process.append(
                Counter({k: (end[k] - start[k]) / (last[0] - first[0]) * 1e6 for k in end})
            )
        waiting_since = time.perf_counter()
        while settled is not None and not settled():
            if time.perf_counter() - waiting_since > STALL_SECONDS:
                break  # the caller finds what is missing and fails loudly
            time.sleep(0.1)
        return rate
    finally:
        _stop(worker)


def bare_post_rate(
    sink,
    broker,
    log_path: Path,
    *,
    body_sizes: list[int],
    cpu: list[float] | None = None,
    by_process: list[Counter] | None = None,
) -> float:
    """The baseline: one bare HTTP POST to the same sink for each of `body_sizes` (the sizes of
    the bodies Steward sent, as the sink received them), in Celery messages of the sizes the
    sends travel in (`send_batches`), published with no worker running, then done by a worker
    with the same settings, timed as the sends are (`delivery_rate`)."""
    from notifications.services.enqueue import send_batches
    from notifications.tasks import bare_post

    broker.flushdb()
    sink.clear()
    total = len(body_sizes)
    keys = [f"bare-{i}" for i in range(total)]
    for batch in send_batches(range(total)):
        start, end = batch[0], batch[-1] + 1
        bare_post.apply_async(
            args=[sink.url("/bench"), keys[start:end], body_sizes[start:end]], queue="pages"
        )
    rate = delivery_rate(
        sink, log_path, total=total, arrivals=sink.arrivals, cpu=cpu, by_process=by_process
    )
    received = sink.keys()
    if set(received) != set(keys):
        raise AssertionError(
            f"baseline: the sink received {len(received)} of {total} keys; the rate means nothing"
        )
    return rate


def run() -> list[dict]:
    django_setup()
    import redis
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from bench import synthetic
    from incidents.services.outages import outage_open
    from notifications.models import Notification
    from notifications.services import SEND_BATCH
    from registry.models import ITSystem

    sink, server = _sink()
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()
    registry = synthetic.build(SCALE, webhook_url=sink.url("/bench"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_contactmethod SET for_pages = false WHERE kind = 'email'")
    root = ITSystem.objects.get(pk=registry.root_system_ids[0])
    log_dir = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))

    # A serving process (web or worker) has its URLconf loaded and its content types cached; the
    # first reverse() of a fresh process imports every view (~0.3 s), which is not fan-out work.
    from django.contrib.contenttypes.models import ContentType
    from django.urls import get_resolver

    from incidents.models import Outage

    get_resolver().url_patterns  # noqa: B018 — the import is the point
    ContentType.objects.get_for_model(Outage)

    # 1. Every row, in the outage's transaction.
    committed = {}
    started = time.perf_counter()
    with transaction.atomic():
        transaction.on_commit(lambda: committed.setdefault("at", time.perf_counter()))
        outage = outage_open(actor=None, title="Datacenter down", systems=[root])
    published = time.perf_counter()
    rows_seconds = committed["at"] - started
    publish_seconds = published - committed["at"]
    first_pages = Notification.objects.filter(event_id=outage.pk, kind="page").count()
    projects = outage.impacted.count()
    # More of the same for the rate: the other datacenters go down too (each as many pages
    # again), so that a round lasts long enough to be timed.
    others = [
        outage_open(actor=None, title=f"Datacenter {number} down", systems=[system])
        for number, system in enumerate(
            ITSystem.objects.filter(pk__in=registry.root_system_ids[1:OUTAGES]), start=2
        )
    ]
    outage_ids = [outage.pk, *(o.pk for o in others)]

    # 2. Delivery by a worker with two processes.
    pages = Notification.objects.filter(event_id__in=outage_ids, kind="page")
    expected = set(pages.values_list("idempotency_key", flat=True))
    total = len(expected)

    def steward_rate() -> float:
        # Timed as the baseline is: by when each page's first request reached the sink.
        # (Counting `sent` rows in PostgreSQL ten times a second, as this did, cost the database
        # during Steward's rounds only.) That every send was also recorded is waited for after
        # the last page arrived, before the worker is stopped, and checked.
        rate = delivery_rate(
            sink,
            log_dir / "bench-fanout-worker.log",
            total=total,
            arrivals=lambda: sink.arrivals(expected),
            settled=lambda: pages.filter(state="sent").count() == total,
            cpu=steward_cpu,
            by_process=steward_by_process,
        )
        keys = sink.keys()
        if set(keys) != expected:
            raise AssertionError(
                f"the sink received {len(set(keys) & expected)} of {len(expected)} pages; "
                "the delivery rate means nothing"
            )
        recorded = pages.filter(state="sent").count()
        if recorded != total:
            raise AssertionError(
                f"the sink received every page but only {recorded} of {total} were recorded as "
                "sent; the delivery rate means nothing"
            )
        return rate

    steward_cpu: list[float] = []
    bare_cpu: list[float] = []
    steward_by_process: list[Counter] = []
    bare_by_process: list[Counter] = []
    rates = [steward_rate()]
    keys = sink.keys()
    # What the baseline sends: a body of the size of each one Steward sent (a page lists each
    # of the person's touched projects: 0.6 to 8 kB).
    body_sizes = [len(r.body) for r in sink.requests]

    # 2b. The escalation policy asked for every touched project: in one batch (what
    # pages_open_many does) and project by project (what it did before), same projects, same time.
    from incidents.events import outage_event
    from notifications.services import (
        escalation_for_many,
        escalation_levels_for,
        escalation_repeats_for,
    )

    project_list = [i.project for i in outage.impacted.select_related("project")]
    at = timezone.now()
    fresh = outage_event(Outage.objects.get(pk=outage.pk))
    started = time.perf_counter()
    batched = escalation_for_many(project_list, fresh, at)
    batch_seconds = time.perf_counter() - started
    fresh = outage_event(Outage.objects.get(pk=outage.pk))
    started = time.perf_counter()
    single = {
        p.pk: (escalation_levels_for(p, fresh, at), escalation_repeats_for(p)) for p in project_list
    }
    policy_seconds = time.perf_counter() - started
    same = all(
        [[q.pk for q in people] for people, _ in batched[pk][0]]
        == [[q.pk for q in people] for people, _ in levels]
        and batched[pk][1] == repeats
        for pk, (levels, repeats) in single.items()
    )

    # 3. The same HTTP requests from a bare Celery task, same Redis, same worker settings, in
    # rounds alternating with Steward sending the same pages again.
    from notifications.models import DeliveryAttempt, Due
    from notifications.services.enqueue import _publish

    baselines = []
    try:
        for round_ in range(ROUNDS):
            baselines.append(
                bare_post_rate(
                    sink,
                    broker,
                    log_dir / "bench-bare-post-worker.log",
                    body_sizes=body_sizes,
                    cpu=bare_cpu,
                    by_process=bare_by_process,
                )
            )
            if round_ == ROUNDS - 1:
                break
            broker.flushdb()
            sink.clear()
            DeliveryAttempt.objects.filter(notification__in=pages).delete()
            pages.update(
                state="pending",
                attempts=0,
                sent_at=None,
                sent_latency_ms=None,
                sent_status_code=None,
                next_attempt_at=None,
            )
            # Putting them back left a dead version of each row and its index entries, which a
            # fan-out's fresh rows do not have (and which autovacuum could start cleaning up
            # during the round): cleaned up first, as after the outage that wrote them.
            with connection.cursor() as cursor:
                for model in (Notification, DeliveryAttempt, Due):
                    cursor.execute(f"VACUUM {model._meta.db_table}")
            _publish(list(pages.order_by("pk").values_list("pk", flat=True)), urgent=True)
            rates.append(steward_rate())
    finally:
        server.shutdown()
        broker.flushdb()
    rate, baseline = statistics.median(rates), statistics.median(baselines)
    cpu = statistics.median(steward_cpu) if steward_cpu else 0.0
    bare = statistics.median(bare_cpu) if bare_cpu else 0.0
    rounds = ", ".join(f"{r / b:.2f}" for r, b in zip(rates, baselines, strict=True))
    # Where each one's CPU went: each kind of process's median a message, Steward's / bare's.
    kinds = {k for c in steward_by_process + bare_by_process for k in c}

    def medians(rounds: list[Counter]) -> dict[str, float]:
        return {k: statistics.median(c[k] for c in rounds) if rounds else 0.0 for k in kinds}

    steward_kinds, bare_kinds = medians(steward_by_process), medians(bare_by_process)
    by_kind = "; ".join(
        f"{kind} {steward_kinds[kind]:,.0f}/{bare_kinds[kind]:,.0f}"
        for kind in sorted(kinds, key=lambda k: -steward_kinds[k])
    )

    verdict = "meets" if rows_seconds < TARGET_ROWS_SECONDS else "MISSES"
    return [
        row("fan-out: projects touched", projects, "projects", note=f"outage on {root.name}"),
        row(
            "fan-out: notification rows written",
            rows_seconds,
            "s",
            note=f"{first_pages} page rows + {projects} pages, one transaction; {verdict} the "
            f"{TARGET_ROWS_SECONDS:.0f} s target; then {publish_seconds:.2f} s to publish "
            f"the fan-out after commit",
        ),
        row(
            "fan-out: escalation levels, batched",
            batch_seconds,
            "s",
            baseline=policy_seconds,
            ratio=policy_seconds / batch_seconds,
            note=f"{projects} projects in a fixed number of queries; baseline: asked project by "
            f"project; {'same' if same else 'DIFFERENT'} answers",
        ),
        row(
            "fan-out: delivery to a webhook sink",
            rate,
            "msg/s",
            baseline=baseline,
            ratio=rate / baseline,
            note=f"the pages of {len(outage_ids)} such outages, {total} messages a round; "
            f"medians of {len(rates)} alternating rounds (each round's ratio: {rounds}); "
            f"1 worker × {CONCURRENCY} processes (docker-compose.yml's pages worker), "
            f"up to {SEND_BATCH} sends a message; baseline: a bare task "
            f"making the same signed POSTs through steward.net (bodies of the sizes sent: "
            f"mean {statistics.mean(body_sizes):,.0f} bytes), no bookkeeping; "
            f"{'meets' if rate / baseline >= TARGET_DELIVERY_RATIO else 'MISSES'} the "
            f"{TARGET_DELIVERY_RATIO}× target; first round: {len(keys)} distinct "
            f"Idempotency-Keys, {sum(keys.values())} requests",
        ),
        row(
            "fan-out: machine's busy CPU a message",
            cpu,
            "µs",
            baseline=bare,
            ratio=bare / cpu if cpu else None,
            note=f"the same rounds, every process (worker, PostgreSQL, Redis, the sink), "
            f"/proc/stat between the first tenth and the last arrival; medians (each round: "
            f"{', '.join(f'{s:,.0f}/{b:,.0f}' for s, b in zip(steward_cpu, bare_cpu, strict=True))}"
            "); "
            "steadier than the rate when neighbours take the cores: the rate's ratio where "
            "the CPU is the limit",
        ),
        row(
            "fan-out: CPU a message by process",
            cpu,
            "µs",
            note=f"Steward's / the bare task's, medians over the same stretches (/proc/<pid>/stat"
            f"; a process that exited meanwhile is missing): {by_kind}",
        ),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
