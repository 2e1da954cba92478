"""Who is on call now, for every project of the synthetic registry (10,000 at scale 1.0).

Each project gets one rotation (added here on top of `bench.synthetic`, and reused while the
registry is the same): a weekly layer of two or three of its people in their zone, a third of them
restricted to a follow-the-sun window of the day, a daily backup layer under it, and one project in
ten an override running now.

The measured call is what a status board would do: `oncall.current.oncall_now`, which reads each
rotation's kept answer while it holds (`CurrentOnCall`: the rows and the people, two queries) and
works out the rest. Its rows:

- kept: every answer still good, the steady state between handoffs and writes;
- every answer stale (as after a bulk import touching every rotation): all worked out from the
  rules and stored again;
- worked out from the rules (`oncall_now_by_project`: four queries, no model instance per row),
  what every read cost before answers were kept, and the reference the kept answers must equal;
- the same through model instances (`rotations_queryset`, as the pages do for a few projects).

The baseline is a bare SQL query reading the rotations' rules (rotations joined to layers, members
and people, plus the overrides) into tuples, with no computation.

    python -m bench.bench_oncall
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter

from bench import django_setup, median_ms, row

RUNS = 5
WARMUPS = 1
MARKER = "bench on-call"

_BARE_SQL = """
SELECT r.id, l.id, l.time_zone, l.start_date, l.handoff_time, l.length, l.length_count,
       l.restrict_start, l.restrict_end, l.restrict_days, m."order", p.id, p.display_name,
       p.time_zone, p.working_hours
FROM registry_rotation r
JOIN registry_rotationlayer l ON l.rotation_id = r.id
JOIN registry_rotationmember m ON m.layer_id = l.id
JOIN registry_person p ON p.id = m.person_id
"""
_BARE_OVERRIDES_SQL = """
SELECT o.id, o.rotation_id, o.start_at, o.end_at, o.covered_id, p.id, p.display_name
FROM registry_override o JOIN registry_person p ON p.id = o.person_id
WHERE o.end_at > %s
"""


def ensure_rotations(now: datetime, seed: int = 7) -> int:
    """One rotation per project (made once per synthetic registry); returns the number."""
    from django.db import transaction

    from oncall.models import Override, Rotation, RotationLayer, RotationMember
    from registry.models import Person, Project, ProjectRole

    projects = Project.objects.count()
    if Rotation.objects.filter(name=MARKER).count() == projects and projects:
        return projects
    rng = random.Random(seed)
    zones = dict(Person.objects.values_list("id", "time_zone"))
    people_of: dict[int, list[int]] = {}
    for project_id, person_id in ProjectRole.objects.order_by(
        "project_id", "order", "id"
    ).values_list("project_id", "person_id"):
        people_of.setdefault(project_id, []).append(person_id)
    all_people = list(zones)
    windows = [(time(8), time(16)), (time(0), time(8)), (time(16), time(0))]
    with transaction.atomic():
        Rotation.objects.all().delete()
        project_ids = list(Project.objects.order_by("id").values_list("id", flat=True))
        rotations = Rotation.objects.bulk_create(
            [Rotation(name=MARKER, project_id=pid) for pid in project_ids], batch_size=5000
        )
        layers, members, overrides = [], [], []
        for rotation in rotations:
            people = list(people_of.get(rotation.project_id, []))
            while len(people) < 2:
                people.append(rng.choice(all_people))
            primary = RotationLayer(
                rotation=rotation,
                order=0,
                time_zone=zones[people[0]],
                start_date=date(2025, 1, 6) + timedelta(days=rng.randrange(7)),
                handoff_time=time(rng.choice([8, 9, 10]), rng.choice([0, 30])),
                length=RotationLayer.Length.WEEKLY,
            )
            if rng.random() < 1 / 3:
                primary.time_zone = "UTC"
                primary.restrict_start, primary.restrict_end = rng.choice(windows)
            backup = RotationLayer(
                rotation=rotation,
                order=1,
                time_zone=zones[people[-1]],
                start_date=date(2025, 1, 1),
                handoff_time=time(9),
                length=RotationLayer.Length.DAILY,
            )
            layers += [primary, backup]
            members.append((primary, people[:3]))
            members.append((backup, [rng.choice(all_people), rng.choice(all_people)]))
            if rng.random() < 0.1:
                overrides.append(
                    Override(
                        rotation=rotation,
                        person_id=rng.choice(all_people),
                        start_at=now - timedelta(hours=rng.randrange(1, 48)),
                        end_at=now + timedelta(days=rng.randrange(1, 10)),
                    )
                )
        RotationLayer.objects.bulk_create(layers, batch_size=5000)
        RotationMember.objects.bulk_create(
            [
                RotationMember(layer=layer, person_id=person_id, order=i)
                for layer, people in members
                for i, person_id in enumerate(dict.fromkeys(people))
            ],
            batch_size=5000,
        )
        Override.objects.bulk_create(overrides, batch_size=5000)
    from django.db import connection

    from oncall.cache import oncall_rules_changed

    oncall_rules_changed()  # written in bulk, not through the services
    with connection.cursor() as cursor:
        for table in ("rotation", "rotationlayer", "rotationmember", "override"):
            cursor.execute(f"ANALYZE registry_{table}")
    return len(rotations)


def who_is_on_call(now: datetime) -> dict[int, int | None]:
    """project id → the person on call now, for every project with someone on call."""
    from oncall.current import oncall_now

    return {pid: calls[0].person.pk for pid, calls in oncall_now(at=now).items()}


def who_is_on_call_all_stale(now: datetime) -> float:
    """Milliseconds to answer with every kept answer stale (made so untimed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE oncall_currentoncall SET version = version + 1")
    started = perf_counter()
    who_is_on_call(now)
    return (perf_counter() - started) * 1000


def who_is_on_call_from_rules(now: datetime) -> dict[int, int | None]:
    """The same worked out from every rotation's rules at each read."""
    from oncall.bulk import oncall_now_by_project

    return {pid: calls[0].person.pk for pid, calls in oncall_now_by_project(at=now).items()}


def who_is_on_call_orm(now: datetime) -> dict[int, int | None]:
    """The same through model instances (`rotations_queryset`: what the pages use for a few)."""
    from oncall.schedule import oncall_at, rotations_queryset

    result = {}
    for rotation in rotations_queryset(overrides_after=now):
        current = oncall_at(rotation, now)
        if current is not None:
            result[rotation.project_id] = current.person.pk
    return result


def bare_read(now: datetime) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_BARE_SQL)
        rows = cursor.fetchall()
        cursor.execute(_BARE_OVERRIDES_SQL, [now])
        rows += cursor.fetchall()
    return len(rows)


def run() -> list[dict]:
    django_setup()
    from bench import synthetic

    registry = synthetic.ensure()
    now = datetime.now(UTC).replace(microsecond=0)
    count = ensure_rotations(now)
    answers = who_is_on_call_from_rules(now)
    if answers != who_is_on_call(now) or answers != who_is_on_call(now):  # worked out, then kept
        raise AssertionError("the kept and the worked-out answers disagree")
    if answers != who_is_on_call_orm(now):
        raise AssertionError("the row-based and the ORM-based answers disagree")
    ours = median_ms(lambda: who_is_on_call(now), runs=RUNS, warmups=WARMUPS)
    stale = statistics.median(who_is_on_call_all_stale(now) for _ in range(RUNS))
    rules = median_ms(lambda: who_is_on_call_from_rules(now), runs=RUNS, warmups=WARMUPS)
    orm = median_ms(lambda: who_is_on_call_orm(now), runs=RUNS, warmups=WARMUPS)
    bare = median_ms(lambda: bare_read(now), runs=RUNS, warmups=WARMUPS)
    note = f"median of {RUNS}; baseline: one bare SQL read of the rules"
    return [
        row(
            f"who is on call now, {count} projects",
            ours,
            "ms",
            baseline=bare,
            ratio=bare / ours,
            note=(
                f"{note}; kept answers (oncall_now); {len(answers)} of "
                f"{len(registry.project_ids)} projects have someone on call"
            ),
        ),
        row(
            "who is on call now, every kept answer stale",
            stale,
            "ms",
            baseline=bare,
            ratio=bare / stale,
            note=f"{note}; all worked out from the rules and stored again",
        ),
        row(
            "who is on call now, worked out from the rules",
            rules,
            "ms",
            baseline=bare,
            ratio=bare / rules,
            note=f"{note}; oncall_now_by_project, what every read cost before answers were kept",
        ),
        row(
            "who is on call now, through model instances",
            orm,
            "ms",
            baseline=bare,
            ratio=bare / orm,
            note=f"{note}; rotations_queryset + oncall_at, as the pages do for a few projects",
        ),
        row("who is on call now, per project", ours * 1000 / max(count, 1), "µs"),
    ]


if __name__ == "__main__":
    from bench.run_all import print_table

    print_table(run())
