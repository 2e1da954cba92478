"""One bad alert must not cost its group, as a class: every way an alert of an otherwise usable
Alertmanager notification can be unusable, set beside good alerts. Alertmanager drops a whole
notification answered 4xx, so the answer is a 2xx: the good alerts are stored and act, the bad
ones are named per alert in the answer, stored on the inbound event, and shown to IT on the
system's page. Only a notification that is not one (no group key, wrong version…) is a 400.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.test import Client

from incidents.models import Outage
from integrations.models import InboundEvent
from notifications.models import Page
from tests.factories import PersonFactory, it_staff_user

from .conftest import alertmanager

# What can be wrong with one alert: (what is done to it, the field the error names).
BAD_ALERTS = {
    "unknown steward_system": (
        lambda a: a["labels"].update(steward_system="mainframe"),
        "labels.steward_system",
    ),
    "status burning": (lambda a: a.update(status="burning"), "status"),
    "status missing": (lambda a: a.pop("status"), "status"),
    "labels not strings": (lambda a: a["labels"].update(severity=1), "labels"),
    "labels a list": (lambda a: a.update(labels=["a"]), "labels"),
    "annotations not strings": (lambda a: a["annotations"].update(summary=None), "annotations"),
    "startsAt garbage": (lambda a: a.update(startsAt="soon"), "startsAt"),
    "startsAt overflows": (lambda a: a.update(startsAt="9999-12-31T23:59:59-14:00"), "startsAt"),
    "startsAt before year 1": (
        lambda a: a.update(startsAt="0001-01-01T00:00:00+14:00"),
        "startsAt",
    ),
    "fingerprint too long": (lambda a: a.update(fingerprint="f" * 201), "fingerprint"),
    "fingerprint a number": (lambda a: a.update(fingerprint=7), "fingerprint"),
}


def _notification(bad: str, *, where: int) -> dict:
    """Three alerts on the key's system; the one at `where` made bad."""
    body = alertmanager()
    good = body["alerts"][0]
    body["alerts"] = []
    for index in range(3):
        alert = copy.deepcopy(good)
        alert["fingerprint"] = f"fp{index}"
        alert["labels"]["instance"] = f"https://server{index}.example.org"
        body["alerts"].append(alert)
    spoil, _field = BAD_ALERTS[bad]
    spoil(body["alerts"][where])
    return body


def _post(client, system, body):
    return client.post(
        f"/integrations/alertmanager/{system.integration_key}/",
        data=json.dumps(body),
        content_type="application/json",
    )


@pytest.mark.parametrize("where", [0, 2], ids=["first", "last"])
@pytest.mark.parametrize("bad", BAD_ALERTS)
def test_one_bad_alert_is_reported_and_the_rest_of_the_group_stored(client, world, bad, where):
    _spoil, field = BAD_ALERTS[bad]

    response = _post(client, world.database, _notification(bad, where=where))

    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["status"] == "partial"
    assert answer["outcome"] == "opened"
    assert answer["accepted"] == [i for i in range(3) if i != where]
    [rejected] = answer["rejected"]
    assert rejected["alert"] == where
    assert any(f"'alerts[{where}].{field}'" in error for error in rejected["errors"]), rejected
    # The good alerts acted: the outage is open and the project that depends on it paged.
    outage = Outage.objects.get()
    assert outage.title.endswith("(2 alerts)")
    assert Page.objects.get().project == world.wiki
    # IT can see what was set aside.
    event = InboundEvent.objects.get()
    assert event.outage == outage and event.rejected == answer["rejected"]


@pytest.mark.parametrize("bad", BAD_ALERTS)
def test_a_group_of_only_bad_alerts_is_recorded_and_answered_2xx(client, world, bad):
    body = _notification(bad, where=0)
    body["alerts"] = body["alerts"][:1]

    response = _post(client, world.database, body)

    assert response.status_code == 202, response.content
    assert (response.json()["outcome"], response.json()["accepted"]) == ("rejected", [])
    assert not Outage.objects.exists()
    event = InboundEvent.objects.get()
    assert (event.outcome, event.system, len(event.rejected)) == ("rejected", world.database, 1)


def test_a_rejected_alert_keeps_the_outage_it_may_still_hold_open(client, world):
    body = alertmanager()
    sso_alert = copy.deepcopy(body["alerts"][0])
    sso_alert["labels"]["steward_system"] = "sso"
    body["alerts"].append(sso_alert)
    _post(client, world.database, body)
    assert Outage.objects.filter(resolved_at__isnull=True).count() == 2

    # The SSO alert comes back unusable: Steward cannot tell whether it still fires.
    body["alerts"][1]["status"] = "burning"
    response = _post(client, world.database, body)

    assert response.status_code == 202
    assert Outage.objects.filter(resolved_at__isnull=True).count() == 2


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"version": "3"}, "'version'"),
        ({"groupKey": None}, "'groupKey'"),
        ({"alerts": []}, "'alerts'"),
        ({"alerts": "all"}, "'alerts'"),
        ({"status": "burning"}, "'status'"),
        ({"truncatedAlerts": -1}, "'truncatedAlerts'"),
        ({"commonLabels": {"a": 1}}, "'commonLabels'"),
    ],
    ids=["version", "groupKey", "no alerts", "alerts not a list", "status", "truncated", "labels"],
)
def test_a_notification_that_is_not_one_is_a_400_writing_nothing(client, world, change, said):
    body = alertmanager()
    body.update(change)

    response = _post(client, world.database, body)

    assert response.status_code == 400
    assert response.json()["status"] == "invalid"
    assert any(error.startswith(said) for error in response.json()["errors"])
    assert not InboundEvent.objects.exists() and not Outage.objects.exists()


def test_it_staff_see_the_alerts_that_were_not_stored_on_the_systems_page(client, world):
    _post(client, world.database, _notification("unknown steward_system", where=1))
    it, reader = Client(), Client()
    it.force_login(it_staff_user())
    reader.force_login(PersonFactory().user)

    page = it.get(f"/systems/{world.database.slug}/").content.decode()

    assert "1 alert not stored" in page
    assert "names no IT system (got &#x27;mainframe&#x27;)" in page
    assert "fp1" in page
    assert "mainframe" not in reader.get(f"/systems/{world.database.slug}/").content.decode()
