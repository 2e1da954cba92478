#!/usr/bin/env python3
"""Run a command with PostgreSQL and Redis available, exported as DATABASE_URL and REDIS_URL.

Order of preference for each: the URL already in the environment; the server on localhost's
default port when it answers; a throwaway server started from the local binaries (initdb /
pg_ctl, redis-server) in a temporary folder, stopped afterwards. With CI=true a missing server
is a failure, never a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing


def _port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_answers(port):
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start on port {port} within {seconds:.0f}s")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _postgres(stack: ExitStack) -> str | None:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if _port_answers(5432):
        return "postgres://postgres@127.0.0.1:5432/steward"
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        return None
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="steward-pg-"))
    data, port = os.path.join(folder, "data"), _free_port()
    user_args: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: hand the folder to the postgres account.
        shutil.chown(folder, "postgres")
        user_args = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*user_args, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *user_args,
            pg_ctl,
            "-D",
            data,
            "-o",
            options,
            "-l",
            os.path.join(folder, "log"),
            "-w",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stack.callback(
        subprocess.run,
        [*user_args, pg_ctl, "-D", data, "-m", "immediate", "stop"],
        stdout=subprocess.DEVNULL,
    )
    print(f"with_services: started a throwaway PostgreSQL on port {port}", file=sys.stderr)
    return f"postgres://postgres@127.0.0.1:{port}/steward"


def _redis(stack: ExitStack) -> str | None:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if _port_answers(6379):
        return "redis://127.0.0.1:6379/0"
    server = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if not server:
        return None
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    stack.callback(process.wait, 10)
    stack.callback(process.terminate)
    _wait_for(port, "redis-server")
    print(f"with_services: started a throwaway Redis on port {port}", file=sys.stderr)
    return f"redis://127.0.0.1:{port}/0"


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit("usage: with_services.py COMMAND [ARGS...]")
    with ExitStack() as stack:
        database_url, redis_url = _postgres(stack), _redis(stack)
        missing = [
            name for name, url in (("PostgreSQL", database_url), ("Redis", redis_url)) if not url
        ]
        if missing:
            print(
                f"with_services: no {' or '.join(missing)} reachable or installable here; "
                "set DATABASE_URL / REDIS_URL or install the server binaries.",
                file=sys.stderr,
            )
            return 1
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url)
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
