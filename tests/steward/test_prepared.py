"""steward.prepared: a statement prepared once a server session, executed by name after, the
same rows as the statement sent whole; sent whole where preparing is off or fails, or where the
session lost it or its plan went stale."""

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from steward import prepared
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db(transaction=True)

SUM = prepared.Prepared(
    "steward_test_sum",
    "SELECT sum(x) FROM unnest(%(xs)s::int[]) AS x WHERE x > %(above)s",
    {"xs": "int[]", "above": "int"},
    before="SET LOCAL statement_timeout = '5s'",
)


def _run(statement, **params):
    with connection.cursor() as cursor:
        prepared.execute(cursor, statement, params)
        return cursor.fetchall()


def _prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_prepared_once_a_session_and_the_same_rows_as_sent_whole(settings):
    settings.STEWARD_PREPARED_STATEMENTS = True
    with connection.cursor() as cursor:
        cursor.execute(SUM.plain, {"xs": [1, 2, 3, 4], "above": 1})
        whole = cursor.fetchall()
    assert "steward_test_sum" not in _prepared_here()
    assert _run(SUM, xs=[1, 2, 3, 4], above=1) == whole == [(9,)]
    assert "steward_test_sum" in _prepared_here()
    assert _run(SUM, xs=[5, 6], above=5) == [(6,)]
    # A new server session has none of them: prepared again there.
    connection.close()
    assert "steward_test_sum" not in _prepared_here()
    assert _run(SUM, xs=[7], above=0) == [(7,)]
    assert "steward_test_sum" in _prepared_here()


def test_a_percent_sign_is_the_same_prepared_as_sent_whole(settings):
    """A statement's `%%` (a literal `%` for psycopg2, as in LIKE patterns) is one `%` in the
    PREPARE, which is sent without parameters: the search's patterns and operators."""
    settings.STEWARD_PREPARED_STATEMENTS = True
    like = prepared.Prepared(
        "steward_test_like",
        "SELECT %(text)s LIKE '%%' || %(part)s || '%%', 7 %% 4",
        {"text": "text", "part": "text"},
    )
    assert _run(like, text="a%b", part="%") == [(True, 3)]
    assert _run(like, text="abc", part="x") == [(False, 3)]
    assert "steward_test_like" in _prepared_here()


def test_off_behind_a_transaction_pooler_it_is_sent_whole(settings):
    settings.STEWARD_PREPARED_STATEMENTS = False
    connection.close()
    assert _run(SUM, xs=[1, 2], above=0) == [(3,)]
    assert "steward_test_sum" not in _prepared_here()


def test_a_statement_that_cannot_be_prepared_is_sent_whole_and_spoils_no_transaction(settings):
    settings.STEWARD_PREPARED_STATEMENTS = True
    odd = prepared.Prepared("steward_test_odd", "SELECT %(x)s::int + 1", {"x": "no_such_type"})
    with transaction.atomic():
        assert _run(odd, x=1) == [(2,)]
        # The caller's transaction goes on.
        assert _run(SUM, xs=[2, 3], above=0) == [(5,)]
    assert "steward_test_odd" not in _prepared_here()
    assert _run(odd, x=2) == [(3,)]  # outside a transaction too


def test_its_parameters_and_their_types_must_match():
    with pytest.raises(ValueError, match="parameters"):
        prepared.Prepared("steward_test_bad", "SELECT %(a)s", {"b": "int"})


def test_a_statement_the_session_lost_is_sent_whole_and_prepared_again(settings, caplog):
    """A session that no longer has it (DISCARD ALL, or a pooler sharing sessions that
    DATABASE_POOLER does not name): the statement is sent whole, prepared again next time."""
    settings.STEWARD_PREPARED_STATEMENTS = True
    assert _run(SUM, xs=[1, 2], above=0) == [(3,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert _run(SUM, xs=[2, 3], above=0) == [(5,)]
    assert "was gone" in caplog.text
    assert "steward_test_sum" not in _prepared_here()
    assert _run(SUM, xs=[4], above=0) == [(4,)]
    assert "steward_test_sum" in _prepared_here()


def test_inside_a_transaction_a_lost_statement_is_an_error_not_a_silent_retry(settings):
    from django.db import OperationalError

    settings.STEWARD_PREPARED_STATEMENTS = True
    assert _run(SUM, xs=[1], above=0) == [(1,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(OperationalError), transaction.atomic():
        _run(SUM, xs=[1], above=0)
    assert _run(SUM, xs=[6], above=0) == [(6,)]  # prepared again afterwards


def test_a_statement_without_parameters(settings):
    settings.STEWARD_PREPARED_STATEMENTS = True
    answer = prepared.Prepared("steward_test_answer", "SELECT 41 + 1", {})
    assert answer.prepare == "PREPARE steward_test_answer AS SELECT 41 + 1"
    assert answer.execute == "EXECUTE steward_test_answer"
    assert _run(answer) == [(42,)]
    assert "steward_test_answer" in _prepared_here()
    assert _run(answer) == [(42,)]


def _stale_column(statement) -> None:
    """Prepare `statement` over a session's own table, then change the type of the column it
    reads (as a migration would while this process keeps its connection)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE steward_test_stale (x int)")
        cursor.execute("INSERT INTO steward_test_stale VALUES (7)")
    assert _run(statement) == [(7,)]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE steward_test_stale ALTER COLUMN x TYPE bigint")


def test_a_plan_a_changed_column_made_stale_is_sent_whole_then_prepared_again(settings, caplog):
    settings.STEWARD_PREPARED_STATEMENTS = True
    read = prepared.Prepared("steward_test_stale_read", "SELECT x FROM steward_test_stale", {})
    _stale_column(read)
    assert _run(read) == [(7,)]
    assert "was gone or stale" in caplog.text
    caplog.clear()
    # Let go and prepared again, not left broken.
    assert _run(read) == [(7,)]
    assert _run(read) == [(7,)]
    assert "steward_test_stale_read" in _prepared_here()
    assert not caplog.text


def test_inside_a_transaction_a_stale_plan_is_an_error_then_replaced(settings):
    from django.db import NotSupportedError

    settings.STEWARD_PREPARED_STATEMENTS = True
    read = prepared.Prepared("steward_test_stale_read", "SELECT x FROM steward_test_stale", {})
    _stale_column(read)
    with pytest.raises(NotSupportedError), transaction.atomic():
        _run(read)
    with transaction.atomic():  # the stale one let go and prepared again, inside a transaction
        assert _run(read) == [(7,)]
    assert _run(read) == [(7,)]


def test_every_signed_in_request_reads_through_prepared_statements(settings):
    """The reads each signed-in page makes (its session, its account, the catalog version of
    its kept fragments) are prepared on the first request of a session, executed by name from
    the second, as many statements as before."""
    settings.STEWARD_PREPARED_STATEMENTS = True
    client = Client()
    client.force_login(PersonFactory().user)
    connection.close()
    assert client.get("/").status_code == 200
    assert {"steward_session", "steward_account", "steward_catalog_version"} <= _prepared_here()
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    executed = sorted(q["sql"].split("(")[0] for q in queries if q["sql"].startswith("EXECUTE"))
    assert executed == [
        "EXECUTE steward_account",
        "EXECUTE steward_catalog_version",
        "EXECUTE steward_session",
    ]
