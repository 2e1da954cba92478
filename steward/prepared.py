"""Statements PostgreSQL plans once a connection (PREPARE / EXECUTE), for the few that run so
often that parsing and planning cost as much as the work: delivery's claim and its record, once a
batch of a large fan-out (on this machine 110 µs of the server's CPU a message as plain
statements, 68 µs prepared, in batches of 16), and the reads every signed-in request makes (its
session, its account, the catalog version: 271 µs for the account's read sent whole, 86 µs
prepared, most of the difference its planning).

A prepared statement belongs to one server session. Behind PgBouncer in transaction mode
(`DATABASE_POOLER=transaction`) consecutive transactions of one connection may run on different
server sessions, so there `STEWARD_PREPARED_STATEMENTS` is off and the statement is sent whole
every time, as it is when anything about preparing fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg2
import psycopg2.errors
from django.conf import settings
from django.db import DatabaseError

log = logging.getLogger(__name__)

_PARAMETER = re.compile(r"%\((\w+)\)s")
INVALID_SQL_STATEMENT_NAME = "26000"  # "prepared statement … does not exist"
# "cached plan must not change result type": a column it reads changed type since it was
# prepared (a migration run while this process kept its connection).
FEATURE_NOT_SUPPORTED = "0A000"


class Prepared:
    """One statement with named parameters (`%(name)s`) and the types PostgreSQL takes them as,
    in order. `before` runs first in the same implicit transaction (a `SET LOCAL`)."""

    def __init__(self, name: str, sql: str, types: Mapping[str, str], *, before: str = ""):
        used = set(_PARAMETER.findall(sql))
        if used != set(types):
            raise ValueError(f"{name}: parameters {sorted(used)} but types for {sorted(types)}")
        self.name = name
        position = {parameter: index for index, parameter in enumerate(types, start=1)}
        # PREPARE is sent without parameters, so psycopg2 leaves a `%%` as it is: written `%`.
        body = _PARAMETER.sub(lambda match: f"${position[match[1]]}", sql).replace("%%", "%")
        declared = f" ({', '.join(types.values())})" if types else ""
        self.prepare = f"PREPARE {name}{declared} AS {body}"
        arguments = ", ".join(f"%({parameter})s" for parameter in types)
        first = f"{before}; " if before else ""
        self.plain = f"{first}{sql}"
        self.execute = f"{first}EXECUTE {name}({arguments})" if types else f"{first}EXECUTE {name}"


@dataclass
class _Session:
    """What one server session (`raw`, the driver's connection) has prepared: `ready`, by name,
    and `stale`, those whose plan no longer fits (replaced when next prepared)."""

    raw: object
    ready: set[str] = field(default_factory=set)
    stale: set[str] = field(default_factory=set)


def execute(cursor, statement: Prepared, params: Mapping[str, object]) -> None:
    """Run `statement` on `cursor` (a Django cursor): prepared in this server session the first
    time it runs there, executed by name from then on."""
    if not settings.STEWARD_PREPARED_STATEMENTS:
        cursor.execute(statement.plain, params)
        return
    db = cursor.db
    session = getattr(db, "_steward_prepared", None)
    if session is None or session.raw is not db.connection:  # a new session has none of them
        session = db._steward_prepared = _Session(db.connection)
    if statement.name not in session.ready:
        stale = statement.name in session.stale
        if not _prepare(session.raw, statement, inside=db.in_atomic_block, stale=stale):
            cursor.execute(statement.plain, params)
            return
        session.ready.add(statement.name)
        session.stale.discard(statement.name)
    try:
        cursor.execute(statement.execute, params)
    except DatabaseError as exc:
        # The session no longer has it (a pooler that shares sessions, though DATABASE_POOLER
        # does not say so; a DISCARD ALL), or its plan no longer fits the table: nothing ran.
        # Sent whole, prepared again next time (a stale one replaced).
        code = getattr(exc.__cause__, "pgcode", None)
        if code == INVALID_SQL_STATEMENT_NAME:
            session.ready.clear()
        elif code == FEATURE_NOT_SUPPORTED:
            session.ready.discard(statement.name)
            session.stale.add(statement.name)
        else:
            raise
        if db.in_atomic_block:
            raise  # the caller's transaction is lost with the statement
        log.warning("Prepared statement %s was gone or stale; sent whole", statement.name)
        cursor.execute(statement.plain, params)


def _prepare(raw, statement: Prepared, *, inside: bool, stale: bool = False) -> bool:
    """PREPARE on the raw connection, out of sight of the caller's transaction (a PREPARE is
    not undone by a rollback, and a failure must not abort what the caller is doing); whether
    the session has it now. A `stale` one (its plan no longer fits) is let go first."""
    with raw.cursor() as cursor:
        try:
            if inside:
                cursor.execute("SAVEPOINT steward_prepare")
            try:
                if stale:
                    cursor.execute(
                        "SELECT 1 FROM pg_prepared_statements WHERE name = %s", [statement.name]
                    )
                    if cursor.fetchone():
                        cursor.execute(f"DEALLOCATE {statement.name}")
                cursor.execute(statement.prepare)
            except psycopg2.errors.DuplicatePreparedStatement:
                pass  # prepared in this session by another wrapper of it: the same text
            finally:
                if inside:
                    cursor.execute("ROLLBACK TO SAVEPOINT steward_prepare")
                    cursor.execute("RELEASE SAVEPOINT steward_prepare")
        except psycopg2.Error:
            return False
    return True
