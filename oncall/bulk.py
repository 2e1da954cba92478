"""Many rotations at once, read as plain rows: "who is on call" across thousands of projects
without a model instance per row. The rows work with `oncall.schedule`'s functions like
rotations from the ORM."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from registry.models import Person

from .models import Override, Rotation, RotationLayer, RotationMember
from .schedule import (
    LoadedLayer,
    LoadedOverride,
    LoadedRotation,
    OnCall,
    as_utc,
    oncall_at,
    time_off_prefetch,
)


def load_rotations(*, at: datetime, rotation_filter: Q | None = None) -> list[LoadedRotation]:
    """Every rotation's rules and the overrides not over at `at`, as plain rows (five queries,
    each person read and decoded once, with their time off not over at `at`): for answering "who is on call" across thousands of
    projects. The results work with `oncall_at`, `rotation_shifts` and the rest like rotations
    from the ORM."""
    at = as_utc(at)
    layer_rows = RotationLayer.objects.order_by("rotation_id", "order", "id")
    member_rows = RotationMember.objects.order_by("layer_id", "order", "id")
    override_rows = Override.objects.filter(end_at__gt=at).order_by("rotation_id", "start_at", "id")
    if rotation_filter is not None:
        chosen = Rotation.objects.filter(rotation_filter)
        layer_rows = layer_rows.filter(rotation__in=chosen)
        member_rows = member_rows.filter(layer__rotation__in=chosen)
        override_rows = override_rows.filter(rotation__in=chosen)
    rotations: dict[int, LoadedRotation] = {}
    layers: dict[int, LoadedLayer] = {}
    for (
        layer_id, rotation_id, name, project_id, team_id, order, tz, start_date, handoff,
        length, count, r_start, r_end, r_days,
    ) in layer_rows.values_list(
        "id", "rotation_id", "rotation__name", "rotation__project_id", "rotation__team_id",
        "order", "time_zone", "start_date", "handoff_time", "length", "length_count",
        "restrict_start", "restrict_end", "restrict_days",
    ):  # fmt: skip
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        layer = layers[layer_id] = LoadedLayer(
            layer_id, order, tz, start_date, handoff, length, count, r_start, r_end, r_days
        )
        rotation.layers.append(layer)
    memberships = list(member_rows.values_list("layer_id", "person_id"))
    overrides = list(
        override_rows.values_list(
            "id", "rotation_id", "rotation__name", "rotation__project_id", "rotation__team_id",
            "covered_id", "start_at", "end_at", "person_id",
        )
    )  # fmt: skip
    person_ids = {person_id for _, person_id in memberships} | {row[-1] for row in overrides}
    people = {
        p.pk: p
        for p in Person.objects.filter(pk__in=person_ids)
        .only("id", "display_name", "time_zone", "working_hours", "deactivated_at")
        .prefetch_related(time_off_prefetch(after=at))
    }
    # A row written or deleted between these reads waits for the next call.
    for layer_id, person_id in memberships:
        layer, person = layers.get(layer_id), people.get(person_id)
        if layer is not None and person is not None:
            layer.people.append(person)
    for pk, rotation_id, name, project_id, team_id, covered_id, start, end, person_id in overrides:
        if person_id not in people:
            continue
        rotation = rotations.get(rotation_id)
        if rotation is None:
            rotation = rotations[rotation_id] = LoadedRotation(
                rotation_id, name, project_id, team_id
            )
        rotation.overrides.append(LoadedOverride(pk, people[person_id], covered_id, start, end))
    return list(rotations.values())


def oncall_now_by_project(*, at: datetime) -> dict[int, list[OnCall]]:
    """project id → who is on call at `at` on each of its own rotations, for every project."""
    result: dict[int, list[OnCall]] = {}
    for rotation in load_rotations(at=at, rotation_filter=Q(project__isnull=False)):
        current = oncall_at(rotation, at)
        if current is not None:
            result.setdefault(rotation.project_id, []).append(current)
    return result
