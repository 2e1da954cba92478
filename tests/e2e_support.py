"""Real moving parts for end-to-end tests: a Celery worker process, an SMTP server (aiosmtpd) and
an HTTP sink, each on localhost. Import the fixtures into an app's tests/<app>/conftest.py:

    from tests.e2e_support import celery_worker, http_sink, smtp_sink  # noqa: F401

Tests that use the worker need `@pytest.mark.django_db(transaction=True)` so that the worker (a
separate process with its own connection) sees committed rows, and REDIS_URL set to the Redis
database this app's tests own. The sinks count what arrived, by Idempotency-Key and Message-ID.
"""

from __future__ import annotations

import email
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    while_waiting: Callable[[], object] | None = None,
    message: str = "",
) -> None:
    """Poll until `condition()` holds; `while_waiting` runs each round (e.g. the sweeper)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if while_waiting is not None:
            while_waiting()
        time.sleep(interval)
    if condition():
        return
    detail = ""
    try:  # what the pipeline looks like, to say why
        from notifications.models import Notification

        rows = Notification.objects.values_list(
            "id",
            "state",
            "attempts",
            "deliver_after",
            "next_attempt_at",
            "lease_expires_at",
            "enqueued_at",
            "last_error",
        )
        detail = "\n".join(str(r) for r in rows if r[1] != "sent")[:3000]
    except Exception as exc:  # noqa: BLE001
        detail = repr(exc)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}\n{detail}")


# --- HTTP sink --------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    path: str
    headers: dict
    body: bytes
    at: float
    accepted: bool = False

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def json(self):
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Records every POST. `plan(path, [...])` scripts the next answers for a path: an int status,
    (429, retry_after_seconds), or ("sleep", seconds) to answer 200 late (a client timeout).
    Unscripted requests get 200."""

    port: int = 0
    requests: list[HttpRequest] = field(default_factory=list)
    plans: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    # When each Idempotency-Key first arrived, in that order, as of `requests[:_indexed]`:
    # brought up to date by `arrivals` from the requests recorded since, so that a benchmark
    # polling it ten times a second reads each request once, not all of them each time.
    _first: dict = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path: str, answers: list) -> None:
        with self.lock:
            self.plans[path] = list(answers)

    def _next(self, path: str):
        with self.lock:
            answers = self.plans.get(path)
            return answers.pop(0) if answers else 200

    def keys(self) -> Counter:
        """Requests per Idempotency-Key (answered or not)."""
        with self.lock:
            return Counter(r.key for r in self.requests)

    def arrivals(self, keys: set[str] | None = None, *, distinct: bool = False) -> list[float]:
        """When each request arrived (`time.monotonic`); with `distinct` or `keys`, only the
        first request of each Idempotency-Key, and with `keys` only of those."""
        with self.lock:
            if keys is None and not distinct:
                return [r.at for r in self.requests]
            for r in self.requests[self._indexed :]:
                self._first.setdefault(r.key, r.at)
            self._indexed = len(self.requests)
            if keys is None:
                return list(self._first.values())
            return [at for key, at in self._first.items() if key in keys]

    def accepted_keys(self) -> Counter:
        """Requests per key that the sink answered 2xx in time: what a receiver acted on."""
        with self.lock:
            return Counter(r.key for r in self.requests if r.accepted)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.plans.clear()
            self._first.clear()
            self._indexed = 0


def _handler(sink: HttpSink):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real receiver
        # Headers and body in one segment: otherwise Nagle and delayed ACKs hold each
        # keep-alive response ~40 ms and the sink, not Steward, sets the pace.
        wbufsize = 65536
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            request = HttpRequest(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                at=time.monotonic(),
            )
            answer = sink._next(self.path)
            with sink.lock:
                sink.requests.append(request)
            headers = {}
            status = 200
            if isinstance(answer, tuple) and answer[0] == "sleep":
                time.sleep(answer[1])
            elif isinstance(answer, tuple):
                status, retry_after = answer
                headers["Retry-After"] = str(retry_after)
            else:
                status = answer
            payload = b'{"ok": true}' if status < 300 else b'{"error": "planned"}'
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
                request.accepted = status < 300 and not (
                    isinstance(answer, tuple) and answer[0] == "sleep"
                )
            except OSError:  # the client gave up (timeout)
                pass

    return Handler


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    sink.server = server
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


# --- SMTP sink --------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd). `down()` stops it (connections refused) and `up()` starts
    it again on the same port."""

    port: int
    messages: list = field(default_factory=list)
    raw: list = field(default_factory=list)  # each message's bytes as they arrived
    controller: object | None = None

    def up(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                message = email.message_from_bytes(envelope.content, policy=policy.default)
                sink.messages.append(message)
                sink.raw.append(envelope.content)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> Counter:
        return Counter(m["Message-ID"] for m in self.messages)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    sink.up()
    yield sink
    sink.down()


@pytest.fixture
def smtp(settings, smtp_sink: SmtpSink) -> SmtpSink:
    """Every email Steward sends (`steward.headers.mail_connection`) goes to `smtp_sink`."""
    settings.STEWARD_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_TIMEOUT = 5
    return smtp_sink


# --- Celery worker ----------------------------------------------------------------------------


@dataclass
class CeleryWorker:
    env: dict
    log_path: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self, *, timeout: float = 30) -> None:
        self.starts += 1
        log = open(self.log_path, "a")  # noqa: SIM115 — the child owns it
        log.write(f"\n--- start {self.starts}\n")
        log.flush()
        offset = self.log_path.stat().st_size
        self.process = subprocess.Popen(
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
                "-n",
                f"e2e{os.getpid()}-{self.starts}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.log()[-3000:]}")
            with open(self.log_path) as f:
                f.seek(offset)
                return " ready." in f.read()

        wait_for(ready, timeout=timeout, interval=0.2, message="the Celery worker to be ready")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no warm shutdown, no acks."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text()


def worker_env(smtp_port: int | None = None, **extra: str) -> dict:
    """The environment of a worker that shares this test run's database and Redis."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "steward.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    if smtp_port is not None:
        env |= {
            "STEWARD_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_TIMEOUT": "2",
        }
    env |= {k: str(v) for k, v in extra.items()}
    return env


@pytest.fixture
def celery_worker(tmp_path) -> Iterator[Callable[..., CeleryWorker]]:
    """A factory: `celery_worker(smtp_port=..., STEWARD_X="...")` starts a real worker on an empty
    Redis database; it is stopped (and its queues emptied) after the test."""
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.flushdb()
    workers: list[CeleryWorker] = []

    def start(smtp_port: int | None = None, **extra: str) -> CeleryWorker:
        worker = CeleryWorker(env=worker_env(smtp_port, **extra), log_path=tmp_path / "worker.log")
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    broker.flushdb()
