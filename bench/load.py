"""Load: gunicorn with the production settings on PostgreSQL holding the synthetic registry (10,000
projects, 2,000 IT systems, 60,000 edges), driven by wrk (Debian's package; `bench/load.lua`
prints its figures).

Three endpoints a signed-in user hits — the directory search, a project page and the
`projects/{slug}/support/` API — each measured for requests per second and p50/p99 latency beside
a bare Django view (`/bench/bare/`, a constant response through the same middleware on the same
server, mounted because `STEWARD_BENCH_BARE_VIEW` is on; see bench/urls.py), as ratios. The
search three times: the same one again and again, as many people look up the same app when it
breaks (its results kept between requests, `steward.fragments`), and a new one each request
(rendered each time), a whole name or part of one.

Then the same six under an outage storm: 100 outages opened in a minute on IT systems of the
two upper layers, through `incidents.services.outages.outage_open`, by a separate process, while a real
Celery worker (one, two processes, production settings) delivers the pages to a local webhook
sink. Reported beside: pages written and delivered per second during the storm, the oldest
undelivered page's age (its worst during the storm), and how long after the last outage every page
was delivered.

The server signs in through the login form like a browser (session cookie). Plain http on
localhost: `SECURE_SSL_REDIRECT=false`; everything else is production as deployed.

    python -m bench.load                # the table (takes about four minutes)
    python -m bench.load storm N SECS   # (used by the benchmark) open N outages over SECS seconds

Environment: BENCH_DATABASE_URL / DATABASE_URL as every benchmark (see bench/__init__.py),
REDIS_URL, LOAD_SECONDS (per measurement, default 10), LOAD_CONNECTIONS (default 8),
LOAD_WEB_WORKERS (gunicorn workers, default 4), LOAD_STORM_OUTAGES / LOAD_STORM_SECONDS (default
100 in 60; smaller only to try the script out), LOAD_LARGE_SCALE (opt-in, e.g. 10: after the
storm, the registry is rebuilt at that scale, 100,000 projects, in about a minute with COPY, and
the directory search is measured again beside the bare view; off by default because of that
minute and the memory).
"""

from __future__ import annotations

import collections
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench import django_setup, row

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("LOAD_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", "8"))
WEB_WORKERS = int(os.environ.get("LOAD_WEB_WORKERS", "4"))
STORM_OUTAGES = int(os.environ.get("LOAD_STORM_OUTAGES", "100"))
STORM_SECONDS = int(os.environ.get("LOAD_STORM_SECONDS", "60"))
LARGE_SCALE = float(os.environ.get("LOAD_LARGE_SCALE", "0") or 0)
DRAIN_LIMIT_SECONDS = 180
METRICS_TOKEN = secrets.token_urlsafe(32)
USERNAME = "load-reader"
SEARCH = "Project 004"  # 100 matching projects: two pages of results
# A new search each request (`load.lua` fills in a random number and picks one of the ways of
# writing it): results rendered, not kept. A whole name ("Project 01234", "project-01234": the
# one app named so) and the first four of its five digits ("Project 0123": ten apps contain
# it, none is it, so the forty most alike are suggested too; a full page of 20, as a search
# still being typed finds). The spellings are as people type them; each is a search of its own
# to the kept results, so that fewer of the draws repeat one already asked. Those that do are
# answered as kept: the table says how many of each run's searches were rendered (`/metrics`).
VARIED_SEARCH = ("/?q=Project+%05d", "/?q=project+%05d", "/?q=project-%05d")
VARIED_PARTIAL_SEARCH = (
    "/?q=Project+%04d",
    "/?q=project+%04d",
    "/?q=project-%04d",
    "/?q=PROJECT+%04d",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _production_env(secret_key: str) -> dict[str, str]:
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "steward.settings.production",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "STEWARD_BENCH_BARE_VIEW": "true",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
        "STEWARD_VAR_DIR": str(_var_dir()),
        "STATIC_ROOT": str(_var_dir() / "bench-static"),
        # The storm's webhook sink listens on loopback, which production refuses to post to
        # unless allowed: exactly what an operator does for an intranet's receivers.
        "STEWARD_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        # The web processes' counters shared, to read how many searches were rendered (as a
        # deployment with several processes runs them: `integrations.metrics`).
        "PROMETHEUS_MULTIPROC_DIR": str(_metrics_dir()),
        "STEWARD_METRICS_TOKEN": METRICS_TOKEN,
        "PYTHONPATH": str(ROOT),
    }


def _var_dir() -> Path:
    path = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _metrics_dir() -> Path:
    """An empty directory for the processes' shared counters, wiped first."""
    path = _var_dir() / "bench-load-metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _start(args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
    log = open(_var_dir() / log_name, "w")  # noqa: SIM115 — the child keeps it
    try:
        return subprocess.Popen(  # nosec B603: our own interpreter and fixed arguments
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    finally:
        log.close()


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _sign_in(base: str, password: str) -> str:
    """Sign in through the login form; return the Cookie header a browser would send. (The
    session and CSRF cookies are `Secure` in production, so they are carried by hand over plain
    http.)"""
    import requests

    session = requests.Session()
    form = session.get(f"{base}/accounts/login/", timeout=30)
    csrf = form.cookies.get("csrftoken")
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": USERNAME, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Cookie": f"csrftoken={csrf}", "Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    sessionid = answer.cookies.get("sessionid")
    if answer.status_code != 302 or not sessionid:
        raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")
    return f"sessionid={sessionid}; csrftoken={csrf}"


def _wrk(
    base: str, path: str | tuple[str, ...], cookie: str, seconds: int, *, projects: int
) -> dict:
    """wrk on `base` + `path`. A tuple of paths holding `%05d` or `%04d` is asked one of them
    at random each time, with a random number there (`load.lua`, from a new seed each run):
    `%05d` from 1 to `projects`, the registry's, `%04d` from 1 to a tenth of that (the first
    four digits of a project's)."""
    env = os.environ.copy()
    url = f"{base}{path}"
    if isinstance(path, tuple):
        url, env["LOAD_PATH_FORMATS"] = f"{base}/", "\n".join(path)
        env["LOAD_PATH_MAX"] = str(projects if "%05d" in path[0] else max(1, projects // 10))
        env["LOAD_SEED"] = str(secrets.randbelow(2**31))
    output = subprocess.run(  # nosec B603 B607: wrk from the system package, fixed arguments
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "load.lua"),
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    line = next(x for x in reversed(output.splitlines()) if x.startswith("{"))
    figures = json.loads(line)
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def _directory_answers(base: str) -> collections.Counter:
    """How the web processes have answered the directory's results so far, by outcome (kept,
    rendered, …: `steward.fragments.FRAGMENTS`, shared by the processes through
    PROMETHEUS_MULTIPROC_DIR), read from `/metrics`."""
    import requests

    text = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30
    ).text
    answers: collections.Counter = collections.Counter()
    for line in text.splitlines():
        if line.startswith("steward_fragments_total{") and 'fragment="directory"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            answers[outcome] += int(float(line.rsplit(" ", 1)[1]))
    return answers


def _measure(
    base: str, endpoints: dict[str, str | tuple[str, ...]], cookie: str, *, projects: int
) -> dict[str, dict]:
    figures = {}
    for name, path in endpoints.items():
        before = _directory_answers(base)
        figures[name] = _wrk(base, path, cookie, SECONDS, projects=projects)
        figures[name]["directory"] = _directory_answers(base) - before
    return figures


class _Pages:
    """Samples the pages of the storm once a second: written, delivered, oldest undelivered."""

    def __init__(self, since) -> None:
        self.since = since
        self.samples: list[tuple[float, int, int, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[float, int, int, float]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE state = 'sent'), "
                "coalesce(extract(epoch FROM now() - min(created_at) FILTER "
                "(WHERE state IN ('pending', 'sending'))), 0) "
                "FROM notifications_notification WHERE kind = 'page' AND created_at >= %s",
                [self.since],
            )
            written, sent, oldest = cursor.fetchone()
        return time.perf_counter(), written, sent, float(oldest)

    def _run(self) -> None:
        from django.db import connection

        while not self.stop.is_set():
            self.samples.append(self.sample())
            self.stop.wait(1.0)
        connection.close()

    def __enter__(self) -> _Pages:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def storm(count: int, seconds: float) -> None:
    """Open `count` outages, evenly over `seconds`, on random systems of the two upper layers."""
    django_setup(migrate=False)
    from incidents.services.outages import outage_open
    from registry.models import ITSystem

    systems = list(
        ITSystem.objects.filter(name__regex=r"^(App service|Shared service) ").values_list(
            "pk", flat=True
        )
    )
    chosen = random.Random(7).sample(systems, count)  # nosec B311: a benchmark's sample
    started = time.perf_counter()
    projects = 0
    for i, pk in enumerate(chosen):
        wait = started + i * seconds / count - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        outage = outage_open(
            actor=None, title=f"Storm outage {i + 1}", systems=[ITSystem.objects.get(pk=pk)]
        )
        projects += outage.impacted.count()
    print(
        json.dumps(
            {"outages": count, "seconds": time.perf_counter() - started, "projects": projects}
        ),
        flush=True,
    )


def run() -> list[dict]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    django_setup()
    import redis
    from django.conf import settings
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from bench import synthetic
    from tests.e2e_support import HttpSink, _handler

    sink = HttpSink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    server.request_queue_size = 256
    sink.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()
    registry = synthetic.build(1.0, webhook_url=sink.url("/load"))
    with connection.cursor() as cursor:  # pages go to the webhook sink, not to SMTP
        cursor.execute("UPDATE registry_contactmethod SET for_pages = false WHERE kind = 'email'")
    password = secrets.token_urlsafe(16)

    def reader() -> None:
        # Production's hasher (the benchmark process runs the test settings, which hash with MD5).
        User.objects.create(
            username=USERNAME,
            password=PBKDF2PasswordHasher().encode(password, PBKDF2PasswordHasher().salt()),
        )

    reader()
    projects = len(registry.project_ids)
    slug = f"project-{registry.project_ids[len(registry.project_ids) // 2]:05d}"
    endpoints = {
        "bare Django view": "/bench/bare/",
        "directory search": f"/?q={SEARCH.replace(' ', '+')}",
        "directory search, a new query each time": VARIED_SEARCH,
        "directory search, a new partial name each time": VARIED_PARTIAL_SEARCH,
        "project page": f"/projects/{slug}/",
        "support API": f"/api/v1/projects/{slug}/support/",
    }

    env = _production_env(secrets.token_urlsafe(64))
    subprocess.run(  # nosec B603: our own interpreter
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    web = worker = storm_process = None
    try:
        web = _start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "steward.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(WEB_WORKERS),
            ],
            env,
            "bench-load-gunicorn.log",
        )
        _wait_http(f"{base}/bench/bare/")
        cookie = _sign_in(base, password)
        _check(base, endpoints, cookie)
        for path in endpoints.values():  # warm every worker's caches and connections
            _wrk(base, path, cookie, 2, projects=projects)
        quiet = _measure(base, endpoints, cookie, projects=projects)

        # The storm: a worker delivering, outages opened by another process, the UI measured.
        worker = _start(
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
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "-n",
                f"load{os.getpid()}@%h",
            ],
            env,
            "bench-load-worker.log",
        )
        since = timezone.now()
        with _Pages(since) as pages:
            storm_started = time.perf_counter()
            storm_process = subprocess.Popen(  # nosec B603: our own interpreter
                [
                    sys.executable,
                    "-m",
                    "bench.load",
                    "storm",
                    str(STORM_OUTAGES),
                    str(STORM_SECONDS),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            stormy = _measure(base, endpoints, cookie, projects=projects)
            out, _ = storm_process.communicate(timeout=STORM_SECONDS * 5)
            storm_ended = time.perf_counter()
            opened = json.loads(out.strip().splitlines()[-1])
            drained_at = None
            while time.perf_counter() - storm_ended < DRAIN_LIMIT_SECONDS:
                _, written, sent, _ = pages.sample()
                if sent >= written:
                    drained_at = time.perf_counter()
                    break
                time.sleep(0.5)
        _, written, sent, oldest_left = pages.sample()
        large = None
        if LARGE_SCALE:
            # The search at a second size: the same server, the registry rebuilt under it.
            started = time.perf_counter()
            big = synthetic.build(LARGE_SCALE)
            built = time.perf_counter() - started
            reader()  # the build replaced the accounts too
            cookie = _sign_in(base, password)
            large_endpoints = {
                "bare Django view": endpoints["bare Django view"],
                "directory search": endpoints["directory search"],
                "directory search, a new query each time": VARIED_SEARCH,
                "directory search, a new partial name each time": VARIED_PARTIAL_SEARCH,
            }
            for path in large_endpoints.values():
                _wrk(base, path, cookie, 2, projects=len(big.project_ids))
            large = (
                len(big.project_ids),
                built,
                _measure(base, large_endpoints, cookie, projects=len(big.project_ids)),
            )
    finally:
        _stop(storm_process)
        _stop(worker)
        _stop(web)
        server.shutdown()
        broker.flushdb()

    if sent < written:
        # A storm whose pages were not delivered measures nothing: fail, do not print figures.
        raise AssertionError(
            f"the storm wrote {written:,} pages and delivered {sent:,} within "
            f"{DRAIN_LIMIT_SECONDS} s of its end; see the worker's log under var/"
        )
    during = [s for s in pages.samples if storm_started <= s[0] <= storm_ended] or pages.samples
    storm_seconds = storm_ended - storm_started
    written_in_storm = during[-1][1] - during[0][1]
    sent_in_storm = during[-1][2] - during[0][2]
    worst_oldest = max(s[3] for s in during)
    keys = sink.keys()
    load = os.getloadavg()

    rows = []
    runs = [("quiet", quiet), ("storm", stormy)]
    if large is not None:
        runs.append((f"{large[0]:,} projects", large[2]))
    for label, figures in runs:
        bare = figures["bare Django view"]
        for name, f in figures.items():
            bad = f" ({f['bad']} errors)" if f["bad"] else ""
            if name == "bare Django view":
                rows.append(
                    row(
                        f"load, {label}: {name}",
                        f["rps"],
                        "req/s",
                        note=f"p50 {f['p50_us'] / 1000:.1f} ms, p99 {f['p99_us'] / 1000:.1f} ms"
                        f"{bad}; the baseline of the rows below",
                    )
                )
                continue
            rows.append(
                row(
                    f"load, {label}: {name}",
                    f["rps"],
                    "req/s",
                    baseline=bare["rps"],
                    ratio=f["rps"] / bare["rps"],
                    note=f"p50 {f['p50_us'] / 1000:.1f} ms (bare {bare['p50_us'] / 1000:.1f}, "
                    f"{bare['p50_us'] / f['p50_us']:.2f}×), p99 {f['p99_us'] / 1000:.1f} ms "
                    f"(bare {bare['p99_us'] / 1000:.1f}, {bare['p99_us'] / f['p99_us']:.2f}×)"
                    f"{bad}{_rendered(name, f)}",
                )
            )
    if large is not None:
        rows.append(
            row(
                f"load: registry of {large[0]:,} projects built",
                large[1],
                "s",
                note=f"synthetic.build({LARGE_SCALE:g}) with COPY, then ANALYZE",
            )
        )
    rows += [
        row(
            "load, storm: pages written",
            written_in_storm / storm_seconds,
            "pages/s",
            note=f"{opened['outages']} outages in {opened['seconds']:.0f} s touching "
            f"{opened['projects']:,} projects; {written:,} pages in all",
        ),
        row(
            "load, storm: pages delivered",
            sent_in_storm / storm_seconds,
            "pages/s",
            note=f"during the storm, to the webhook sink; {len(keys):,} distinct keys, "
            f"{sum(keys.values()):,} requests",
        ),
        row(
            "load, storm: oldest undelivered page",
            worst_oldest,
            "s",
            note="its worst age during the storm",
        ),
        row(
            "load, storm: every page delivered",
            (drained_at - storm_ended) if drained_at else DRAIN_LIMIT_SECONDS,
            "s",
            note="after the last outage opened"
            if drained_at
            else f"NOT within {DRAIN_LIMIT_SECONDS} s: {written - sent:,} left, oldest "
            f"{oldest_left:.0f} s",
        ),
        row(
            "load: machine load average",
            load[0],
            "",
            note=f"1/5/15 min {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} at the end; gunicorn "
            f"{WEB_WORKERS} sync workers, wrk 1 thread × {CONNECTIONS} connections, "
            f"{SECONDS} s a measurement",
        ),
    ]
    return rows


def _rendered(name: str, figures: dict) -> str:
    """For a search's row: how many of its answers were worked out and rendered, the others
    having been kept from an earlier request (the same search, the same minute)."""
    answers = figures["directory"]
    asked = sum(answers.values())
    if not name.startswith("directory search") or not asked:
        return ""
    rendered = answers["rendered"] + answers["rendered_unkept"]
    return f"; {rendered:,} of {asked:,} searches rendered ({100 * rendered / asked:.0f} %)"


def _wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {url} (see var/bench-load-gunicorn.log)")


def _check(base: str, endpoints: dict[str, str | tuple[str, ...]], cookie: str) -> None:
    """Each endpoint answers 200 to the signed-in user (not a redirect to the login page), in
    each of its ways of writing a search, and a search finds apps."""
    import requests

    for name, paths in endpoints.items():
        for path in paths if isinstance(paths, tuple) else (paths,):
            asked = path % 42 if "%0" in path else path
            answer = requests.get(
                f"{base}{asked}", headers={"Cookie": cookie}, allow_redirects=False, timeout=30
            )
            if answer.status_code != 200:
                raise RuntimeError(f"{name} ({asked}) answered HTTP {answer.status_code}")
            if asked.startswith("/?q=") and '<ul class="results">' not in answer.text:
                raise RuntimeError(f"{name} ({asked}) found no app")


if __name__ == "__main__":
    if sys.argv[1:2] == ["storm"]:
        storm(int(sys.argv[2]), float(sys.argv[3]))
    else:
        from bench.run_all import print_table

        print_table(run())
