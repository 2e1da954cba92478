"""Counting the queries of a page as it is served once warm."""

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def warm_read(client: Client, url: str) -> tuple[int, str]:
    """The number of queries of a GET of `url`, and its body, once what is kept between
    requests is kept: a first read of a project also reads its on-call rules (`oncall.cache`),
    so counts compared must both be of a second read."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries), response.content.decode()


def rendered_read(client: Client, url: str) -> tuple[int, str]:
    """`warm_read`, but of a page whose kept fragments (`steward.fragments`) are out of date, as
    after any write: the count of rendering them again, with everything else kept."""
    client.get(url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('steward_catalog_version')")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries), response.content.decode()
