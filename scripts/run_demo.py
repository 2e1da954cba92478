#!/usr/bin/env python3
"""`make run`: PostgreSQL and Redis, the web server, a Celery worker and beat, together; Ctrl-C
stops all of them.

PostgreSQL and Redis are real servers from pip wheels with their data under var/ (a second run
keeps it), unless DATABASE_URL / REDIS_URL point at servers of your own. The database is migrated
and the demo data loaded (idempotently) before the processes start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from with_services import services

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("STEWARD_VAR_DIR", ROOT / "var"))
PYTHON = sys.executable
HOST = os.environ.get("STEWARD_HOST", "127.0.0.1")
PORT = os.environ.get("STEWARD_PORT", "8000")


def main() -> int:
    (VAR / "mail").mkdir(parents=True, exist_ok=True)
    # Ctrl-C reaches every process of the terminal's group: the servers below stop in order
    # instead, from the handler installed before they start.
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with services(data=VAR, use_local=False) as urls:
        env = dict(os.environ, **urls)
        env.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.dev")
        env.setdefault("SITE_URL", f"http://{HOST}:{PORT}")
        for step in (["migrate", "--noinput"], ["load_demo"]):
            if stopping or subprocess.call([PYTHON, "manage.py", *step], cwd=ROOT, env=env):
                return 1
        return _serve(env, lambda: stopping)


def _serve(env: dict[str, str], stopping_requested: Callable[[], bool]) -> int:
    celery = [PYTHON, "-m", "celery", "-A", "steward"]
    commands = {
        "web": [PYTHON, "manage.py", "runserver", "--noreload", f"{HOST}:{PORT}"],
        "worker": [*celery, "worker", "-Q", "pages,default", "-c", "2", "--loglevel", "INFO"],
        "beat": [*celery, "beat", "-s", str(VAR / "celerybeat-schedule"), "--loglevel", "INFO"],
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, env=env) for name, command in commands.items()
    }
    print(
        f"\nSteward is running at http://{HOST}:{PORT}/  (PostgreSQL and Redis)\n"
        "Sign in as admin, it, owner or reader (passwords printed above).\n"
        "Web server, Celery worker and beat are up. Press Ctrl-C to stop all of them.\n",
        flush=True,
    )
    exit_code = 0
    stopping = False
    while not stopping and not stopping_requested():
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
