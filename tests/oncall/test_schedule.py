"""The on-call computation: rotations, layers, restrictions, overrides, DST in several zones."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from oncall import services as oncall_services
from oncall.coverage import uncovered_ranges
from oncall.models import Override, RotationLayer
from oncall.schedule import (
    NEXT_FIRST_STRETCH,
    NEXT_HORIZON,
    next_oncall,
    oncall_at,
    rotation_shifts,
)
from tests.oncall.helpers import DAYS, fresh, layer, person, rotation, utc, varied_rotations

pytestmark = pytest.mark.django_db

DAILY = RotationLayer.Length.DAILY
HOURS = RotationLayer.Length.HOURS


def who(rot, at):
    current = oncall_at(fresh(rot), at)
    return current.person.display_name if current else None


def assert_contiguous(shifts):
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert before.end <= after.start


# --- rotations --------------------------------------------------------------------------------


def test_weekly_rotation_hands_off_at_the_local_time_in_turn():
    ann, bob, cat = person("Ann"), person("Bob"), person("Cat")
    rot = rotation()
    # Mondays 09:00 Berlin (CET in January: 08:00 UTC), from Monday 6 January 2025.
    layer(rot, [ann, bob, cat], time_zone="Europe/Berlin", start_date=date(2025, 1, 6))
    assert who(rot, utc(2025, 1, 6, 7, 59)) is None  # before the first handoff
    assert who(rot, utc(2025, 1, 6, 8, 0)) == "Ann"
    assert who(rot, utc(2025, 1, 13, 7, 59)) == "Ann"
    assert who(rot, utc(2025, 1, 13, 8, 0)) == "Bob"
    assert who(rot, utc(2025, 1, 20, 8, 0)) == "Cat"
    assert who(rot, utc(2025, 1, 27, 8, 0)) == "Ann"
    # Ten weeks on the turn is still kept, computed, not stored.
    assert who(rot, utc(2025, 3, 17, 8, 0)) == "Bob"


def test_shifts_over_a_range_are_listed_from_the_rules():
    ann, bob = person("Ann"), person("Bob")
    rot = rotation()
    layer(rot, [ann, bob], length=DAILY, start_date=date(2025, 1, 6), handoff_time=time(9))
    shifts = rotation_shifts(fresh(rot), utc(2025, 1, 7, 0), utc(2025, 1, 9, 0))
    assert [(s.person.display_name, s.start, s.end) for s in shifts] == [
        ("Ann", utc(2025, 1, 7, 0), utc(2025, 1, 7, 9)),
        ("Bob", utc(2025, 1, 7, 9), utc(2025, 1, 8, 9)),
        ("Ann", utc(2025, 1, 8, 9), utc(2025, 1, 9, 0)),
    ]


def test_first_layer_with_someone_on_call_wins_and_lower_layers_are_backups():
    day, night = person("Day"), person("Night")
    rot = rotation()
    layer(rot, [day], restrict_start=time(9), restrict_end=time(17))
    layer(rot, [night], length=DAILY)
    assert who(rot, utc(2025, 2, 4, 10)) == "Day"
    assert who(rot, utc(2025, 2, 4, 17)) == "Night"
    assert who(rot, utc(2025, 2, 4, 8, 59)) == "Night"
    shifts = rotation_shifts(fresh(rot), utc(2025, 2, 4, 0), utc(2025, 2, 5, 0))
    assert [(s.person.display_name, s.start.hour, s.end.hour) for s in shifts] == [
        ("Night", 0, 9),
        ("Day", 9, 17),
        ("Night", 17, 0),
    ]


def test_follow_the_sun_europe_then_apac_then_americas():
    eu, apac, am = person("Eu"), person("Apac"), person("Am")
    rot = rotation()
    layer(rot, [eu], length=DAILY, restrict_start=time(8), restrict_end=time(16))
    layer(rot, [apac], length=DAILY, restrict_start=time(0), restrict_end=time(8))
    # Americas: 16:00 to midnight, a window that ends on the next day.
    layer(rot, [am], length=DAILY, restrict_start=time(16), restrict_end=time(0))
    assert who(rot, utc(2025, 5, 6, 7, 59)) == "Apac"
    assert who(rot, utc(2025, 5, 6, 8, 0)) == "Eu"
    assert who(rot, utc(2025, 5, 6, 15, 59)) == "Eu"
    assert who(rot, utc(2025, 5, 6, 16, 0)) == "Am"
    assert who(rot, utc(2025, 5, 6, 23, 59)) == "Am"
    assert who(rot, utc(2025, 5, 7, 0, 0)) == "Apac"
    start, end = utc(2025, 5, 6), utc(2025, 5, 8)
    assert uncovered_ranges([fresh(rot)], start, end) == []
    shifts = rotation_shifts(fresh(rot), start, end)
    assert [s.person.display_name for s in shifts] == ["Apac", "Eu", "Am"] * 2


def test_restriction_to_weekdays_leaves_the_weekend_to_the_next_layer():
    weekday, weekend = person("Weekday"), person("Weekend")
    rot = rotation()
    layer(rot, [weekday], restrict_days=["mon", "tue", "wed", "thu", "fri"])
    layer(rot, [weekend])
    assert who(rot, utc(2025, 2, 7, 23, 59)) == "Weekday"  # Friday
    assert who(rot, utc(2025, 2, 8, 0, 0)) == "Weekend"  # Saturday
    assert who(rot, utc(2025, 2, 10, 0, 0)) == "Weekday"  # Monday


def test_night_window_with_days_belongs_to_the_day_it_opens():
    night = person("Night")
    rot = rotation()
    # Friday night only, 22:00 to 06:00 Saturday.
    layer(rot, [night], restrict_start=time(22), restrict_end=time(6), restrict_days=["fri"])
    assert who(rot, utc(2025, 2, 7, 23)) == "Night"
    assert who(rot, utc(2025, 2, 8, 5, 59)) == "Night"
    assert who(rot, utc(2025, 2, 8, 6)) is None
    assert who(rot, utc(2025, 2, 8, 23)) is None  # Saturday night is not Friday night


def test_hourly_shifts_turn_every_n_hours():
    a, b, c = person("A"), person("B"), person("C")
    rot = rotation()
    layer(
        rot,
        [a, b, c],
        length=HOURS,
        length_count=8,
        start_date=date(2025, 1, 1),
        handoff_time=time(6),
    )
    assert who(rot, utc(2025, 1, 1, 6)) == "A"
    assert who(rot, utc(2025, 1, 1, 14)) == "B"
    assert who(rot, utc(2025, 1, 1, 22)) == "C"
    assert who(rot, utc(2025, 1, 2, 6)) == "A"


# --- overrides --------------------------------------------------------------------------------


def test_override_for_the_whole_rotation_beats_every_layer():
    ann, sub = person("Ann"), person("Sub")
    rot = rotation()
    layer(rot, [ann])
    oncall_services.override_create(
        actor=None, rotation=rot, person=sub, start_at=utc(2025, 2, 4, 12), end_at=utc(2025, 2, 5)
    )
    assert who(rot, utc(2025, 2, 4, 11, 59)) == "Ann"
    assert who(rot, utc(2025, 2, 4, 12)) == "Sub"
    assert who(rot, utc(2025, 2, 5)) == "Ann"
    shifts = rotation_shifts(fresh(rot), utc(2025, 2, 4), utc(2025, 2, 6))
    assert [(s.person.display_name, s.override is not None) for s in shifts] == [
        ("Ann", False),
        ("Sub", True),
        ("Ann", False),
    ]


def test_override_of_one_person_applies_only_to_their_shifts():
    ann, bob, sub = person("Ann"), person("Bob"), person("Sub")
    rot = rotation()
    layer(rot, [ann, bob], length=DAILY, start_date=date(2025, 2, 3), handoff_time=time(0))
    # Ann is on call on 3 and 5 February, Bob on the 4th; Sub covers Ann for three days.
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=sub,
        covered=ann,
        start_at=utc(2025, 2, 3),
        end_at=utc(2025, 2, 6),
    )
    assert who(rot, utc(2025, 2, 3, 12)) == "Sub"
    assert who(rot, utc(2025, 2, 4, 12)) == "Bob"
    assert who(rot, utc(2025, 2, 5, 12)) == "Sub"


def test_override_covers_an_uncovered_slot():
    day, sub = person("Day"), person("Sub")
    rot = rotation()
    layer(rot, [day], restrict_start=time(9), restrict_end=time(17))
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=sub,
        start_at=utc(2025, 2, 4, 20),
        end_at=utc(2025, 2, 4, 22),
    )
    assert who(rot, utc(2025, 2, 4, 21)) == "Sub"
    assert uncovered_ranges([fresh(rot)], utc(2025, 2, 4, 17), utc(2025, 2, 5, 0)) == [
        (utc(2025, 2, 4, 17), utc(2025, 2, 4, 20)),
        (utc(2025, 2, 4, 22), utc(2025, 2, 5, 0)),
    ]


def test_overlapping_overrides_for_the_same_slot_are_refused():
    ann, bob, sub, other = person("Ann"), person("Bob"), person("Sub"), person("Other")
    rot = rotation()
    layer(rot, [ann, bob])
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=sub,
        covered=ann,
        start_at=utc(2025, 2, 4),
        end_at=utc(2025, 2, 6),
    )
    with pytest.raises(ValidationError) as exc:
        oncall_services.override_create(
            actor=None,
            rotation=rot,
            person=other,
            covered=ann,
            start_at=utc(2025, 2, 5),
            end_at=utc(2025, 2, 7),
        )
    assert "start_at" in exc.value.message_dict
    # A whole-rotation override clashes with any override it overlaps.
    with pytest.raises(ValidationError):
        oncall_services.override_create(
            actor=None,
            rotation=rot,
            person=other,
            start_at=utc(2025, 2, 5),
            end_at=utc(2025, 2, 5, 1),
        )
    # Covering someone else at the same time, or touching end to start, is fine.
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=other,
        covered=bob,
        start_at=utc(2025, 2, 5),
        end_at=utc(2025, 2, 7),
    )
    oncall_services.override_create(
        actor=None,
        rotation=rot,
        person=other,
        covered=ann,
        start_at=utc(2025, 2, 6),
        end_at=utc(2025, 2, 7),
    )
    assert Override.objects.filter(rotation=rot).count() == 3


def test_override_ending_before_it_starts_is_refused_and_nothing_saved():
    ann = person("Ann")
    rot = rotation()
    with pytest.raises(ValidationError) as exc:
        oncall_services.override_create(
            actor=None, rotation=rot, person=ann, start_at=utc(2025, 2, 5), end_at=utc(2025, 2, 4)
        )
    assert "end_at" in exc.value.message_dict
    assert not Override.objects.exists()


# --- daylight saving, in zones that change on different dates ----------------------------------


def test_daily_handoffs_keep_local_time_across_new_york_and_berlin_dst():
    ny, berlin = person("NY"), person("Berlin")
    ny_rot, berlin_rot = rotation(name="NY"), rotation(name="Berlin")
    layer(ny_rot, [ny], time_zone="America/New_York", length=DAILY, start_date=date(2025, 3, 1))
    layer(
        berlin_rot, [berlin], time_zone="Europe/Berlin", length=DAILY, start_date=date(2025, 3, 1)
    )
    start, end = utc(2025, 3, 7), utc(2025, 4, 2)
    ny_starts = [s.start for s in rotation_shifts(fresh(ny_rot), start, end)]
    # One person: the shifts join into one; ask the layer itself for its handoffs.
    from oncall.schedule import layer_shifts

    ny_layer = fresh(ny_rot).layers.all()[0]
    berlin_layer = fresh(berlin_rot).layers.all()[0]
    ny_handoffs = [s.start for s in layer_shifts(ny_layer, start, end)][1:]
    berlin_handoffs = [s.start for s in layer_shifts(berlin_layer, start, end)][1:]
    assert ny_starts == [start]
    # New York springs forward on 9 March: 09:00 is 14:00 UTC before, 13:00 UTC from then on.
    assert utc(2025, 3, 8, 14) in ny_handoffs
    assert utc(2025, 3, 9, 13) in ny_handoffs
    assert utc(2025, 3, 8, 13) not in ny_handoffs
    # Berlin springs forward on 30 March: 09:00 is 08:00 UTC before, 07:00 UTC after.
    assert utc(2025, 3, 29, 8) in berlin_handoffs
    assert utc(2025, 3, 30, 7) in berlin_handoffs
    assert utc(2025, 3, 9, 8) in berlin_handoffs  # unchanged while only New York moved
    lengths = {s.end - s.start for s in layer_shifts(ny_layer, utc(2025, 3, 8, 14), end)}
    assert timedelta(hours=23) in lengths and timedelta(hours=24) in lengths


def test_restriction_windows_follow_each_zone_through_the_weeks_between_their_changes():
    ny, berlin = person("NY"), person("Berlin")
    rot = rotation()
    layer(rot, [berlin], time_zone="Europe/Berlin", restrict_start=time(9), restrict_end=time(17))
    layer(rot, [ny], time_zone="America/New_York", restrict_start=time(9), restrict_end=time(17))
    # 5 March: both on winter time. Berlin 08–16 UTC, New York 14–22 UTC.
    assert who(rot, utc(2025, 3, 5, 8)) == "Berlin"
    assert who(rot, utc(2025, 3, 5, 16)) == "NY"
    assert who(rot, utc(2025, 3, 5, 13, 30)) == "Berlin"
    assert who(rot, utc(2025, 3, 5, 21, 59)) == "NY"
    assert who(rot, utc(2025, 3, 5, 22)) is None
    # 12 March: New York on summer time (13–21 UTC), Berlin not yet.
    assert who(rot, utc(2025, 3, 12, 21, 30)) is None
    assert who(rot, utc(2025, 3, 12, 16, 30)) == "NY"
    assert who(rot, utc(2025, 3, 12, 7, 30)) is None
    # 2 April: both on summer time: Berlin 07–15 UTC.
    assert who(rot, utc(2025, 4, 2, 7, 30)) == "Berlin"
    assert who(rot, utc(2025, 4, 2, 15, 30)) == "NY"


def test_sydney_weekly_shift_over_the_end_of_daylight_saving_is_a_wall_clock_week():
    a, b = person("A"), person("B")
    rot = rotation()
    # Mondays 09:00 Sydney from 31 March 2025; DST ends on Sunday 6 April (UTC+11 → UTC+10).
    layer(rot, [a, b], time_zone="Australia/Sydney", start_date=date(2025, 3, 31))
    shifts = rotation_shifts(fresh(rot), utc(2025, 3, 30, 22), utc(2025, 4, 14, 0))
    assert [(s.person.display_name, s.start, s.end) for s in shifts][:2] == [
        ("A", utc(2025, 3, 30, 22), utc(2025, 4, 6, 23)),
        ("B", utc(2025, 4, 6, 23), utc(2025, 4, 13, 23)),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(hours=169)
    assert who(rot, utc(2025, 4, 6, 22, 59)) == "A"
    assert who(rot, utc(2025, 4, 6, 23)) == "B"


def test_handoff_at_a_time_that_does_not_exist_moves_forward_and_leaves_no_gap():
    a, b = person("A"), person("B")
    rot = rotation()
    # 02:30 does not exist in New York on 9 March 2025: read as 03:30 EDT (07:30 UTC).
    layer(
        rot,
        [a, b],
        time_zone="America/New_York",
        length=DAILY,
        start_date=date(2025, 3, 7),
        handoff_time=time(2, 30),
    )
    shifts = rotation_shifts(fresh(rot), utc(2025, 3, 7, 7, 30), utc(2025, 3, 12))
    assert_contiguous(shifts)
    assert all(x.end == y.start for x, y in zip(shifts, shifts[1:], strict=False))
    assert utc(2025, 3, 9, 7, 30) in [s.start for s in shifts]
    assert utc(2025, 3, 10, 6, 30) in [s.start for s in shifts]
    assert who(rot, utc(2025, 3, 9, 7, 29)) == who(rot, utc(2025, 3, 8, 7, 31))


def test_hour_based_shifts_count_elapsed_hours_across_dst():
    a, b = person("A"), person("B")
    rot = rotation()
    layer(
        rot,
        [a, b],
        time_zone="Europe/Berlin",
        length=HOURS,
        length_count=12,
        start_date=date(2025, 3, 29),
        handoff_time=time(8),
    )
    # 08:00 CET on 29 March is 07:00 UTC; twelve elapsed hours each, so after the change on
    # the 30th the wall-clock handoff moves from 08:00/20:00 to 09:00/21:00.
    assert who(rot, utc(2025, 3, 29, 7)) == "A"
    assert who(rot, utc(2025, 3, 29, 19)) == "B"
    assert who(rot, utc(2025, 3, 30, 7)) == "A"
    assert who(rot, utc(2025, 3, 30, 18, 59)) == "A"


def test_half_hour_zone_kolkata_window_and_handoff():
    india = person("India", time_zone="Asia/Kolkata")
    rot = rotation()
    layer(
        rot,
        [india],
        time_zone="Asia/Kolkata",
        length=DAILY,
        handoff_time=time(9),
        restrict_start=time(9),
        restrict_end=time(18),
    )
    # 09:00–18:00 IST is 03:30–12:30 UTC.
    assert who(rot, utc(2025, 2, 4, 3, 29)) is None
    assert who(rot, utc(2025, 2, 4, 3, 30)) == "India"
    assert who(rot, utc(2025, 2, 4, 12, 29)) == "India"
    assert who(rot, utc(2025, 2, 4, 12, 30)) is None
    shifts = rotation_shifts(fresh(rot), utc(2025, 2, 4), utc(2025, 2, 5))
    assert [(s.start, s.end) for s in shifts] == [(utc(2025, 2, 4, 3, 30), utc(2025, 2, 4, 12, 30))]


def test_next_on_call_is_whoever_takes_over():
    ann, bob = person("Ann"), person("Bob")
    rot = rotation()
    layer(rot, [ann, bob], start_date=date(2025, 1, 6), handoff_time=time(9))
    upcoming = next_oncall(fresh(rot), utc(2025, 1, 8, 12))
    assert upcoming.person.display_name == "Bob"
    assert upcoming.start == utc(2025, 1, 13, 9)


def _next_over_the_whole_horizon(rot, at):
    """Who is next, as the definition reads: the first shift of the whole horizon's listing that
    starts after `at` and that someone other than whoever is on call at `at` takes."""
    current = oncall_at(rot, at)
    for shift in rotation_shifts(rot, at, at + NEXT_HORIZON):
        if shift.start > at and (current is None or shift.person.pk != current.person.pk):
            return shift
    return None


def test_next_on_call_found_a_stretch_at_a_time_is_the_whole_horizon_answer():
    rotations = varied_rotations()
    ann, bob = person("Ann2"), person("Bob2")
    # Shifts longer than the first stretches (found ones run on across them), and shifts so long
    # that the next one can lie past the horizon (cut there, or nobody next at all).
    long_turns = rotation(name="Ten days")
    layer(long_turns, [ann, bob], length=DAYS, length_count=10, start_date=date(2025, 3, 1))
    month = rotation(name="Forty days")
    layer(month, [bob, ann], length=DAYS, length_count=40, start_date=date(2025, 2, 20))
    rotations = [fresh(r) for r in [*rotations, long_turns, month]]
    moments = [utc(2025, 3, 27, 1) + timedelta(hours=7 * i) for i in range(40)]
    past_first_stretch = cut_at_horizon = nobody_next = 0
    for moment in moments:
        for rot in rotations:
            expected = _next_over_the_whole_horizon(rot, moment)
            assert next_oncall(rot, moment) == expected, (rot.name, moment)
            if expected is None:
                nobody_next += 1
            elif expected.end == moment + NEXT_HORIZON:
                cut_at_horizon += 1
            elif expected.end > moment + NEXT_FIRST_STRETCH:
                past_first_stretch += 1
    assert past_first_stretch and cut_at_horizon and nobody_next


# --- bad input ----------------------------------------------------------------------------------


def test_layer_with_no_members_is_refused():
    rot = rotation()
    with pytest.raises(ValidationError) as exc:
        layer(rot, [])
    assert "members" in exc.value.message_dict
    assert not RotationLayer.objects.exists()


def test_layer_with_an_unknown_time_zone_is_refused():
    rot = rotation()
    with pytest.raises(ValidationError) as exc:
        layer(rot, [person("Ann")], time_zone="Mars/Olympus_Mons")
    assert "time_zone" in exc.value.message_dict
    assert not RotationLayer.objects.exists()


def test_empty_restriction_window_is_refused():
    rot = rotation()
    with pytest.raises(ValidationError) as exc:
        layer(rot, [person("Ann")], restrict_start=time(9), restrict_end=time(9))
    assert "restrict_end" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        layer(rot, [person("Bob")], restrict_start=time(9))
    assert "restrict_end" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        layer(rot, [person("Cat")], restrict_days=["funday"])
    assert "restrict_days" in exc.value.message_dict
    assert not RotationLayer.objects.exists()


def test_layer_update_replaces_members_and_is_audited():
    from registry.models import AuditEntry

    ann, bob = person("Ann"), person("Bob")
    rot = rotation()
    created = layer(rot, [ann])
    oncall_services.layer_update(
        actor=None, layer=created, members=[bob, ann], handoff_time=time(10)
    )
    entry = AuditEntry.objects.filter(object_type="oncall.rotationlayer").first()
    assert entry.changes["members"] == [["Ann"], ["Bob", "Ann"]]
    assert entry.changes["handoff_time"] == ["09:00", "10:00"]
    assert who(rot, utc(2025, 1, 6, 10)) == "Bob"


def test_rules_read_as_rows_give_the_same_answers_as_the_orm():
    from oncall.bulk import load_rotations, oncall_now_by_project

    eu, apac, am, sub = person("Eu"), person("Apac"), person("Am"), person("Sub")
    sun = rotation(name="Sun")
    layer(sun, [eu], length=DAILY, restrict_start=time(8), restrict_end=time(16))
    layer(sun, [apac], length=DAILY, restrict_start=time(0), restrict_end=time(8))
    layer(sun, [am], length=DAILY, restrict_start=time(16), restrict_end=time(0))
    oncall_services.override_create(
        actor=None,
        rotation=sun,
        person=sub,
        covered=am,
        start_at=utc(2025, 5, 6, 18),
        end_at=utc(2025, 5, 7),
    )
    ny = rotation(name="NY")
    layer(ny, [person("N1"), person("N2")], time_zone="America/New_York", length=DAILY)
    loaded = {r.pk: r for r in load_rotations(at=utc(2025, 5, 1))}
    for moment in [utc(2025, 5, 6, h, m) for h in range(24) for m in (0, 30)]:
        for rot in (sun, ny):
            expected = oncall_at(fresh(rot), moment)
            got = oncall_at(loaded[rot.pk], moment)
            assert (got.person.pk if got else None) == (expected.person.pk if expected else None)
        assert rotation_shifts(loaded[sun.pk], moment, moment + timedelta(hours=5)) != []
    by_project = oncall_now_by_project(at=utc(2025, 5, 6, 19))
    assert by_project[sun.project_id][0].person == sub
