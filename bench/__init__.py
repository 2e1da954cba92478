"""Benchmarks. Each ``bench/bench_*.py`` exposes ``run() -> list[dict]``; ``bench.run_all`` runs
them all and prints one table.

A row is ``{"name", "value", "unit", "baseline", "ratio"}`` (``baseline`` and ``ratio`` may be
None; an optional ``note`` is printed too). ``ratio`` is always "how many times better than the
baseline", so a row reads the same whichever way its unit runs.

Benchmarks run in their own database, never in the one the demo or the tests use, because the
synthetic registry replaces every registry table: ``BENCH_DATABASE_URL`` when set, else
``DATABASE_URL`` with ``_bench`` appended to its database name (unless it already ends in
``bench``), else ``postgres://postgres@127.0.0.1:5432/steward_bench``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/steward_bench"


def bench_database_url() -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "steward"
    if not name.endswith("bench"):
        name = f"{name}_bench"
    return urlunsplit(parts._replace(path=f"/{name}"))


def _create_database_if_missing(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    connection = psycopg2.connect(maintenance)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


_ready = False


def django_setup(*, migrate: bool = True) -> str:
    """Point Django at the benchmark database (created if missing), migrate it, return its URL.

    Call before importing models. Safe to call more than once.
    """
    global _ready
    url = bench_database_url()
    if _ready:
        return url
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steward.settings.test")
    _create_database_if_missing(url)
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)
    _ready = True
    return url


def median_ms(func: Callable[[], object], *, runs: int = 15, warmups: int = 2) -> float:
    """The median wall time of ``func()`` in milliseconds, after ``warmups`` untimed calls."""
    for _ in range(warmups):
        func()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def row(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    note: str = "",
) -> dict:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "ratio": ratio,
        "note": note,
    }
