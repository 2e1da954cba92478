#!/usr/bin/env python3
"""`make run`: the web server, a Celery worker and beat, together; Ctrl-C stops all of them.

Runs on the embedded defaults (SQLite, kombu's filesystem broker under var/) unless DATABASE_URL /
REDIS_URL are set.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))
PYTHON = sys.executable
HOST = os.environ.get("STEWARD_HOST", "127.0.0.1")
PORT = os.environ.get("STEWARD_PORT", "8000")


def main() -> int:
    for folder in ("broker/queue", "broker/processed", "broker/control", "mail"):
        (VAR / folder).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.dev")
    env.setdefault("SITE_URL", f"http://{HOST}:{PORT}")
    celery = [PYTHON, "-m", "celery", "-A", "steward"]
    commands = {
        "web": [PYTHON, "manage.py", "runserver", "--noreload", f"{HOST}:{PORT}"],
        "worker": [*celery, "worker", "-Q", "pages,default", "-c", "2", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "-s", str(VAR / "celerybeat-schedule"), "--loglevel", "INFO"],
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, env=env) for name, command in commands.items()
    }
    broker = "Redis" if env.get("REDIS_URL") else f"filesystem broker in {VAR / 'broker'}"
    database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(
        f"\nSteward is running at http://{HOST}:{PORT}/  ({database}, {broker})\n"
        "Sign in as admin, it, owner or reader (passwords printed above).\n"
        "Web server, Celery worker and beat are up. Press Ctrl-C to stop all of them.\n",
        flush=True,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the rest.", flush=True)
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("Steward stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
