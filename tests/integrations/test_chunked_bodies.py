"""Bodies sent with `Transfer-Encoding: chunked` and no Content-Length, through a real gunicorn on
production settings (what the tester ran): the receivers and the API read them like any other
body, however they are cut into chunks, and past DATA_UPLOAD_MAX_MEMORY_SIZE the answer is a 413.
Django alone reads nothing without a Content-Length: steward/chunked.py is what makes this pass.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from incidents.models import Outage
from integrations.models import InboundEvent
from registry.models import Project
from tests.e2e_support import free_port
from tests.factories import PersonFactory, SystemFactory

from .conftest import alertmanager, pagerduty

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[int]:
    """gunicorn serving steward.wsgi:application with production settings on the test database;
    its port."""
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "steward.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": settings.REDIS_URL,
        "STATIC_ROOT": str(tmp_path / "static"),
        "STEWARD_INBOUND_RATE_LIMIT": "0",
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 — the child writes to it
    process = subprocess.Popen(  # nosec B603: our own interpreter and fixed arguments
        [
            sys.executable,
            "-m",
            "gunicorn",
            "steward.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"gunicorn did not start:\n{(tmp_path / 'gunicorn.log').read_text()}"
                    ) from None
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def chunked_post(port: int, path: str, body: bytes, *, chunk: int, headers: dict | None = None):
    """POST `body` in chunks of `chunk` bytes, with no Content-Length; (status, parsed JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    try:
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    except OSError:  # the server answered (413) before taking all of it
        pass
    response = conn.getresponse()
    content = response.read()
    conn.close()
    return response.status, json.loads(content) if content else None


# How a client may cut a body: one chunk, small chunks, one byte at a time.
CHUNKS = [pytest.param(1 << 20, id="one chunk"), pytest.param(97, id="97 bytes"), 1]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_chunked_events_api_trigger_is_read_and_stored(gunicorn, chunk):
    system = SystemFactory()
    body = json.dumps(pagerduty(system)).encode()

    status, answer = chunked_post(gunicorn, "/v2/enqueue", body, chunk=chunk)

    assert (status, answer["status"]) == (202, "success"), answer
    assert Outage.objects.get().title == "Example alert on host1.example.com"


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_chunked_alertmanager_notification_is_read_and_stored(gunicorn, chunk):
    system = SystemFactory()
    body = json.dumps(alertmanager()).encode()

    status, answer = chunked_post(
        gunicorn, f"/integrations/alertmanager/{system.integration_key}/", body, chunk=chunk
    )

    assert (status, answer["outcome"]) == (202, "opened"), answer
    assert InboundEvent.objects.get().outage == Outage.objects.get()


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_chunked_api_write_is_read(gunicorn, chunk):
    token = Token.objects.create(user=PersonFactory().user)
    body = json.dumps({"name": "Chunked app", "slug": "chunked-app"}).encode()

    status, answer = chunked_post(
        gunicorn,
        "/api/v1/projects/",
        body,
        chunk=chunk,
        headers={"Authorization": f"Token {token.key}"},
    )

    assert status == 201, answer
    assert Project.objects.filter(slug="chunked-app").exists()


@pytest.mark.parametrize(
    ("path", "key"),
    [("/v2/enqueue", "errors"), ("/api/v1/projects/", "detail")],
    ids=["receiver", "api"],
)
def test_a_chunked_body_past_the_limit_is_a_413_and_nothing_is_stored(gunicorn, path, key):
    body = b'{"a": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'

    status, answer = chunked_post(gunicorn, path, body, chunk=64 * 1024)

    assert status == 413
    assert "over the limit" in str(answer[key])
    assert not InboundEvent.objects.exists() and not Project.objects.exists()


def test_a_chunked_body_that_is_not_json_gets_the_receivers_own_refusal(gunicorn):
    status, answer = chunked_post(gunicorn, "/v2/enqueue", b'{"routing_key": NaN}', chunk=5)

    assert status == 400
    assert answer["status"] == "invalid event"
    assert any("NaN" in error for error in answer["errors"])
