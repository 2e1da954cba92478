"""On-call load per person per month: pages received (once per message whatever the channels),
those outside working hours, hours on call across rotations (overlaps once); who sees it."""

import datetime as dt
from datetime import UTC, datetime

import pytest
from django.test import Client

from incidents.services import outages as outage_services
from notifications.load import may_see_load, oncall_load
from oncall import services as oncall_services
from registry.models import Team
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def test_on_call_load_of_a_month_and_who_sees_it():
    it_user = it_staff_user()
    nia = PersonFactory(display_name="Nia", time_zone="UTC", working_hours=WEEKDAYS)
    ContactMethodFactory(person=nia, kind="email", address="nia.sms@example.com")
    project = ProjectFactory(name="Atlas", slug="atlas")
    other = ProjectFactory(name="Billing", slug="billing")
    system = SystemFactory(name="DB", slug="db")
    for p in (project, other):
        ProjectRoleFactory(project=p, person=nia)
        DependencyFactory(source_project=p, target_system=system)
        rotation = oncall_services.rotation_create(actor=None, name=f"{p.name} on call", project=p)
        oncall_services.layer_create(
            actor=None,
            rotation=rotation,
            members=[nia],
            time_zone="UTC",
            start_date=dt.date(2025, 1, 1),
            handoff_time=dt.time(9, 0),
            length="weekly",
        )
    # Monday 10:00 (working) and Tuesday 03:00 (not): two outages, each paging both projects
    # in one message per channel (email and the second contact method).
    for when in (datetime(2025, 3, 3, 10, 0, tzinfo=UTC), datetime(2025, 3, 4, 3, 0, tzinfo=UTC)):
        outage = outage_services.outage_open(
            actor=it_user, title="DB down", systems=[system], now=when
        )
        outage_services.outage_resolve(actor=it_user, outage=outage, now=when)
    load = oncall_load(nia, year=2025, month=3)
    assert (load.pages, load.pages_out_of_hours) == (2, 1)
    # On call all March in both rotations at once: 744 hours, counted once.
    assert load.hours_on_call == 744.0
    assert oncall_load(nia, year=2025, month=2).hours_on_call == 28 * 24

    lead, reader = PersonFactory(), PersonFactory()
    team = Team.objects.create(name="Blue", slug="blue")
    team.members.add(nia)
    team.leads.add(lead)
    assert may_see_load(nia.user, nia) and may_see_load(lead.user, nia)
    assert may_see_load(it_user, nia) and not may_see_load(reader.user, nia)
    client = Client()
    client.force_login(lead.user)
    body = client.get(f"/notifications/load/{nia.pk}/?month=2025-03").content.decode()
    assert "<td>2025-03</td><td>2</td><td>1</td><td>744.0</td>" in body
    client.force_login(reader.user)
    assert client.get(f"/notifications/load/{nia.pk}/").status_code == 403
    assert client.get("/notifications/load/?month=2025-3").status_code == 400
