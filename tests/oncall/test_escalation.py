"""A page runs through the project's escalation policy, on a controllable clock; the policy in
force when the page opened is the one that runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from notifications import services as notifications
from notifications.models import Notification
from oncall import services as oncall_services
from oncall.models import RotationLayer
from tests.factories import ProjectFactory, SystemFactory
from tests.oncall.helpers import layer, person, rotation, utc

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


def _outage(system):
    from incidents.events import outage_event
    from incidents.models import Outage

    outage = Outage.objects.create(title="Core database down")
    outage.systems.set([system])
    return outage_event(outage)


def _paged(page) -> list[int]:
    return list(
        Notification.objects.filter(page=page)
        .order_by("round", "id")
        .values_list("recipient_id", flat=True)
        .distinct()
    )


def test_page_follows_the_policy_levels_delays_and_repeats():
    project = ProjectFactory()
    ann, bob, lead = person("Ann"), person("Bob"), person("Lead")
    contact = person("Contact")
    system = SystemFactory()
    system.contacts.add(contact)
    rot = rotation(project)
    layer(rot, [ann, bob], length=RotationLayer.Length.DAILY, start_date=date(2025, 1, 6))
    policy = oncall_services.escalation_policy_create(
        actor=None,
        project=project,
        repeat_count=0,
        levels=[
            {"target": "rotation", "rotation": rot, "delay_minutes": 5},
            {"target": "person", "person": lead, "delay_minutes": 20},
            {"target": "it_contacts", "delay_minutes": 1},
        ],
    )
    t0 = utc(2025, 1, 7, 12)  # Bob: 7 January 09:00 to 8 January 09:00 (Ann had the 6th)
    page = notifications.pages_open(
        event=_outage(system), project=project, subject="Down", body="", now=t0
    )
    assert page.levels == [[bob.pk], [lead.pk], [contact.pk]]
    assert _paged(page) == [bob.pk]
    # Editing the policy now does not change the page under way.
    oncall_services.escalation_policy_update(
        actor=None, policy=policy, levels=[{"target": "person", "person": ann, "delay_minutes": 1}]
    )
    assert notifications.sweep(now=t0 + 4 * MIN).escalated == 0
    assert notifications.sweep(now=t0 + 5 * MIN).escalated == 1
    assert _paged(page)[-1] == lead.pk
    assert notifications.sweep(now=t0 + 24 * MIN).escalated == 0
    assert notifications.sweep(now=t0 + 25 * MIN).escalated == 1
    assert _paged(page)[-1] == contact.pk
    # No repeats: the page stays open, unacknowledged, and nobody else is paged.
    assert notifications.sweep(now=t0 + 120 * MIN).escalated == 0
    assert ann.pk not in _paged(page)


def test_without_a_policy_the_on_call_is_paged_first():
    project = ProjectFactory()
    ann = person("Ann")
    rot = rotation(project)
    layer(rot, [ann])
    page = notifications.pages_open(
        event=_outage(SystemFactory()),
        project=project,
        subject="Down",
        body="",
        now=utc(2025, 2, 4),
    )
    assert page.levels[0] == [ann.pk]
