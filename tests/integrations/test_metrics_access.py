"""Who may read /metrics, with the values the production settings give: closed unless a bearer
token or an allow-listed network lets the scraper in, never opened by a header the client writes,
and said so at start-up when nothing is configured.

The settings are loaded by `steward.settings.production` in a child process, with the environment
each case gives, and applied here: the view sees exactly what production would set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import pytest

from tests.test_deployment import ROOT, production_env

METRICS_SETTINGS = (
    "STEWARD_METRICS_OPEN",
    "STEWARD_METRICS_TOKEN",
    "STEWARD_METRICS_ALLOW_NETWORKS",
)
TOKEN = "scrape-token-0123456789"


@cache
def production_values(token: str = "", networks: str = "") -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {METRICS_SETTINGS!r}}}))"
    )
    env = production_env(STEWARD_METRICS_TOKEN=token, STEWARD_METRICS_ALLOW_NETWORKS=networks)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {"values": json.loads(result.stdout.splitlines()[-1]), "stderr": result.stderr}


@pytest.fixture
def production(settings):
    def apply(**env: str) -> dict:
        loaded = production_values(**env)
        for name, value in loaded["values"].items():
            setattr(settings, name, value)
        return loaded

    return apply


BEARERS = ["", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Token {TOKEN}", f"Basic {TOKEN}"]
SPOOFED = [
    {"HTTP_X_FORWARDED_FOR": "10.20.0.5"},
    {"HTTP_X_FORWARDED_FOR": "10.20.0.5, 203.0.113.9"},
    {"HTTP_X_REAL_IP": "10.20.0.5"},
    {"HTTP_FORWARDED": "for=10.20.0.5"},
]


def test_production_closes_metrics_when_nothing_is_configured(client, db, production):
    loaded = production()
    assert loaded["values"]["STEWARD_METRICS_OPEN"] is False
    assert "/metrics is closed" in loaded["stderr"]
    for header in BEARERS:
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        response = client.get("/metrics", **extra)
        assert response.status_code == 403, header
        assert b"steward_" not in response.content
    for spoof in SPOOFED:
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **spoof).status_code == 403


@pytest.mark.parametrize("header", BEARERS)
def test_production_refuses_a_missing_or_wrong_token(client, db, production, header):
    production(token=TOKEN)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"steward_" not in response.content


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_production_answers_the_right_token(client, db, production, scheme):
    loaded = production(token=TOKEN)
    assert "/metrics is closed" not in loaded["stderr"]
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {TOKEN}")
    assert response.status_code == 200
    assert b"steward_http_requests" in response.content


@pytest.mark.parametrize(
    "address", ["10.20.0.5", "10.20.255.254", "192.0.2.77", "::ffff:10.20.0.9", "fd00:1::5"]
)
def test_production_answers_an_allow_listed_network(client, db, production, address):
    loaded = production(networks="10.20.0.0/16, 192.0.2.77/32,fd00:1::/64")
    assert "/metrics is closed" not in loaded["stderr"]
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 200
    assert b"steward_http_requests" in response.content


@pytest.mark.parametrize("spoof", SPOOFED)
@pytest.mark.parametrize("token", ["", TOKEN])
def test_production_ignores_a_spoofed_forwarded_address(client, db, production, spoof, token):
    production(token=token, networks="10.20.0.0/16")
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", **spoof)
    assert response.status_code == (401 if token else 403)
    assert b"steward_" not in response.content


@pytest.mark.parametrize("address", ["10.21.0.1", "203.0.113.9", "::1", "not-an-address", ""])
def test_production_refuses_an_address_outside_the_networks(client, db, production, address):
    production(networks="10.20.0.0/16")
    assert client.get("/metrics", REMOTE_ADDR=address).status_code == 403


def test_production_refuses_a_network_that_is_not_one():
    env = production_env(STEWARD_METRICS_ALLOW_NETWORKS="10.20.0.0/16,10.300.0.0/8")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "STEWARD_METRICS_ALLOW_NETWORKS" in result.stderr
    assert "10.300.0.0/8" in result.stderr


def test_development_and_tests_stay_open(client, db, settings):
    settings.STEWARD_METRICS_OPEN = True
    settings.STEWARD_METRICS_TOKEN = ""
    settings.STEWARD_METRICS_ALLOW_NETWORKS = []
    assert client.get("/metrics").status_code == 200
