"""Rendered fragments kept in Redis between requests, for as long as nothing they could have read
has changed: the directory's results, which every signed-in reader asks for and which, at company
scale, cost a request most of its time to compute.

What "nothing changed" means is the *catalog version*, kept by PostgreSQL itself, so that no write
path (a service, the admin, an import, SCIM, raw SQL, a migration) can forget to say it wrote:
- a statement-level trigger on every table but the `UNTRACKED` ones (the delivery machinery,
  sessions, logs: written all the time, read by no fragment) first takes a shared
  transaction-scoped advisory lock, then advances the sequence `steward_catalog_version`;
- a reader reads the sequence, then tries the same lock exclusively (and lets it go at once). A
  fragment is filed under the version read, and only when that try succeeded: then every write
  the version counts had committed (a transaction lets its locks go once it is visible), so what
  the fragment was rendered from is at least that version. A write in flight (its lock held) means
  the fragment is served but not kept. A write counted later moves the version on: a fragment
  filed under an older version is never read again.
Writers never wait for one another (shared locks), nor for readers beyond a try that holds the
lock for a microsecond; nothing here is a hot row. Both the sequence and the lock work through
PgBouncer in transaction mode (the reader's session lock is taken and let go in one statement).

The key also holds what the fragment depends on beyond the database, which the caller passes
(the query, the page, the viewer's zone), the minute (times are shown to the minute), the database
it was read from, and this code's own fingerprint (`SALT`), so a release that changes a template
never serves what the old one rendered. Without Redis, or before the migration that installs the
triggers, fragments are rendered every time.

`install()` runs after every `migrate` (and test database flush): the sequence, the function, and
the trigger on every table, so a table a later migration adds is counted from then on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import redis
from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.crypto import salted_hmac
from prometheus_client import Counter

from steward import prepared
from steward.health import redis_connection

log = logging.getLogger(__name__)

SEQUENCE = "steward_catalog_version"
FUNCTION = "steward_catalog_changed"
TRIGGER = "steward_catalog_changed"
# The lock's key, in the single-bigint key space (the dependency graph's lock hashes its own name).
LOCK_KEY = "hashtext('steward.catalog_version')"

# Tables whose writes do not move the version: written by every delivery, request or heartbeat,
# and read by no cached fragment (tests/steward/test_fragments.py holds each fragment's queries
# to the tracked tables). Anything else counts, a table added later included.
UNTRACKED = frozenset(
    {
        "django_session",
        "django_admin_log",
        "django_migrations",
        "notifications_notification",
        "notifications_deliveryattempt",
        "notifications_due",
        "notifications_providercallback",
        "integrations_heartbeat",
        "integrations_inboundevent",
        "incidents_problemreport",
        "portal_systemproblemreport",
        "hygiene_reviewnudge",
    }
)

_FUNCTION_BODY = f"""
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    PERFORM nextval('{SEQUENCE}');
    RETURN NULL;
END """
# For `/metrics` (integrations.metrics registers it): how each fragment asked for was answered.
FRAGMENTS = Counter(
    "steward_fragments",
    "Rendered fragments asked for, by fragment and how each was answered: kept_here (this "
    "process's copy of one kept), kept (read as kept from Redis), waited (another request's "
    "render, waited for), rendered (then kept), or rendered_unkept "
    "(a write was in flight, Redis or the catalog version was away, or it depends on who asks).",
    ["fragment", "outcome"],
    registry=None,
)

_INSTALL_FUNCTION = (
    f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}; "
    f"CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql "
    f"AS $${_FUNCTION_BODY}$$"
)
# The reader's one statement: the version, then whether any writer holds the lock. Prepared
# once a server session (`steward.prepared`): every request that shows a kept fragment reads it.
_READ_VERSION = prepared.Prepared(
    "steward_catalog_version",
    f"SELECT last_value, is_called, CASE WHEN pg_try_advisory_lock({LOCK_KEY}) "  # noqa: S608
    f"THEN pg_advisory_unlock({LOCK_KEY}) ELSE false END FROM {SEQUENCE}",  # nosec B608: constants
    {},
)


def install(*, using: str = "default") -> None:
    """The sequence, the trigger function, and the trigger on every table of the schema but the
    untracked ones (from which it is dropped, should a table have moved to that list). Nothing is
    written when all of that is in place already (each test database flush runs this too)."""
    db = connections[using]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() "
            "AND NOT c.relispartition"
        )
        tables = {table for (table,) in cursor.fetchall()}
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL, (SELECT prosrc FROM pg_proc WHERE proname = %s)",
            [SEQUENCE, FUNCTION],
        )
        has_sequence, body = cursor.fetchone()
        current = has_sequence and body == _FUNCTION_BODY
        if current and tracked_tables(using=using) == tables - UNTRACKED:
            return
        cursor.execute(_INSTALL_FUNCTION)
        for table in sorted(tables):
            quoted = db.ops.quote_name(table)
            if table in UNTRACKED:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {quoted}")
                continue
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER {TRIGGER} "
                f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {quoted} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )


def tracked_tables(*, using: str = "default") -> set[str]:
    """The tables whose writes move the version (those carrying the trigger)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE t.tgname = %s AND n.nspname = current_schema()",
            [TRIGGER],
        )
        return {table for (table,) in cursor.fetchall()}


def catalog_version() -> tuple[int, bool] | None:
    """(the version, whether no write is in flight); None outside a transaction when the
    triggers are not installed here (a database not migrated since)."""
    try:
        with connection.cursor() as cursor:
            prepared.execute(cursor, _READ_VERSION, {})
            last_value, is_called, quiet = cursor.fetchone()
    except DatabaseError:
        if connection.in_atomic_block:
            raise
        log.warning("No catalog version here: fragments are rendered every time", exc_info=True)
        return None
    return (last_value if is_called else 0), bool(quiet)


def csrf_placeholder() -> str:
    """What a kept fragment holds where a form's CSRF token goes (render it with this as the
    context's `csrf_token`); `with_csrf_token` puts the reader's own token there on each request.
    From SECRET_KEY, so no text typed into a page can spell it."""
    return "csrf-" + salted_hmac("steward.fragments.csrf", "placeholder").hexdigest()[:32]


def with_csrf_token(html: str, request: HttpRequest) -> str:
    return html.replace(csrf_placeholder(), get_token(request))


def _fingerprint(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _code_files() -> Iterable[Path]:
    """The templates and Python modules that render fragments: the project's own, outside
    tests, the virtualenv and node_modules."""
    base = Path(settings.BASE_DIR)
    skip = {".venv", "tests", "node_modules", ".git", "static", "bench", "var"}
    for root, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
        for name in files:
            if name.endswith((".py", ".html")):
                yield Path(root) / name


SALT = ""  # this code's fingerprint, once a process (`_salt`); tests set their own per test


def _salt() -> str:
    global SALT
    if not SALT:
        SALT = _fingerprint(_code_files())
    return SALT


def _key(name: str, parts: tuple, version: int) -> str:
    database = connection.settings_dict
    where = f"{database.get('HOST')}:{database.get('PORT')}/{database['NAME']}"
    what = hashlib.sha256(repr((where, parts)).encode()).hexdigest()[:32]
    return f"steward:fragment:{_salt()}:{name}:{version}:{what}"


# A fragment missing because its minute began (or a write) is wanted by every reader at once:
# one renders it, the others wait for it this long at most (polling), rather than all render it
# together on the same cores (the project page's p99 was such a herd).
RENDERING_WAIT_SECONDS = 0.5
_POLL_SECONDS = 0.005


def cached_fragment(
    name: str, parts: tuple, render: Callable[[], tuple[str, bool]], *, now: datetime
) -> str:
    """The fragment `name` for `parts` (everything it depends on beyond the database and the
    time) in the minute of `now`: as kept under the current catalog version, else `render()`,
    which returns the HTML and whether it may be kept (a fragment that depends on who asks
    says no), kept when no write is in flight. While another request renders the same
    fragment, this one waits for it (`RENDERING_WAIT_SECONDS` at most).

    A fragment is kept for the rest of its minute at most: what it shows of the time (local
    times, who is on call and in working hours, "5 minutes ago") is true to the minute. Kept
    compressed, in the Redis that is also Celery's broker: a search typed letter by letter
    keeps a fragment a letter, and what they take is bounded by a minute of them. Each process
    also holds the fragments of the minute it read or kept (`_Recent`), under the same key."""
    version = catalog_version()
    if version is None:
        FRAGMENTS.labels(name, "rendered_unkept").inc()
        return render()[0]
    number, quiet = version
    minute = now.replace(second=0, microsecond=0)
    key = _key(name, (*parts, minute.isoformat()), number)
    html = _RECENT.get(key, minute)
    if html is not None:
        FRAGMENTS.labels(name, "kept_here").inc()
        return html
    rendering = f"{key}:rendering"
    client = None
    outcome = "kept"
    try:
        client = redis_connection()
        kept = client.get(key)
        if kept is None and quiet:
            outcome = "waited"
            kept = _rendered_by_another(client, key, rendering)
    except (OSError, redis.RedisError):
        kept = None
        client = None
    if kept is not None:
        FRAGMENTS.labels(name, outcome).inc()
        html = zlib.decompress(kept).decode()
        _RECENT.put(key, minute, html)
        return html
    try:
        html, keep = render()
    finally:
        if client is not None and quiet:
            with contextlib.suppress(OSError, redis.RedisError):
                client.delete(rendering)  # whoever waits renders it now, or reads it
    outcome = "rendered_unkept"
    if keep and quiet and client is not None:
        left = max(1, int((minute + timedelta(minutes=1) - now).total_seconds()) + 1)
        with contextlib.suppress(OSError, redis.RedisError):  # kept next time, then
            client.set(key, zlib.compress(html.encode(), 1), ex=left)
            outcome = "rendered"
            _RECENT.put(key, minute, html)
    FRAGMENTS.labels(name, outcome).inc()
    return html


class _Recent:
    """This process's copies of the fragments of the current minute it read from Redis or kept
    there, by the same key: the key names the catalog version and the minute, so a copy is what
    Redis holds under it, and asking it again costs neither the round trip nor the
    decompression (a kept search: ~0.2 ms of ~1.9). Only one minute's are held (another
    minute's put drops them all), at most `MAX_CHARS` characters of them, the least recently
    read dropped first."""

    MAX_CHARS = 8_000_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minute: datetime | None = None
        self._items: OrderedDict[str, str] = OrderedDict()
        self._chars = 0

    def get(self, key: str, minute: datetime) -> str | None:
        with self._lock:
            if minute != self._minute:
                return None
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
            return html

    def put(self, key: str, minute: datetime, html: str) -> None:
        with self._lock:
            if minute != self._minute:  # the next minute (or a clock set back): start again
                self._minute, self._items, self._chars = minute, OrderedDict(), 0
            self._chars += len(html) - len(self._items.pop(key, ""))
            self._items[key] = html
            while self._chars > self.MAX_CHARS:
                self._chars -= len(self._items.popitem(last=False)[1])


_RECENT = _Recent()


def _rendered_by_another(client: redis.Redis, key: str, rendering: str) -> bytes | None:
    """None when this request is to render the fragment (nobody else is, or they gave up or
    took too long); else the fragment another request rendered meanwhile."""
    wait = int(RENDERING_WAIT_SECONDS * 1000)
    if client.set(rendering, b"1", nx=True, px=wait):
        return None  # ours to render
    deadline = time.monotonic() + RENDERING_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        kept, still = client.pipeline().get(key).exists(rendering).execute()
        if kept is not None or not still:
            return kept
    return None
