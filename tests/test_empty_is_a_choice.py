"""Lists and maps where empty is a choice the form offers (no reminders for a change, no working
hours for a person) are saved, not refused as "This field cannot be blank." without a field name
(full_clean treats an empty JSON value as blank unless the field allows it)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from changes import services as change_services
from registry import services as registry_services
from registry.models import Person
from tests.factories import PersonFactory, SystemFactory, it_staff_user

pytestmark = pytest.mark.django_db

START = datetime(2027, 3, 10, 15, 0, tzinfo=UTC)


def test_a_change_with_no_reminders_is_saved():
    change = change_services.change_create(
        actor=it_staff_user(),
        title="Quiet change",
        planned_start_at=START,
        planned_end_at=START + timedelta(hours=1),
        systems=[SystemFactory()],
        reminder_lead_minutes=[],
    )
    change.refresh_from_db()
    assert change.reminder_lead_minutes == []


def test_a_person_with_no_working_hours_is_saved_from_the_profile_page():
    person = PersonFactory(display_name="Lea On Leave")
    registry_services.person_update(actor=person.user, person=person, working_hours={})
    assert Person.objects.get(pk=person.pk).working_hours == {}
    client = Client()
    client.force_login(person.user)
    response = client.post(
        "/me/", {"display_name": "Lea On Leave", "email": "", "time_zone": "Europe/Dublin"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Person.objects.get(pk=person.pk).time_zone == "Europe/Dublin"
