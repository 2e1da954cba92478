"""On-call load per person per month: pages received, pages received outside their working
hours, and hours on call across every rotation they take part in.

- The month is the person's own calendar month, in their zone.
- A page received: one paging message to them, whatever the number of channels it went out on
  (one per event, escalation step and project listed first; `Notification.round` is the step).
- Outside working hours: received when `is_within_working_hours` says they were not working.
- Hours on call: the union of their shifts (`oncall/schedule.py` `person_shifts`, overrides and
  time off included) inside the month; two rotations at once count once.

Who sees it: the person, the leads of a team they are a member of, IT staff and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncall.schedule import person_shifts
from registry.models import Person
from registry.permissions import is_it_staff
from registry.selectors import is_within_working_hours

from .models import Notification


@dataclass(frozen=True)
class OnCallLoad:
    person: Person
    year: int
    month: int
    start: datetime
    end: datetime
    pages: int
    pages_out_of_hours: int
    on_call: timedelta

    @property
    def hours_on_call(self) -> float:
        return round(self.on_call.total_seconds() / 3600, 1)


def person_month(person: Person, year: int, month: int) -> tuple[datetime, datetime]:
    tz = ZoneInfo(person.time_zone or "UTC")
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def _union(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    total, current = timedelta(0), None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total


def oncall_load(person: Person, *, year: int, month: int) -> OnCallLoad:
    start, end = person_month(person, year, month)
    first: dict[tuple, datetime] = {}
    for key_type, key_id, topic, step, at in Notification.objects.filter(
        recipient=person,
        kind=Notification.Kind.PAGE,
        created_at__gte=start,
        created_at__lt=end,
    ).values_list("event_type_id", "event_id", "topic", "round", "created_at"):
        key = (key_type, key_id, topic, step)
        if key not in first or at < first[key]:
            first[key] = at
    out_of_hours = sum(1 for at in first.values() if not is_within_working_hours(person, at))
    shifts = [
        (max(s.start, start), min(s.end, end))
        for s in person_shifts(person, start, end)
        if min(s.end, end) > max(s.start, start)
    ]
    return OnCallLoad(
        person=person,
        year=year,
        month=month,
        start=start,
        end=end,
        pages=len(first),
        pages_out_of_hours=out_of_hours,
        on_call=_union(shifts),
    )


def may_see_load(viewer, person: Person) -> bool:
    if not viewer.is_authenticated:
        return False
    if person.user_id == viewer.pk or is_it_staff(viewer):
        return True
    return person.teams.filter(leads__user=viewer).exists()
