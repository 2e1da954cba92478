"""Who is on call now from kept answers (`oncall.current`): the same answers as working out the
rules, for as long as they hold, and stale after every write they depend on, by any path."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import F

from oncall import services as oncall_services
from oncall.bulk import oncall_now_by_project
from oncall.current import oncall_now
from oncall.models import CurrentOnCall, Override, RotationLayer, RotationMember, TimeOff
from oncall.schedule import STEADY_LONGEST, oncall_at, steady_until
from registry.models import Person
from tests.oncall.helpers import (
    DAILY,
    answer_of,
    fresh,
    layer,
    person,
    rotation,
    utc,
    varied_rotations,
)

pytestmark = pytest.mark.django_db


def _kept(now_on_call):
    """project id → [(rotation, who, layer, override)] from `oncall_now`."""
    return {
        pid: [(c.rotation_id, c.person.pk, c.layer_id, c.override_id) for c in calls]
        for pid, calls in now_on_call.items()
    }


def _worked_out(by_project):
    """The same from `oncall_now_by_project`, which works out every rotation's rules."""
    return {
        pid: [(c.rotation.pk, *answer_of(c)) for c in calls] for pid, calls in by_project.items()
    }


def test_an_answer_holds_from_the_moment_asked_until_steady_until():
    rotations = varied_rotations()
    # A leaver, on rotations as a member and as an override's person.
    eve = Person.objects.get(display_name="Eve")
    Person.objects.filter(pk=eve.pk).update(deactivated_at=utc(2025, 3, 31, 2))
    loaded = [fresh(r) for r in rotations]
    moments = [utc(2025, 3, 28, 0) + timedelta(minutes=90 * i) for i in range(64)]
    untils, changed_at_until = set(), 0
    for rot in loaded:
        for at in moments:
            until = steady_until(rot, at)
            assert at < until <= at + STEADY_LONGEST
            expected = answer_of(oncall_at(rot, at))
            span = until - at
            probes = [at + span * k / 8 for k in range(1, 8)] + [until - timedelta(microseconds=1)]
            for probe in probes:
                assert answer_of(oncall_at(rot, probe)) == expected, (rot.name, at, probe, until)
            untils.add(until)
            changed_at_until += answer_of(oncall_at(rot, until)) != expected
    assert changed_at_until > 0
    # Each kind of edge bounded some answer: a time off starting, an override starting and
    # ending, a leaver leaving, a restriction window opening, a handoff.
    assert {
        utc(2025, 3, 29, 6),  # Ann's time off
        utc(2025, 3, 29, 20),  # the team's override for everyone starts
        utc(2025, 3, 30, 4),  # and ends
        utc(2025, 3, 31, 2),  # Eve leaves
        utc(2025, 3, 28, 8),  # the Sun rotation's 08:00-16:00 window opens
        utc(2025, 3, 28, 9),  # a UTC daily handoff
    } <= untils


def test_on_call_now_gives_the_rules_answer_and_keeps_it(django_assert_num_queries):
    varied_rotations()
    for at in [utc(2025, 3, 28, 0) + timedelta(minutes=150 * i) for i in range(24)]:
        expected = _worked_out(oncall_now_by_project(at=at))
        assert _kept(oncall_now(at=at)) == expected
        # Asked again within every answer's stretch: read as kept, the rows and the people.
        with django_assert_num_queries(2):
            again = oncall_now(at=at + timedelta(microseconds=1))
        assert _kept(again) == expected


def test_an_answer_past_its_stretch_is_worked_out_again():
    ann, bob = person("Ann"), person("Bob")
    rot = rotation()
    layer(rot, [ann, bob], length=DAILY)
    at = utc(2025, 3, 10, 8)
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
    row = CurrentOnCall.objects.get(rotation=rot)
    assert row.valid_until == utc(2025, 3, 10, 9)  # the handoff
    assert [c.person for c in oncall_now(at=utc(2025, 3, 10, 9))[rot.project_id]] == [bob]
    row.refresh_from_db()
    assert (row.person_id, row.valid_from) == (bob.pk, utc(2025, 3, 10, 9))


def _setup():
    """A daily rotation of Ann then Bob; Ann is on call at the moment asked, and it is kept."""
    ann, bob, cat = person("Ann"), person("Bob"), person("Cat")
    rot = rotation()
    first = layer(rot, [ann, bob], length=DAILY, start_date=date(2025, 3, 10))
    at = utc(2025, 3, 10, 12)
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
    row = CurrentOnCall.objects.get(rotation=rot)
    assert row.computed_version == row.version
    return rot, first, (ann, bob, cat), at


def _sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _time_off(who, at):
    return oncall_services.time_off_add(
        actor=None, person=who, start_at=at - timedelta(hours=1), end_at=at + timedelta(hours=1)
    )


def _member_first_by_sql(first, newcomer):
    RotationMember.objects.filter(layer=first).update(order=F("order") + 10)
    RotationMember.objects.create(layer=first, person=newcomer, order=0)


def _cover(rot, who, at, *, by_sql=False):
    span = {"start_at": at - timedelta(hours=1), "end_at": at + timedelta(hours=1)}
    if by_sql:
        return Override.objects.create(rotation=rot, person=who, **span)
    return oncall_services.override_create(actor=None, rotation=rot, person=who, **span)


# Every kind of write an answer depends on, through the services and behind their back (SQL,
# queryset updates and deletes): each changes who is on call at the moment asked.
WRITES = {
    "layer members changed": lambda rot, first, people, at: oncall_services.layer_update(
        actor=None, layer=first, members=[people[1], people[0]]
    ),
    "layer deleted": lambda rot, first, people, at: oncall_services.layer_delete(
        actor=None, layer=first
    ),
    "layer moved by SQL": lambda rot, first, people, at: RotationLayer.objects.filter(
        pk=first.pk
    ).update(start_date=date(2025, 3, 9)),
    "member removed by SQL": lambda rot, first, people, at: _sql(
        "DELETE FROM registry_rotationmember WHERE person_id = %s", [people[0].pk]
    ),
    "member added by SQL": lambda rot, first, people, at: _member_first_by_sql(first, people[2]),
    "override added": lambda rot, first, people, at: _cover(rot, people[2], at),
    "override added by SQL": lambda rot, first, people, at: _cover(rot, people[2], at, by_sql=True),
    "time off added": lambda rot, first, people, at: _time_off(people[0], at),
    "time off added by SQL": lambda rot, first, people, at: TimeOff.objects.create(
        person=people[0], start_at=at - timedelta(hours=1), end_at=at + timedelta(hours=1)
    ),
    "person left": lambda rot, first, people, at: Person.objects.filter(pk=people[0].pk).update(
        deactivated_at=at - timedelta(hours=1)
    ),
    "person deleted": lambda rot, first, people, at: people[0].delete(),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_write_an_answer_depends_on_makes_it_stale(write):
    rot, first, people, at = _setup()
    before = _kept(oncall_now(at=at))
    WRITES[write](rot, first, people, at)
    after = _kept(oncall_now(at=at))
    assert after == _worked_out(oncall_now_by_project(at=at))
    assert after != before  # so a write left unseen would have failed the line above


# Writes that take back an override or time off in force at the moment asked.
UNDOS = {
    "override deleted by SQL": lambda override, off: _sql(
        "DELETE FROM registry_override WHERE id = %s", [override.pk]
    ),
    "override shortened by SQL": lambda override, off: Override.objects.filter(
        pk=override.pk
    ).update(end_at=override.start_at + timedelta(minutes=1)),
    "override deleted": lambda override, off: oncall_services.override_delete(
        actor=None, override=override
    ),
    "time off deleted by SQL": lambda override, off: TimeOff.objects.filter(pk=off.pk).delete(),
    "time off moved by SQL": lambda override, off: TimeOff.objects.filter(pk=off.pk).update(
        start_at=off.start_at + timedelta(days=5), end_at=off.end_at + timedelta(days=5)
    ),
}


@pytest.mark.parametrize("undo", UNDOS)
def test_taking_back_a_write_makes_the_answer_stale_too(undo):
    rot, first, (ann, bob, cat), at = _setup()
    off = _time_off(ann, at) if "time off" in undo else None
    override = _cover(rot, cat, at) if "override" in undo else None
    before = _kept(oncall_now(at=at))
    assert before == _worked_out(oncall_now_by_project(at=at))
    UNDOS[undo](override, off)
    after = _kept(oncall_now(at=at))
    assert after == _worked_out(oncall_now_by_project(at=at))
    assert after != before


def test_an_answer_worked_out_from_rules_changed_meanwhile_is_not_kept():
    rot, first, (ann, bob, cat), at = _setup()
    row = CurrentOnCall.objects.get(rotation=rot)
    read_version = row.version
    CurrentOnCall.objects.filter(pk=row.pk).update(computed_version=None)  # stale
    # A write lands between the read of the row and the store of the answer worked out.
    _time_off(ann, at)
    from oncall.current import _work_out

    _work_out({rot.pk: read_version}, at=at)
    row.refresh_from_db()
    assert row.version == read_version + 1
    assert row.computed_version is None  # not stored: the next read works it out again
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [bob]


def test_every_rotation_has_a_row_and_one_without_is_answered_and_given_one():
    rot, first, (ann, bob, cat), at = _setup()
    CurrentOnCall.objects.filter(rotation=rot).delete()
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
    assert CurrentOnCall.objects.filter(rotation=rot, computed_version__isnull=True).exists()
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
    assert CurrentOnCall.objects.get(rotation=rot).person_id == ann.pk
    # A rotation made by any path gets its row from the trigger; deleting it removes the row.
    other = rotation(name="Other")
    assert CurrentOnCall.objects.filter(rotation=other, version=0).exists()
    oncall_services.rotation_delete(actor=None, rotation=other)
    assert not CurrentOnCall.objects.filter(rotation_id=other.pk).exists()


def test_the_api_lists_who_is_on_call_now_on_every_project(django_assert_num_queries):
    from rest_framework.test import APIClient

    rotations = varied_rotations()
    at = utc(2025, 3, 29, 21)
    client = APIClient()
    assert client.get("/api/v1/oncall/now/").status_code in (401, 403)
    client.force_authenticate(person("Reader").user)
    response = client.get("/api/v1/oncall/now/", {"at": at.isoformat()})
    assert response.status_code == 200
    expected = []
    for rot in sorted(
        (fresh(r) for r in rotations if r.project_id),
        key=lambda r: (r.project.slug, r.name, r.pk),
    ):
        current = oncall_at(rot, at)
        if current is not None:
            expected.append(
                {
                    "project": rot.project.slug,
                    "rotation": rot.pk,
                    "person": {"id": current.person.pk, "display_name": str(current.person)},
                    "layer": current.layer.pk if current.layer else None,
                    "override": current.override.pk if current.override else None,
                }
            )
    body = response.json()
    assert [{k: v for k, v in entry.items() if k != "until"} for entry in body] == expected
    assert len(body) >= 3  # a layer's member, a backup layer's and an override's came up
    for entry in body:
        rot = next(r for r in rotations if r.pk == entry["rotation"])
        assert entry["until"] == steady_until(fresh(rot), at).isoformat().replace("+00:00", "Z")
    # Kept answers: the rows, the people, the slugs.
    with django_assert_num_queries(3):
        assert client.get("/api/v1/oncall/now/", {"at": at.isoformat()}).json() == body


def test_the_api_refuses_a_moment_without_an_offset():
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(person("Reader").user)
    for bad in ("2025-03-29T21:00:00", "yesterday"):
        response = client.get("/api/v1/oncall/now/", {"at": bad})
        assert response.status_code == 400
        assert "at" in response.json()


@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_skipped_without_waiting():
    """A writer holding a row (its trigger raised the version and it has not committed) never
    makes a read wait: the answer is worked out, given, and not stored."""
    import psycopg2

    rot = rotation()
    ann = person("Ann")
    layer(rot, [ann], length=DAILY)
    db = connection.settings_dict
    holder = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432, password=db["PASSWORD"] or None,
    )  # fmt: skip
    try:
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM oncall_currentoncall WHERE rotation_id = %s FOR UPDATE", [rot.pk]
            )
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # a wait would fail the read
        at = utc(2025, 3, 10, 12)
        assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
        assert CurrentOnCall.objects.get(rotation=rot).computed_version is None
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert [c.person for c in oncall_now(at=at)[rot.project_id]] == [ann]
    assert CurrentOnCall.objects.get(rotation=rot).computed_version is not None


def test_beat_works_out_the_answers_a_handoff_or_a_write_left_due(
    django_assert_num_queries, settings
):
    from oncall.current import refresh
    from oncall.tasks import current_refresh

    entry = settings.CELERY_BEAT_SCHEDULE["oncall-current-refresh"]
    assert (entry["task"], entry["schedule"]) == (current_refresh.name, 60.0)
    rot, first, (ann, bob, cat), at = _setup()
    assert refresh(at=at) == 0  # all kept and good
    later = utc(2025, 3, 11, 9, 30)  # past the 09:00 handoff: Bob's turn
    assert refresh(at=later) == 1
    row = CurrentOnCall.objects.get(rotation=rot)
    assert (row.person_id, row.valid_from, row.computed_version) == (bob.pk, later, row.version)
    with django_assert_num_queries(2):  # read as kept: the rows and the people
        assert [c.person for c in oncall_now(at=later)[rot.project_id]] == [bob]
    _time_off(bob, later)
    assert refresh(at=later) == 1
    assert CurrentOnCall.objects.get(rotation=rot).person_id == ann.pk


def test_asking_about_the_past_does_not_replace_the_present_answer():
    rot, first, (ann, bob, cat), at = _setup()  # kept at 12:00 on 10 March: Ann, until 09:00
    kept = CurrentOnCall.objects.get(rotation=rot)
    earlier = utc(2025, 3, 10, 9, 30)  # before the moment the kept answer was worked out at
    assert [c.person for c in oncall_now(at=earlier)[rot.project_id]] == [ann]
    row = CurrentOnCall.objects.get(rotation=rot)
    assert (row.person_id, row.valid_from, row.valid_until) == (
        ann.pk,
        kept.valid_from,
        kept.valid_until,
    )
    # A later moment past the kept stretch moves the row forward.
    later = utc(2025, 3, 11, 12)
    assert [c.person for c in oncall_now(at=later)[rot.project_id]] == [bob]
    assert CurrentOnCall.objects.get(rotation=rot).valid_from == later


def test_asking_about_a_moment_to_come_keeps_nothing():
    from django.utils import timezone

    ann, bob = person("Ann"), person("Bob")
    rot = rotation()
    layer(rot, [ann, bob], length=DAILY)
    ahead = timezone.now() + timedelta(days=30)
    assert rot.project_id in oncall_now(at=ahead)
    assert CurrentOnCall.objects.get(rotation=rot).computed_version is None
    oncall_now(at=timezone.now())
    assert CurrentOnCall.objects.get(rotation=rot).computed_version is not None
