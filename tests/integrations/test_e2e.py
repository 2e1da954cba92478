"""End to end: an event sent over HTTP reaches the owner's inbox through a real Celery worker on
Redis and a local SMTP server; concurrent senders of one dedup key make one outage."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from incidents.models import Outage
from integrations.models import InboundEvent
from notifications import services as delivery
from notifications.models import Notification, Page
from tests.e2e_support import celery_worker, smtp_sink, wait_for  # noqa: F401

from .conftest import pagerduty

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def post(body) -> int:
    return (
        Client()
        .post("/v2/enqueue", data=json.dumps(body), content_type="application/json")
        .status_code
    )


def test_a_trigger_pages_the_owner_by_email_and_resolve_stops_the_rest(
    world,
    celery_worker,  # noqa: F811
    smtp_sink,  # noqa: F811
):
    celery_worker(smtp_port=smtp_sink.port)

    assert post(pagerduty(world.database)) == 202

    wait_for(
        lambda: Notification.objects.filter(state="sent").count() == 1,
        timeout=30,
        while_waiting=lambda: delivery.sweep(now=timezone.now()),
        message="the page to be emailed",
    )
    [message] = smtp_sink.messages
    assert message["To"] == "olga@example.com"
    assert "Example alert on host1.example.com" in message["Subject"]

    resolve = {
        "routing_key": world.database.integration_key,
        "dedup_key": "samplekeyhere",
        "event_action": "resolve",
    }
    assert post(resolve) == 202
    assert Outage.objects.get().status == Outage.Status.RESOLVED
    assert Page.objects.get().state == Page.State.STOPPED


def test_concurrent_triggers_with_one_dedup_key_make_one_outage(world):
    body = pagerduty(world.database)
    answers: list[int] = []
    start = threading.Barrier(6)

    def send() -> None:
        try:
            start.wait()
            answers.append(post(body))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [202] * 6
    assert Outage.objects.count() == 1
    assert Page.objects.count() == 1
    assert sorted(InboundEvent.objects.values_list("outcome", flat=True)) == ["joined"] * 5 + [
        "opened"
    ]
