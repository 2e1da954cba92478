"""The admin: inbound events are a read-only log, heartbeats are set up by IT staff."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.test import Client

from integrations.models import Heartbeat, InboundEvent

from .conftest import pagerduty


def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


def test_the_event_log_and_heartbeats_show_and_events_cannot_be_edited(world):
    client = Client()  # the admin's forms carry their CSRF token; this client skips the check
    client.post(
        "/v2/enqueue", data=json.dumps(pagerduty(world.database)), content_type="application/json"
    )
    event = InboundEvent.objects.get()
    client.force_login(superuser())

    assert client.get("/admin/integrations/inboundevent/").status_code == 200
    detail = client.get(f"/admin/integrations/inboundevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert b"samplekeyhere" in detail.content
    assert client.get("/admin/integrations/inboundevent/add/").status_code == 403

    response = client.post(
        "/admin/integrations/heartbeat/add/",
        {
            "system": world.database.pk,
            "name": "nightly backup",
            "interval_minutes": 60,
            "grace_minutes": 10,
            "severity": "sev3",
        },
    )
    assert response.status_code == 302
    beat = Heartbeat.objects.get()
    assert (beat.interval_minutes, beat.grace_minutes, len(beat.key)) == (60, 10, 32)
    change = client.get(f"/admin/integrations/heartbeat/{beat.pk}/change/")
    assert f"/integrations/heartbeat/{beat.key}/".encode() in change.content


def test_staff_who_are_not_it_cannot_set_up_heartbeats(client, world):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_heartbeat"))
    client.force_login(user)
    assert client.get("/admin/integrations/heartbeat/add/").status_code == 403
