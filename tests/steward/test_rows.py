"""steward.rows: the instances built from a plain statement's rows are what the ORM's `from_db`
makes of the same row (converted values, deferred fields, init signals when someone listens)."""

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models.signals import post_init

from notifications.models import Page
from steward.rows import Columns
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page():
    return Page.objects.create(
        event_type=ContentType.objects.get_for_model(Page),
        event_id=1,
        project=ProjectFactory(),
        subject="Datacenter down",
        levels=[[1, 2], [3]],  # a JSON column: read through its converter
        delays=[300],
        opened_at=datetime(2026, 12, 7, 1, 2, tzinfo=UTC),
    )


def _read(columns: Columns, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns.select()} FROM {Page._meta.db_table} {columns.alias} "  # noqa: S608
            f"WHERE {columns.alias}.id = %s",
            [pk],
        )
        return cursor.fetchone()


def test_every_field_as_the_orm_reads_it(page):
    columns = Columns(Page, "p")
    built = columns.build(_read(columns, page.pk))
    read = Page.objects.get(pk=page.pk)
    for field in Page._meta.concrete_fields:
        assert getattr(built, field.attname) == getattr(read, field.attname), field.name
    assert built.levels == [[1, 2], [3]]
    assert (built._state.adding, built._state.db) == (False, "default")
    assert built.get_deferred_fields() == set()


def test_fields_not_read_are_deferred_and_load_on_access(page):
    columns = Columns(Page, "p", only={"id", "state"})
    built = columns.build(_read(columns, page.pk))
    assert built.state == "open"
    assert "subject" in built.get_deferred_fields()
    assert built.subject == "Datacenter down"  # one query, as with `only`


def test_through_from_db_when_someone_listens_for_init(page):
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.pk)

    columns = Columns(Page, "p")
    values = _read(columns, page.pk)
    build = columns.builder()  # asked before anyone listened: a builder is for one statement
    post_init.connect(listener, sender=Page)
    try:
        built = columns.build(values)
    finally:
        post_init.disconnect(listener, sender=Page)
    assert seen == [page.pk]
    assert built.levels == [[1, 2], [3]]
    assert build(values).pk == page.pk and seen == [page.pk]
