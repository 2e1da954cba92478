"""A database migrated from the layout before the apps were split keeps its rows: the moved
models read the same tables, and generic links (a notification's event) follow their model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from changes.models import Change, ChangeResponse
from incidents.models import Subscription
from notifications.models import Notification
from oncall.models import Rotation
from portal.models import ProblemReport
from registry.models import AuditEntry
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)

# The last migration of each app before the split (main at 11975ec).
BEFORE_THE_SPLIT = [
    ("registry", "0002_oncall"),
    ("incidents", "0002_portal"),
    ("notifications", "0004_webhook_endpoints"),
    ("integrations", "0002_inbound_received_index"),
]
NEW_APPS = ["oncall", "changes", "portal", "webhooks"]


def _migrate(targets: list[tuple[str, str | None]]):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    # (app, None) unapplies an app; the state before it is that of the others' targets.
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_the_split():
    old = _migrate([*BEFORE_THE_SPLIT, *[(app, None) for app in NEW_APPS]])
    yield old
    _migrate_to_latest()  # whatever the test did, the next one finds today's schema


def test_rows_written_before_the_split_are_read_through_the_moved_models(before_the_split):
    old = before_the_split
    now = timezone.now()
    user = old.get_model("auth", "User").objects.create(username="ines")
    person = old.get_model("registry", "Person").objects.create(
        user=user, display_name="Ines", email="ines@example.com", time_zone="Europe/Dublin"
    )
    project = old.get_model("registry", "Project").objects.create(name="People", slug="people")
    system = old.get_model("registry", "ITSystem").objects.create(name="SSO", slug="sso")
    rotation = old.get_model("registry", "Rotation").objects.create(name="Primary", project=project)
    change = old.get_model("incidents", "Change").objects.create(
        title="SSO upgrade", planned_start_at=now, planned_end_at=now + timedelta(hours=1)
    )
    change.systems.add(system)
    old.get_model("incidents", "ChangeResponse").objects.create(
        change=change, project=project, person=person, answer="fine"
    )
    report = old.get_model("incidents", "ProblemReport").objects.create(
        project=project, description="Login loops"
    )
    old.get_model("incidents", "Subscription").objects.create(
        project=project, address="ines@example.com", confirmed_at=now
    )
    endpoint = old.get_model("notifications", "WebhookEndpoint").objects.create(
        project=project, url="https://hooks.example.com/steward"
    )
    audit = old.get_model("registry", "AuditEntry").objects
    for label, pk in (
        ("registry.rotation", rotation.pk),
        ("notifications.webhookendpoint", endpoint.pk),
    ):
        audit.create(action="create", object_type=label, object_id=str(pk), object_repr="x")
    old_types = old.get_model("contenttypes", "ContentType").objects
    change_type, _ = old_types.get_or_create(app_label="incidents", model="change")
    old.get_model("notifications", "Notification").objects.create(
        event_type_id=change_type.pk,
        event_id=change.pk,
        project=project,
        topic="change.scheduled",
        kind="notice",
        channel="webhook",
        address=endpoint.url,
        webhook_endpoint=endpoint,
        idempotency_key="change-1-webhook",
        subject="SSO upgrade",
        deliver_after=now,
        created_at=now,
    )

    _migrate_to_latest()
    ContentType.objects.clear_cache()

    assert Rotation.objects.get().pk == rotation.pk
    moved = Change.objects.get()
    assert (moved.pk, moved.title) == (change.pk, "SSO upgrade")
    assert list(moved.systems.values_list("slug", flat=True)) == ["sso"]
    assert ChangeResponse.objects.get().change_id == change.pk
    assert ProblemReport.objects.get().pk == report.pk
    assert Subscription.objects.get().address == "ines@example.com"
    assert WebhookEndpoint.objects.get().pk == endpoint.pk
    notification = Notification.objects.get()
    assert notification.event == moved
    assert notification.webhook_endpoint_id == endpoint.pk
    assert not ContentType.objects.filter(app_label="incidents", model="change").exists()
    assert ContentType.objects.get_for_model(Subscription).app_label == "incidents"
    assert sorted(AuditEntry.objects.values_list("object_type", flat=True)) == [
        "oncall.rotation",
        "webhooks.webhookendpoint",
    ]
