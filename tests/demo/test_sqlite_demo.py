"""The one-command demo runs on SQLite, where PostgreSQL-only SQL fails. Two such failures were
found by hand (a send's CTE, the heartbeat deadline arithmetic); this runs the same paths on the
demo's settings in a process of its own, since the rest of the suite is on PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pages_webhooks_and_heartbeats_work_on_the_demo_settings(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "steward.settings.dev",
        "STEWARD_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "demo" / "sqlite_pipeline.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["outcomes"] == ["sent", "sent"]
    assert summary["states"] == ["sent", "sent"]
    assert summary["attempts"] == 2
    assert summary["received"] == ["/endpoint", "/page"]
    assert summary["heartbeat_outages"] == [1, 0]
    assert summary["heartbeat_down"] is True
