"""Outgoing webhooks end to end: IT opens an outage over HTTP, a real Celery worker on Redis
delivers the signed document to a local HTTP receiver, which verifies it with the Standard
Webhooks library; a receiver that fails first gets the same message id again; a redelivery
asked for on the web arrives once more under the same id."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from notifications import services as delivery
from notifications.models import Notification
from tests.e2e_support import wait_for
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from webhooks import services as webhooks

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST = {
    "STEWARD_RETRY_BASE_SECONDS": "0.3",
    "STEWARD_RETRY_MAX_SECONDS": "1",
    "STEWARD_DELIVERY_MAX_ATTEMPTS": "6",
}


@pytest.fixture(autouse=True)
def fast_sweeper(settings):
    settings.STEWARD_REENQUEUE_AFTER_SECONDS = 1


def sweep() -> None:
    delivery.sweep(now=timezone.now())


def hooks_done() -> bool:
    return not Notification.objects.filter(
        webhook_endpoint__isnull=False, state__in=["pending", "sending"]
    ).exists()


def test_an_outage_opened_over_http_reaches_each_webhook_signed_once(celery_worker, http_sink):
    celery_worker(**FAST)
    sso = SystemFactory(name="SSO", slug="sso")
    people = ProjectFactory(name="People", slug="people")
    DependencyFactory(source_project=people, target_system=sso)
    owner = PersonFactory(display_name="Pia Owner")
    ProjectRoleFactory(project=people, person=owner)
    it = it_staff_user()
    project_hook = webhooks.webhook_endpoint_create(
        actor=owner.user, project=people, url=http_sink.url("/project")
    )
    system_hook = webhooks.webhook_endpoint_create(
        actor=it, system=sso, url=http_sink.url("/system")
    )
    # The project's receiver is down for its first two tries.
    http_sink.plan("/project", [503, 500])

    client = Client()
    client.force_login(it)
    opened = client.post(
        "/api/v1/outages/",
        {"title": "SSO down", "systems": ["sso"], "severity": "sev1"},
        content_type="application/json",
    )
    assert opened.status_code == 201, opened.content

    wait_for(hooks_done, timeout=40, while_waiting=sweep, message="the webhooks to be sent")
    received = {
        path: [r for r in http_sink.requests if r.path == path] for path in ("/project", "/system")
    }
    assert [r.accepted for r in received["/project"]] == [False, False, True]
    assert len(received["/system"]) == 1
    # Every try of one message carries the same id, body and a valid signature.
    assert len({r.headers["webhook-id"] for r in received["/project"]}) == 1
    assert len({r.body for r in received["/project"]}) == 1
    for path, hook in (("/project", project_hook), ("/system", system_hook)):
        for request in received[path]:
            document = Webhook(hook.secret).verify(request.body, request.headers)
            assert document["type"] == "outage.opened"
            assert document["outage"]["title"] == "SSO down"
    row = project_hook.deliveries.get()
    assert row.state == "sent"
    assert [a.outcome for a in row.attempts_made] == ["retry", "retry", "sent"]

    # The owner asks for it again on the endpoint's page.
    owner_client = Client()
    owner_client.force_login(owner.user)
    answer = owner_client.post(f"/webhooks/{project_hook.pk}/deliveries/{row.pk}/redeliver/")
    assert answer.status_code == 302
    wait_for(
        lambda: len([r for r in http_sink.requests if r.path == "/project"]) == 4 and hooks_done(),
        timeout=30,
        while_waiting=sweep,
        message="the redelivery",
    )
    ids = Counter(r.headers["webhook-id"] for r in http_sink.requests if r.accepted)
    assert ids == Counter(
        {json.loads(row.body)["id"]: 2, json.loads(system_hook.deliveries.get().body)["id"]: 1}
    )
