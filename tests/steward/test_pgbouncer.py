"""Steward behind PgBouncer in transaction mode (docker-compose.yml's `pgbouncer`): a real
PgBouncer from Debian's package, started here in front of the test database with fewer server
connections than clients, so that consecutive transactions of one client land on different
server connections. What must still hold: the dependency graph's advisory lock, the sweeper's
SELECT … FOR UPDATE SKIP LOCKED, the one-statement claim of the outbox, and the catalog version's
lock that keeps a fragment rendered during a write from being kept (`steward.fragments`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from notifications import services as notifications
from notifications.models import Notification
from notifications.services import sweeper
from registry import selectors as registry_selectors
from registry import services as registry_services
from registry.models import Dependency
from steward import fragments
from tests.e2e_support import free_port
from tests.factories import PersonFactory, SystemFactory

pytestmark = pytest.mark.django_db(transaction=True)

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SERVER_CONNECTIONS = 2


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup, django_db_blocker):
    """A PgBouncer in transaction mode in front of the test database; its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("PgBouncer is not installed: apt-get install pgbouncer (.ci/run does)")
    with django_db_blocker.unblock():
        database = connection.settings_dict
    folder = Path(tempfile.mkdtemp(prefix="steward-pgbouncer-"))
    folder.chmod(0o755)  # readable by the unprivileged user it runs as
    port = free_port()
    user = database["USER"] or "postgres"
    (folder / "users.txt").write_text(f'"{user}" "{database["PASSWORD"] or ""}"\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={database['HOST'] or '127.0.0.1'} port={database['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = {'trust' if not database['PASSWORD'] else 'plain'}\n"
        f"auth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\n"
        f"admin_users = {user}\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\nmax_client_conn = 50\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    for name in ("users.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    argv = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # it refuses to run as root
        argv[1:1] = ["-u", "nobody"]
    process = subprocess.Popen(  # nosec B603: Debian's pgbouncer, our own config
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg2.connect(
                host="127.0.0.1",
                port=port,
                dbname=database["NAME"],
                user=user,
                password=database["PASSWORD"] or None,
            ).close()
            break
        except psycopg2.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.stdout.read().decode(errors="replace")
                pytest.fail(f"PgBouncer did not start:\n{output}")
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def through(port: int):
    """This thread's database connection goes through PgBouncer (as a pooled app's does)."""
    connection.close()
    direct = connection.settings_dict
    connection.settings_dict = {
        **direct,
        "HOST": "127.0.0.1",
        "PORT": port,
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
    }
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict = direct


def transactions_through(port: int) -> int:
    """How many transactions PgBouncer has passed to the test database (its SHOW STATS)."""
    database = connection.settings_dict
    console = psycopg2.connect(
        host="127.0.0.1",
        port=port,
        dbname="pgbouncer",
        user=database["USER"] or "postgres",
        password=database["PASSWORD"] or None,
    )
    console.autocommit = True
    try:
        with console.cursor() as cursor:
            cursor.execute("SHOW STATS")
            names = [column.name for column in cursor.description]
            stats = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        console.close()
    return sum(row["total_xact_count"] for row in stats if row["database"] == database["NAME"])


@pytest.fixture
def pooled(pgbouncer, settings):
    """PgBouncer's port; the test fails unless transactions did go through it. Settings as
    `DATABASE_POOLER=transaction` makes them: nothing prepared in a server session."""
    settings.STEWARD_PREPARED_STATEMENTS = False
    before = transactions_through(pgbouncer)
    yield pgbouncer
    assert transactions_through(pgbouncer) > before, "nothing went through PgBouncer"


def run_together(*targets, timeout: float = 30) -> list:
    """Run each callable in its own thread, started together; their results or exceptions."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(index, target):
        barrier.wait(timeout=timeout)
        try:
            results[index] = target()
        except Exception as exc:  # noqa: BLE001 — returned to the test, which asserts on it
            results[index] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread is stuck: a lock did not let go"
    return results


def test_the_graph_lock_still_serialises_edges_through_the_pooler(pooled, monkeypatch):
    """Two edges that together close a cycle, written at once through PgBouncer: the cycle
    check of each runs under the graph's advisory lock, held for its transaction on whichever
    server connection that transaction got, so one edge is refused. Each check dawdles inside
    the lock, so without it both would pass."""
    sso, datacenter = SystemFactory(name="SSO"), SystemFactory(name="Datacenter")
    real_cycle = registry_selectors.dependency_cycle

    def slow_cycle(**kwargs):
        found = real_cycle(**kwargs)
        time.sleep(0.5)
        return found

    monkeypatch.setattr(registry_services, "dependency_cycle", slow_cycle)

    def edge(source, target):
        def write():
            with through(pooled):
                return registry_services.dependency_add(
                    actor=None, source_system=source, target_system=target
                )

        return write

    results = run_together(edge(sso, datacenter), edge(datacenter, sso))
    refused = [r for r in results if isinstance(r, ValidationError)]
    written = [r for r in results if isinstance(r, Dependency)]
    assert len(written) == 1 and len(refused) == 1, results
    assert "cycle" in str(refused[0])
    assert Dependency.objects.count() == 1


def test_a_write_in_flight_still_keeps_fragments_from_being_kept_through_the_pooler(pooled):
    """A write holds the catalog lock for its transaction on one server connection; readers
    through PgBouncer, on whichever server connection, see it in flight until it commits, and
    no reader leaves the lock behind on a server connection (it takes and lets it go in one
    statement)."""
    written, done = threading.Event(), threading.Event()

    def write():
        with through(pooled), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM registry_team WHERE false")
            written.set()
            done.wait(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert written.wait(10)
        with through(pooled):
            during = [fragments.catalog_version() for _ in range(4)]
    finally:
        done.set()
        writer.join(10)
    assert [quiet for _version, quiet in during] == [False] * 4
    with through(pooled):
        after = [fragments.catalog_version() for _ in range(4)]
    assert [quiet for _version, quiet in after] == [True] * 4
    with connection.cursor() as cursor:  # directly: nobody holds the lock any more
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({fragments.LOCK_KEY})")
        assert cursor.fetchone()[0] is True


def test_skip_locked_still_skips_rows_another_transaction_holds(pooled, monkeypatch, settings):
    """One transaction holds some due rows (FOR UPDATE) on one server connection; the
    sweeper, through PgBouncer on the other, re-publishes the rest at once and skips those."""
    settings.STEWARD_REENQUEUE_AFTER_SECONDS = 0
    rows = _notices(6)
    held_ids = [r.pk for r in rows[:3]]
    published = []
    monkeypatch.setattr(
        sweeper, "_enqueue_on_commit", lambda found: published.extend(r.pk for r in found)
    )
    holding, release = threading.Event(), threading.Event()

    def hold():
        with through(pooled), transaction.atomic():
            list(Notification.objects.select_for_update().filter(pk__in=held_ids))
            holding.set()
            release.wait(timeout=20)

    def sweep():
        holding.wait(timeout=10)
        with through(pooled):
            started = time.monotonic()
            count = sweeper.stale_enqueue(now=AT + timedelta(minutes=1))
            waited = time.monotonic() - started
        release.set()
        return count, waited

    _, (count, waited) = run_together(hold, sweep)
    assert count == 3
    assert sorted(published) == sorted(r.pk for r in rows[3:])
    assert waited < 5, "the sweeper waited for the held rows instead of skipping them"


def test_claims_through_the_pooler_never_share_a_row(pooled):
    """Eight workers claim the same forty rows at once through two server connections: each
    row is taken once."""
    ids = [r.pk for r in _notices(40)]

    def claim():
        with through(pooled):
            return [n.pk for n in notifications.notifications_claim(notification_ids=ids, now=AT)]

    claimed = run_together(*[claim] * 8)
    assert not any(isinstance(c, Exception) for c in claimed), claimed
    taken = [pk for batch in claimed for pk in batch]
    assert sorted(taken) == sorted(ids)


def _notices(count: int) -> list[Notification]:
    from incidents.events import outage_event
    from incidents.models import Outage

    outage = Outage.objects.create(title="Core database down")
    outage.systems.set([SystemFactory()])
    people = [PersonFactory(email=f"p{i}@example.com") for i in range(count)]
    with transaction.atomic():
        rows = notifications.notices_send(
            event=outage_event(outage),
            topic="t",
            recipients=people,
            subject="s",
            body="",
            now=AT,
        )
    Notification.objects.filter(pk__in=[r.pk for r in rows]).update(enqueued_at=AT)
    return rows
