"""Counting the queries of a page as it is served once warm."""

from collections.abc import Callable

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def warm_read(client: Client, url: str) -> tuple[int, str]:
    """The number of queries of a GET of `url`, and its body, once what is kept between
    requests is kept: a first read of a project also reads its on-call rules (`oncall.cache`),
    so counts compared must both be of a second read."""
    queries, body = _second_read(client, url)
    return len(queries), body


def rendered_read(client: Client, url: str) -> tuple[int, str]:
    """`warm_read`, but of a page whose kept fragments (`steward.fragments`) are out of date, as
    after any write: the count of rendering them again, with everything else kept."""
    queries, body = rendered_queries(client, url)
    return len(queries), body


def rendered_queries(client: Client, url: str) -> tuple[list[dict], str]:
    """The queries (`sql`, `time`) of `rendered_read`, and the body."""
    return _second_read(client, url, between=catalog_touched)


def catalog_touched() -> None:
    """Move the catalog version on, as any write would: every kept fragment is out of date."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('steward_catalog_version')")


def _second_read(
    client: Client, url: str, *, between: Callable[[], None] | None = None
) -> tuple[list[dict], str]:
    client.get(url)
    if between is not None:
        between()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return queries.captured_queries, response.content.decode()
