"""Local stand-ins of the providers' HTTP APIs, reached through the providers' official clients
(their base URLs are settings): Twilio's REST API, Slack's Web API, and a push server (ntfy, or
any receiver Apprise posts to). Each records what arrived and answers as the provider does, with
the fields the clients read. Import the fixtures into a conftest or a test module:

    from tests.notifications.standins import push_server, slack_api, twilio_api  # noqa: F401
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes

    @property
    def form(self) -> dict:
        """Form fields (the last value of each), as Twilio's client and Slack's GET-less calls
        send them."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def data(self) -> dict:
        """The body as the client sent it: JSON, or form fields."""
        if self.headers.get("content-type", "").startswith("application/json"):
            return json.loads(self.body)
        return self.form

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class StandIn:
    """An HTTP server answering `respond(received) -> (status, json)`, recording every request."""

    respond: Callable[[Received], tuple[int, dict]]
    port: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def at(self, suffix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path.split("?")[0].endswith(suffix)]


def _serve(stand_in: StandIn) -> Iterator[StandIn]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received = Received(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            with stand_in.lock:
                stand_in.received.append(received)
            status, document = stand_in.respond(received)
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_PUT = _any  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    stand_in.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving(respond: Callable[[Received], tuple[int, dict]]) -> Iterator[StandIn]:
    """A stand-in answering `respond`, for the length of a `with` block."""
    yield from _serve(StandIn(respond=respond))


# --- Twilio ---------------------------------------------------------------------------------


_sids = itertools.count(1)


def _twilio(received: Received) -> tuple[int, dict]:
    """Messages.json and Calls.json as Twilio answers them: 201 and the resource."""
    form = received.form
    if received.path.endswith("/Messages.json"):
        sid = f"SM{next(_sids):032x}"
        return 201, {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}
    if received.path.endswith("/Calls.json"):
        return 201, {"sid": f"CA{next(_sids):032x}", "status": "queued", "to": form.get("To")}
    return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}


@pytest.fixture
def twilio_api() -> Iterator[StandIn]:
    yield from _serve(StandIn(respond=_twilio))


# --- Slack ----------------------------------------------------------------------------------

SLACK_DM_CHANNEL = "D0STEWARD1"


def _slack(received: Received) -> tuple[int, dict]:
    if received.path.endswith("/conversations.open"):
        return 200, {"ok": True, "channel": {"id": SLACK_DM_CHANNEL}}
    if received.path.endswith("/chat.postMessage"):
        return 200, {"ok": True, "channel": SLACK_DM_CHANNEL, "ts": "1733400000.000100"}
    if received.path.endswith("/chat.update"):
        data = received.data
        return 200, {"ok": True, "channel": data.get("channel"), "ts": data.get("ts")}
    return 200, {"ok": False, "error": "unknown_method"}


@pytest.fixture
def slack_api() -> Iterator[StandIn]:
    yield from _serve(StandIn(respond=_slack))


# --- a push server (ntfy, Apprise's json://) --------------------------------------------------


@pytest.fixture
def push_server() -> Iterator[StandIn]:
    yield from _serve(StandIn(respond=lambda r: (200, {"id": "push1", "event": "message"})))
