"""Coverage of rotations: the day-by-hour grid in the viewer's zone (covered, asleep, uncovered)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from oncall.coverage import Coverage, coverage_grid
from oncall.models import RotationLayer
from tests.oncall.helpers import ALWAYS, fresh, layer, person, rotation, utc

pytestmark = pytest.mark.django_db

DAILY = RotationLayer.Length.DAILY


def test_coverage_grid_covered_asleep_and_uncovered_in_the_viewers_zone():
    # Works 09–17 UTC on weekdays; on call 06:00–18:00 UTC every day.
    worker = person(
        "Worker",
        working_hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    rot = rotation()
    layer(rot, [worker], length=DAILY, restrict_start=time(6), restrict_end=time(18))
    grid = coverage_grid([fresh(rot)], time_zone="UTC", start=utc(2025, 2, 3, 15), days=7)
    assert [d.day for d in grid] == [date(2025, 2, 3) + timedelta(days=i) for i in range(7)]
    monday = {cell.hour: cell.state for cell in grid[0].cells}
    assert monday[3] == Coverage.UNCOVERED
    assert monday[7] == Coverage.ASLEEP
    assert monday[10] == Coverage.COVERED
    assert monday[17] == Coverage.ASLEEP
    assert monday[18] == Coverage.UNCOVERED
    saturday = {cell.hour: cell.state for cell in grid[5].cells}
    assert saturday[10] == Coverage.ASLEEP
    assert grid[0].counts == {"covered": 8, "asleep": 4, "uncovered": 12}


def test_coverage_grid_in_a_half_hour_zone_and_partly_covered_hours():
    always = person("Always", working_hours=ALWAYS)
    rot = rotation()
    # On call 09:00–18:00 Kolkata: 03:30–12:30 UTC.
    layer(rot, [always], time_zone="Asia/Kolkata", restrict_start=time(9), restrict_end=time(18))
    in_kolkata = coverage_grid(
        [fresh(rot)], time_zone="Asia/Kolkata", start=utc(2025, 2, 4, 5), days=1
    )
    states = {cell.hour: cell.state for cell in in_kolkata[0].cells}
    assert states[8] == Coverage.UNCOVERED and states[9] == Coverage.COVERED
    assert states[17] == Coverage.COVERED and states[18] == Coverage.UNCOVERED
    in_utc = coverage_grid([fresh(rot)], time_zone="UTC", start=utc(2025, 2, 4, 5), days=1)
    utc_states = {cell.hour: cell.state for cell in in_utc[0].cells}
    # 03:00–04:00 UTC is half covered: someone is missing for half an hour.
    assert utc_states[3] == Coverage.UNCOVERED
    assert utc_states[4] == Coverage.COVERED
    assert utc_states[12] == Coverage.UNCOVERED


def test_coverage_grid_day_with_a_skipped_hour_in_the_viewers_zone():
    always = person("Always", working_hours=ALWAYS)
    rot = rotation()
    layer(rot, [always], start_date=date(2025, 1, 6))
    grid = coverage_grid(
        [fresh(rot)], time_zone="America/New_York", start=utc(2025, 3, 9, 12), days=1
    )
    states = [cell.state for cell in grid[0].cells]
    assert states[2] is None  # 02:00–03:00 does not exist on 9 March in New York
    assert states.count(Coverage.COVERED) == 23
