"""A list where empty is a choice the form offers (no reminders for a change) is saved, not
refused as "This field cannot be blank." without a field name (full_clean treats an empty JSON
value as blank unless the field allows it)."""

from datetime import UTC, datetime, timedelta

import pytest

from changes import services as change_services
from tests.factories import SystemFactory, it_staff_user

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
