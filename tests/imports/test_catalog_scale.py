"""A catalog's check and import take a fixed number of queries whatever the number of entities
(new ones are inserted in bulk, existing ones read with their related rows at once), and the dry
run's counts are exactly what the import then does. Speed itself is measured in
bench/bench_catalog_check.py."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.bench_catalog_check import catalog_text
from imports.backstage.apply import catalog_import
from registry.models import AuditEntry, Dependency, ITSystem, Person, Project, Team

pytestmark = pytest.mark.django_db


def queries_of(text: str, *, dry_run: bool) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        summary = catalog_import(actor=None, text=text, dry_run=dry_run)
    return len(captured.captured_queries), summary


@pytest.mark.parametrize("dry_run", [True, False])
def test_new_entities_take_the_same_queries_at_any_size(dry_run) -> None:
    small, _ = queries_of(catalog_text(scale=0.01, seed=1), dry_run=dry_run)
    for model in (AuditEntry, Project, ITSystem, Team, Person, get_user_model()):
        model.objects.all().delete()
    large, summary = queries_of(catalog_text(scale=0.04, seed=1), dry_run=dry_run)
    assert summary["counts"]["Component"]["created"] == 140
    assert large == small


def test_an_unchanged_catalog_takes_the_same_queries_at_any_size() -> None:
    small_text, large_text = catalog_text(scale=0.01, seed=2), catalog_text(scale=0.04, seed=3)
    catalog_import(actor=None, text=small_text)
    small, _ = queries_of(small_text, dry_run=True)
    catalog_import(actor=None, text=large_text)
    large, summary = queries_of(large_text, dry_run=True)
    assert all(c["created"] == c["updated"] == 0 for c in summary["counts"].values())
    assert large == small


@pytest.mark.parametrize("seed", [4, 5])
def test_the_dry_run_counts_what_the_import_does(seed) -> None:
    first = catalog_text(scale=0.02, seed=seed)
    catalog_import(actor=None, text=first)
    # A second file: some entities the same, others changed, edges moved, new ones added.
    second = catalog_text(scale=0.03, seed=seed + 100)
    audit_before = AuditEntry.objects.count()
    edges_before = Dependency.objects.count()
    checked = catalog_import(actor=None, text=second, dry_run=True)
    assert AuditEntry.objects.count() == audit_before  # the rehearsal was rolled back
    assert Dependency.objects.count() == edges_before
    imported = catalog_import(actor=None, text=second)
    assert checked["counts"] == imported["counts"]
    assert any(c["updated"] for c in imported["counts"].values())
    assert any(c["created"] for c in imported["counts"].values())
    again = catalog_import(actor=None, text=second, dry_run=True)
    assert all(c["created"] == c["updated"] == c["removed"] == 0 for c in again["counts"].values())
