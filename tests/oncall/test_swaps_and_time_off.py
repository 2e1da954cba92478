"""Shift swap and cover requests between members, and time off covered by the next member in
turn: through the services (who may, what is refused) and through the schedule page (htmx)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from oncall import services
from oncall.bulk import oncall_now_by_project
from oncall.models import Override, RotationLayer, ShiftSwap, TimeOff
from oncall.schedule import oncall_at, rotation_shifts
from registry.models import AuditEntry, ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory
from tests.oncall.helpers import fresh, layer, person, rotation, utc

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def daily():
    """Ann, Bob and Cat take daily shifts handing off at 09:00 UTC, Ann first on Mon 5 Jan 2026."""
    project = ProjectFactory(slug="payroll", name="Payroll")
    owner = person("Owner")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    ann, bob, cat = person("Ann"), person("Bob"), person("Cat")
    rot = rotation(project)
    layer(rot, [ann, bob, cat], length=RotationLayer.Length.DAILY, start_date=date(2026, 1, 5))
    return project, rot, ann, bob, cat


def _shift_of(rot, who, days_ahead: int = 3):
    """One of `who`'s whole shifts a few days from now."""
    now = timezone.now()
    for shift in rotation_shifts(
        fresh(rot), now + timedelta(days=days_ahead), now + timedelta(days=days_ahead + 4)
    ):
        if shift.person.pk == who.pk and shift.end - shift.start == timedelta(days=1):
            return shift.start, shift.end
    raise AssertionError("no shift found")


# --- time off -------------------------------------------------------------------------------------


def test_time_off_is_covered_by_the_next_member_in_turn(daily):
    project, rot, ann, bob, cat = daily
    # Mon 5 Jan 09:00 Ann, Tue Bob, Wed Cat. Ann is away Mon 12:00 to 18:00.
    services.time_off_add(
        actor=ann.user, person=ann, start_at=utc(2026, 1, 5, 12), end_at=utc(2026, 1, 5, 18)
    )
    shifts = rotation_shifts(fresh(rot), utc(2026, 1, 5, 9), utc(2026, 1, 6, 9))
    assert [(s.person.display_name, s.start.hour, s.end.hour) for s in shifts] == [
        ("Ann", 9, 12),
        ("Bob", 12, 18),
        ("Ann", 18, 9),
    ]
    assert oncall_at(fresh(rot), utc(2026, 1, 5, 13)).person == bob
    # The pages' bulk reader agrees.
    services.time_off_add(
        actor=None,
        person=cat,
        start_at=timezone.now() - timedelta(days=1),
        end_at=timezone.now() + timedelta(days=30),
    )
    services.time_off_add(
        actor=None,
        person=ann,
        start_at=timezone.now() - timedelta(days=1),
        end_at=timezone.now() + timedelta(days=30),
    )
    assert [c.person for c in oncall_now_by_project(at=timezone.now())[project.pk]] == [bob]
    assert oncall_at(fresh(rot), timezone.now()).person == bob


def test_when_the_next_member_is_away_too_the_one_after_covers_and_then_the_next_layer(daily):
    project, rot, ann, bob, cat = daily
    backup = person("Backup")
    layer(rot, [backup])
    for who in (ann, bob):
        services.time_off_add(
            actor=None, person=who, start_at=utc(2026, 1, 5, 10), end_at=utc(2026, 1, 5, 11)
        )
    assert oncall_at(fresh(rot), utc(2026, 1, 5, 10, 30)).person == cat
    services.time_off_add(
        actor=None, person=cat, start_at=utc(2026, 1, 5, 10), end_at=utc(2026, 1, 5, 11)
    )
    assert oncall_at(fresh(rot), utc(2026, 1, 5, 10, 30)).person == backup
    shifts = rotation_shifts(fresh(rot), utc(2026, 1, 5, 9), utc(2026, 1, 5, 12))
    assert [s.person.display_name for s in shifts] == ["Ann", "Backup", "Ann"]


def test_time_off_is_the_persons_own_and_checked(daily):
    project, rot, ann, bob, cat = daily
    with pytest.raises(PermissionDenied):
        services.time_off_add(
            actor=bob.user, person=ann, start_at=utc(2026, 2, 1), end_at=utc(2026, 2, 2)
        )
    with pytest.raises(ValidationError) as caught:
        services.time_off_add(
            actor=ann.user, person=ann, start_at=utc(2026, 2, 2), end_at=utc(2026, 2, 1)
        )
    assert "end_at" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.time_off_add(
            actor=ann.user, person=ann, start_at=utc(2026, 2, 1), end_at=utc(2027, 3, 1)
        )
    assert "366 days" in caught.value.message_dict["end_at"][0]
    assert not TimeOff.objects.exists()


def test_a_member_records_time_off_on_the_schedule_page(daily):
    project, rot, ann, bob, cat = daily
    client = client_for(ann.user)
    html = client.get("/projects/payroll/oncall/?tz=UTC").content.decode()
    assert "My time off" in html
    start = (timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    response = client.post(
        "/projects/payroll/oncall/time-off/?tz=Asia/Kolkata",
        {
            "start_at": start.astimezone(timezone.get_fixed_timezone(330)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "end_at": (start + timedelta(hours=30))
            .astimezone(timezone.get_fixed_timezone(330))
            .strftime("%Y-%m-%dT%H:%M"),
            "reason": "Wedding",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "Wedding" in response.content.decode()
    off = TimeOff.objects.get()
    assert (off.person, off.start_at, off.end_at) == (ann, start, start + timedelta(hours=30))
    assert AuditEntry.objects.filter(object_type="oncall.timeoff", action="create").exists()
    bad = client.post(
        "/projects/payroll/oncall/time-off/",
        {"start_at": "2030-01-02T10:00", "end_at": "2030-01-01T10:00"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 400 and 'id="id_end_at_errors"' in bad.content.decode()
    assert (
        client_for(bob.user).post(f"/projects/payroll/oncall/time-off/{off.pk}/remove/").status_code
        == 403
    )
    assert client.post(f"/projects/payroll/oncall/time-off/{off.pk}/remove/").status_code == 302
    assert not TimeOff.objects.exists()


# --- swaps ----------------------------------------------------------------------------------------


def test_a_member_asks_another_who_accepts_and_the_override_is_written(daily):
    project, rot, ann, bob, cat = daily
    start, end = _shift_of(rot, ann)
    part_end = start + timedelta(hours=6)
    swap = services.shift_swap_request(
        actor=ann.user, rotation=rot, recipient=cat, start_at=start, end_at=part_end, note="Dentist"
    )
    assert swap.status == ShiftSwap.Status.PENDING and not Override.objects.exists()
    with pytest.raises(PermissionDenied):
        services.shift_swap_answer(actor=bob.user, swap=swap, answer="accept")
    with pytest.raises(PermissionDenied):
        services.shift_swap_answer(actor=ann.user, swap=swap, answer="accept")
    services.shift_swap_answer(actor=cat.user, swap=swap, answer="accept")
    swap.refresh_from_db()
    override = swap.override
    assert swap.status == ShiftSwap.Status.ACCEPTED
    assert (override.person, override.covered, override.start_at, override.end_at) == (
        cat,
        ann,
        start,
        part_end,
    )
    shifts = rotation_shifts(fresh(rot), start, end)
    assert [(s.person, s.start, s.end) for s in shifts] == [
        (cat, start, part_end),
        (ann, part_end, end),
    ]
    with pytest.raises(ValidationError) as caught:
        services.shift_swap_answer(actor=cat.user, swap=swap, answer="decline")
    assert "already accepted" in caught.value.messages[0]
    assert Override.objects.count() == 1


def test_swap_requests_are_refused_for_shifts_that_are_not_yours(daily):
    project, rot, ann, bob, cat = daily
    start, end = _shift_of(rot, bob)
    with pytest.raises(ValidationError) as caught:
        services.shift_swap_request(
            actor=ann.user, rotation=rot, recipient=cat, start_at=start, end_at=end
        )
    assert "not on call" in caught.value.message_dict["start_at"][0]
    outsider = person("Outsider")
    start, end = _shift_of(rot, ann)
    with pytest.raises(ValidationError) as caught:
        services.shift_swap_request(
            actor=ann.user, rotation=rot, recipient=outsider, start_at=start, end_at=end
        )
    assert "not a member" in caught.value.message_dict["recipient"][0]
    with pytest.raises(ValidationError) as caught:
        services.shift_swap_request(
            actor=ann.user, rotation=rot, recipient=ann, start_at=start, end_at=end
        )
    assert "recipient" in caught.value.message_dict
    assert not ShiftSwap.objects.exists()


def test_an_accept_after_the_schedule_changed_is_refused_and_writes_nothing(daily):
    project, rot, ann, bob, cat = daily
    start, end = _shift_of(rot, ann)
    swap = services.shift_swap_request(
        actor=ann.user, rotation=rot, recipient=cat, start_at=start, end_at=end
    )
    services.override_create(
        actor=None, rotation=rot, person=bob, covered=ann, start_at=start, end_at=end
    )
    with pytest.raises(ValidationError) as caught:
        services.shift_swap_answer(actor=cat.user, swap=swap, answer="accept")
    assert "schedule changed" in caught.value.messages[0]
    swap.refresh_from_db()
    assert swap.status == ShiftSwap.Status.PENDING and Override.objects.count() == 1


def test_swaps_on_the_schedule_page_ask_accept_and_show(daily):
    project, rot, ann, bob, cat = daily
    start, end = _shift_of(rot, ann)
    ann_client, cat_client = client_for(ann.user), client_for(cat.user)
    html = ann_client.get("/projects/payroll/oncall/?tz=UTC").content.decode()
    assert "Ask to take it" in html
    response = ann_client.post(
        "/projects/payroll/oncall/swaps/?tz=UTC",
        {
            "rotation": rot.pk,
            "recipient": cat.pk,
            "start_at": start.strftime("%Y-%m-%dT%H:%M"),
            "end_at": end.strftime("%Y-%m-%dT%H:%M"),
            "note": "Concert",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    swap = ShiftSwap.objects.get()
    html = cat_client.get("/projects/payroll/oncall/?tz=UTC").content.decode()
    assert "Ann asks Cat" in html and "Concert" in html and 'value="accept"' in html
    assert 'value="accept"' not in ann_client.get("/projects/payroll/oncall/").content.decode()
    bob_page = client_for(bob.user).get("/projects/payroll/oncall/").content.decode()
    assert "Concert" not in bob_page  # neither asked nor asking
    assert (
        client_for(bob.user)
        .post(f"/projects/payroll/oncall/swaps/{swap.pk}/answer/", {"answer": "accept"})
        .status_code
        == 403
    )
    response = cat_client.post(
        f"/projects/payroll/oncall/swaps/{swap.pk}/answer/?tz=UTC",
        {"answer": "accept"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Accepted" in html and "covers Ann" in html
    assert Override.objects.get().person == cat
    again = cat_client.post(
        f"/projects/payroll/oncall/swaps/{swap.pk}/answer/",
        {"answer": "decline"},
        HTTP_HX_REQUEST="true",
    )
    assert again.status_code == 400 and "already accepted" in again.content.decode()


def test_a_swap_form_with_bad_times_shows_the_error_beside_the_field(daily):
    project, rot, ann, bob, cat = daily
    response = client_for(ann.user).post(
        "/projects/payroll/oncall/swaps/",
        {
            "rotation": rot.pk,
            "recipient": cat.pk,
            "start_at": "2020-01-02T10:00",
            "end_at": "2020-01-02T12:00",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert (
        'id="id_end_at_errors"' in response.content.decode()
        and "already over" in response.content.decode()
    )
    assert not ShiftSwap.objects.exists()
