"""Writes of on-call rotations, overrides, escalation policies and calendar feeds.

Like `registry.services`: each service checks the actor's right (a project's owners and
maintainers edit its rotations and policy; IT staff and the team's members edit a team's; IT staff
edit an IT system's), validates
everything before writing (a ``ValidationError`` naming the field, nothing saved), writes in one
transaction and records an audit entry. ``actor=None`` means Steward itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from registry import permissions
from registry.models import AuditEntry, ITSystem, Person, Project, Team
from registry.services import (
    Actor,
    assign_fields,
    audit_record,
    audit_snapshot,
    audited_change,
    require_allowed,
    save_validated,
)
from registry.validators import WEEKDAYS

from .cache import oncall_rules_changed
from .models import (
    CalendarFeed,
    EscalationLevel,
    EscalationPolicy,
    Override,
    Rotation,
    RotationLayer,
    RotationMember,
    ShiftSwap,
    TimeOff,
)
from .schedule import rotation_shifts, rotations_queryset

MAX_MEMBERS = 100
MAX_LEVELS = 20
MAX_REPEATS = 10
MAX_TIME_OFF = dt.timedelta(days=366)


# --- permissions --------------------------------------------------------------------------------


def can_edit_team_rotations(user: Any, team: Team) -> bool:
    if permissions.can_manage_teams(user):
        return True
    return bool(user.is_authenticated and team.members.filter(user=user).exists())


def can_edit_project_oncall(user: Any, project: Project) -> bool:
    """A project's owners and maintainers set up its on-call, and so does IT staff, who run
    on-call for everyone."""
    return permissions.is_it_staff(user) or permissions.can_edit_project(user, project)


def can_edit_rotation(user: Any, rotation: Rotation) -> bool:
    if rotation.project_id:
        return can_edit_project_oncall(user, rotation.project)
    if rotation.system_id:
        return permissions.can_edit_system(user, rotation.system)
    return can_edit_team_rotations(user, rotation.team)


def can_edit_policy_of(user: Any, owner: Project | ITSystem) -> bool:
    """A project's escalation policy: as its on-call (`can_edit_project_oncall`); an IT
    system's: IT staff."""
    if isinstance(owner, ITSystem):
        return permissions.can_edit_system(user, owner)
    return can_edit_project_oncall(user, owner)


def _require_rotation(actor: Actor, rotation: Rotation) -> None:
    require_allowed(actor is None or can_edit_rotation(actor, rotation))


# --- audit helpers --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes")
    return value


def _snapshot(instance: Model) -> dict[str, Any]:
    snapshot = {key: _plain(value) for key, value in audit_snapshot(instance).items()}
    snapshot.pop("token", None)  # a feed's secret never goes into the audit log
    if isinstance(instance, RotationLayer) and instance.pk:
        snapshot["members"] = [
            name
            for name in instance.memberships.order_by("order", "id").values_list(
                "person__display_name", flat=True
            )
        ]
    if isinstance(instance, EscalationPolicy) and instance.pk:
        snapshot["levels"] = [
            f"{level.get_target_display()}"
            + (f": {level.rotation or level.person or level.team}" if level.target in _FK else "")
            + f", then {level.delay_minutes} min"
            for level in instance.levels.select_related("rotation", "person", "team").order_by(
                "order", "id"
            )
        ]
    return snapshot


def _audited(actor: Actor, instance: Model, change) -> Model:
    """`audited_change` of a row that decides who is on call: the kept rules are stale."""
    oncall_rules_changed()
    return audited_change(actor, instance, change)


def _recorded(actor: Actor, instance: Model, change, *, before: dict | None) -> Model:
    """Run `change` and audit it with snapshots that know times, members and levels."""
    oncall_rules_changed()
    is_new = before is None
    change()
    audit_record(
        actor=actor,
        action=AuditEntry.Action.CREATE if is_new else AuditEntry.Action.UPDATE,
        instance=instance,
        before=before,
        after=_snapshot(instance),
    )
    return instance


def _deleted(actor: Actor, instance: Model) -> None:
    oncall_rules_changed()
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditEntry.Action.DELETE,
            instance=instance,
            before=_snapshot(instance),
            after=None,
        )
        instance.delete()


# --- rotations ------------------------------------------------------------------------------------


def rotation_create(
    *,
    actor: Actor,
    name: str,
    project: Project | None = None,
    team: Team | None = None,
    system: ITSystem | None = None,
) -> Rotation:
    if sum(owner is not None for owner in (project, team, system)) != 1:
        raise ValidationError(
            {"project": "A rotation belongs to one project, one team or one IT system."}
        )
    rotation = Rotation(name=name.strip(), project=project, team=team, system=system)
    require_allowed(actor is None or can_edit_rotation(actor, rotation))
    return _audited(actor, rotation, lambda: save_validated(rotation))


def rotation_update(*, actor: Actor, rotation: Rotation, **fields: Any) -> Rotation:
    _require_rotation(actor, rotation)
    assign_fields(rotation, fields, ("name",))
    return _audited(actor, rotation, lambda: save_validated(rotation))


def rotation_save(
    *,
    actor: Actor,
    rotation: Rotation | None = None,
    layers: Sequence[dict[str, Any]] | None = None,
    **fields: Any,
) -> Rotation:
    """Create a rotation (`fields`: its name and project or team) or rename one, and replace its
    layers when `layers` is given (each a dict of layer fields with `members` in turn order). One
    transaction: the editor and the API both write rotations here, so a bad layer leaves
    nothing half-written."""
    with transaction.atomic():
        if rotation is None:
            rotation = rotation_create(actor=actor, **fields)
        else:
            _require_rotation(actor, rotation)
            if fields:
                rotation_update(actor=actor, rotation=rotation, **fields)
        if layers is not None:
            for existing in list(rotation.layers.all()):
                layer_delete(actor=actor, layer=existing)
            for order, spec in enumerate(layers):
                spec = {"order": order, **spec}
                members = spec.pop("members")
                layer_create(actor=actor, rotation=rotation, members=members, **spec)
    return rotation


def rotation_delete(*, actor: Actor, rotation: Rotation) -> None:
    _require_rotation(actor, rotation)
    _deleted(actor, rotation)


# --- layers ---------------------------------------------------------------------------------------

LAYER_FIELDS = (
    "order",
    "name",
    "time_zone",
    "start_date",
    "handoff_time",
    "length",
    "length_count",
    "restrict_start",
    "restrict_end",
    "restrict_days",
)


def layer_clean(layer: RotationLayer, members: Sequence[Person] | None) -> None:
    errors: dict[str, str] = {}
    if members is not None:
        if not members:
            errors["members"] = "A layer needs at least one member."
        elif len(members) > MAX_MEMBERS:
            errors["members"] = f"A layer has at most {MAX_MEMBERS} members."
    if (layer.restrict_start is None) != (layer.restrict_end is None):
        field = "restrict_end" if layer.restrict_end is None else "restrict_start"
        errors[field] = "A restriction window needs both a start and an end."
    elif layer.restrict_start is not None and layer.restrict_start == layer.restrict_end:
        errors["restrict_end"] = (
            "The restriction window is empty: it ends when it starts. "
            "Leave both empty for the whole day."
        )
    days = layer.restrict_days
    if not isinstance(days, list) or any(day not in WEEKDAYS for day in days):
        errors["restrict_days"] = f"Weekdays are a list of {', '.join(WEEKDAYS)}."
    elif len(set(days)) != len(days):
        errors["restrict_days"] = "A weekday is listed twice."
    else:
        layer.restrict_days = [day for day in WEEKDAYS if day in days]
    if layer.length == RotationLayer.Length.HOURS and (layer.length_count or 0) > 24 * 31:
        errors["length_count"] = "A shift of N hours is at most 744 hours long."
    if layer.length_count is not None and layer.length_count < 1:
        errors["length_count"] = "A shift is at least one hour or one day long."
    if errors:
        raise ValidationError(errors)


def layer_check(layer: RotationLayer, members: Sequence[Person] | None) -> None:
    """Every problem of an unsaved layer, by field, without writing: what `layer_create` refuses,
    for the editor's fields and its preview of a layer not yet saved."""
    errors: dict[str, list[str]] = {}
    checks = (
        lambda: layer.full_clean(
            exclude=["rotation"], validate_unique=False, validate_constraints=False
        ),
        lambda: layer_clean(layer, members),
    )
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)


def _set_members(layer: RotationLayer, members: Sequence[Person]) -> None:
    layer.memberships.all().delete()
    RotationMember.objects.bulk_create(
        RotationMember(layer=layer, person=person, order=i) for i, person in enumerate(members)
    )


def _save_layer(layer: RotationLayer, members: Sequence[Person] | None) -> None:
    layer_clean(layer, members)
    save_validated(layer)
    if members is not None:
        _set_members(layer, members)


def layer_create(
    *, actor: Actor, rotation: Rotation, members: Iterable[Person], **fields: Any
) -> RotationLayer:
    """Add a layer. Without an `order` it goes below the existing ones (a backup layer)."""
    _require_rotation(actor, rotation)
    members = list(members)
    layer = RotationLayer(rotation=rotation)
    assign_fields(layer, fields, LAYER_FIELDS)
    with transaction.atomic():
        Rotation.objects.select_for_update().filter(pk=rotation.pk).first()
        if "order" not in fields:
            last = rotation.layers.order_by("-order").values_list("order", flat=True).first()
            layer.order = 0 if last is None else last + 1
        return _recorded(actor, layer, lambda: _save_layer(layer, members), before=None)


def layer_update(
    *,
    actor: Actor,
    layer: RotationLayer,
    members: Iterable[Person] | None = None,
    **fields: Any,
) -> RotationLayer:
    _require_rotation(actor, layer.rotation)
    members = None if members is None else list(members)
    with transaction.atomic():
        before = _snapshot(RotationLayer.objects.get(pk=layer.pk))
        assign_fields(layer, fields, LAYER_FIELDS)
        return _recorded(actor, layer, lambda: _save_layer(layer, members), before=before)


def layer_delete(*, actor: Actor, layer: RotationLayer) -> None:
    _require_rotation(actor, layer.rotation)
    _deleted(actor, layer)


# --- overrides ------------------------------------------------------------------------------------


def override_clean(override: Override) -> None:
    errors: dict[str, str] = {}
    for name in ("start_at", "end_at"):
        value = getattr(override, name)
        if not isinstance(value, dt.datetime) or timezone.is_naive(value):
            errors[name] = "Give a date and time with its offset or zone."
    if errors:
        raise ValidationError(errors)
    if override.end_at <= override.start_at:
        raise ValidationError({"end_at": "The override ends before it starts."})
    if override.covered_id is not None and override.covered_id == override.person_id:
        raise ValidationError({"covered": "Someone cannot cover for themselves."})
    clashes = Override.objects.filter(
        rotation_id=override.rotation_id,
        start_at__lt=override.end_at,
        end_at__gt=override.start_at,
    ).exclude(pk=override.pk)
    # Two overrides clash when they would decide the same moment: both cover the whole rotation,
    # or one does, or both cover the same person.
    if override.covered_id is not None:
        clashes = clashes.filter(Q(covered__isnull=True) | Q(covered_id=override.covered_id))
    clash = clashes.select_related("person").order_by("start_at").first()
    if clash is not None:
        raise ValidationError(
            {
                "start_at": (
                    f"This overlaps the override where {clash.person} covers from "
                    f"{clash.start_at:%Y-%m-%d %H:%M} to {clash.end_at:%Y-%m-%d %H:%M} UTC."
                )
            }
        )


OVERRIDE_FIELDS = ("person", "covered", "start_at", "end_at", "reason")


def _save_override(override: Override) -> None:
    # One writer at a time per rotation, so two overlapping overrides cannot both pass the check.
    Rotation.objects.select_for_update().filter(pk=override.rotation_id).first()
    override_clean(override)
    save_validated(override)


def override_create(
    *,
    actor: Actor,
    rotation: Rotation,
    person: Person,
    start_at: dt.datetime,
    end_at: dt.datetime,
    covered: Person | None = None,
    reason: str = "",
) -> Override:
    _require_rotation(actor, rotation)
    return _override_write(
        actor,
        rotation=rotation,
        person=person,
        covered=covered,
        start_at=start_at,
        end_at=end_at,
        reason=reason,
    )


def _override_write(actor: Actor, *, rotation: Rotation, reason: str, **fields: Any) -> Override:
    """Validate and save an override, audited as `actor`'s; the caller checked the right to."""
    override = Override(rotation=rotation, reason=reason.strip(), **fields)
    with transaction.atomic():
        return _audited(actor, override, lambda: _save_override(override))


def override_update(*, actor: Actor, override: Override, **fields: Any) -> Override:
    _require_rotation(actor, override.rotation)
    assign_fields(override, fields, OVERRIDE_FIELDS)
    with transaction.atomic():
        return _audited(actor, override, lambda: _save_override(override))


def override_delete(*, actor: Actor, override: Override) -> None:
    _require_rotation(actor, override.rotation)
    _deleted(actor, override)


# --- escalation policies --------------------------------------------------------------------------

_FK = {
    EscalationLevel.Target.ROTATION: "rotation",
    EscalationLevel.Target.PERSON: "person",
    EscalationLevel.Target.TEAM: "team",
}


# An IT system has no owners or backups: its policy pages rotations, people, teams, its contacts.
_PROJECT_ONLY_TARGETS = (EscalationLevel.Target.OWNERS, EscalationLevel.Target.BACKUPS)


def _rotation_of(rotation: Rotation, owner: Project | ITSystem) -> bool:
    """Whether a policy of `owner` may page `rotation`: its own, or (a project) its team's."""
    if isinstance(owner, ITSystem):
        return rotation.system_id == owner.pk
    return rotation.project_id == owner.pk or (
        rotation.team_id is not None and rotation.team_id == owner.team_id
    )


def level_check(owner: Project | ITSystem, spec: dict[str, Any]) -> EscalationLevel:
    """One level dict ``{target, rotation|person|team, delay_minutes}`` of the policy of a project
    or an IT system → an unsaved row, or a ValidationError naming the field at fault (the editor
    shows it beside that field)."""
    target = spec.get("target")
    if target not in EscalationLevel.Target.values:
        raise ValidationError(
            {"target": f"the target is one of {', '.join(EscalationLevel.Target.values)}."}
        )
    if isinstance(owner, ITSystem) and target in _PROJECT_ONLY_TARGETS:
        raise ValidationError(
            {
                "target": f"an IT system has no {target}; page a rotation, a person, a team or "
                "its IT contacts."
            }
        )
    delay = spec.get("delay_minutes", 10)
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 24 * 60:
        raise ValidationError({"delay_minutes": "delay_minutes is a whole number from 0 to 1440."})
    unexpected = [name for name in _FK.values() if spec.get(name) is not None]
    needed = _FK.get(target)
    if needed and spec.get(needed) is None:
        raise ValidationError({needed: f"a {target} target names a {needed}."})
    extra = [name for name in unexpected if name != needed]
    if extra:
        raise ValidationError({extra[0]: f"a {target} target names no {', '.join(extra)}."})
    rotation = spec.get("rotation")
    if rotation is not None and not _rotation_of(rotation, owner):
        whose = owner if isinstance(owner, ITSystem) else f"{owner} or its team"
        raise ValidationError({"rotation": f"{rotation} is not a rotation of {whose}."})
    return EscalationLevel(
        target=target,
        rotation=rotation,
        person=spec.get("person"),
        team=spec.get("team"),
        delay_minutes=delay,
    )


def _clean_levels(
    owner: Project | ITSystem, levels: Sequence[dict[str, Any]]
) -> list[EscalationLevel]:
    """Level dicts → unsaved rows, or a ValidationError on `levels` naming the level and what is
    wrong with it."""
    if not levels:
        raise ValidationError({"levels": "A policy needs at least one level."})
    if len(levels) > MAX_LEVELS:
        raise ValidationError({"levels": f"A policy has at most {MAX_LEVELS} levels."})
    rows = []
    for i, spec in enumerate(levels, start=1):
        try:
            row = level_check(owner, spec)
        except ValidationError as exc:
            message = next(iter(exc.message_dict.values()))[0]
            raise ValidationError({"levels": f"Level {i}: {message}"}) from exc
        row.order = i - 1
        rows.append(row)
    if sum(row.delay_minutes for row in rows) == 0:
        raise ValidationError(
            {
                "levels": "Every delay_minutes is 0: the policy would loop through its levels "
                "at once. Give at least one level a delay."
            }
        )
    return rows


def _clean_repeat(repeat_count: Any) -> int:
    if (
        not isinstance(repeat_count, int)
        or isinstance(repeat_count, bool)
        or not 0 <= repeat_count <= MAX_REPEATS
    ):
        raise ValidationError(
            {"repeat_count": f"repeat_count is a whole number from 0 to {MAX_REPEATS}."}
        )
    return repeat_count


def _write_levels(policy: EscalationPolicy, rows: list[EscalationLevel]) -> None:
    policy.levels.all().delete()
    for row in rows:
        row.policy = policy
    EscalationLevel.objects.bulk_create(rows)


def escalation_policy_create(
    *,
    actor: Actor,
    levels: Sequence[dict[str, Any]],
    project: Project | None = None,
    system: ITSystem | None = None,
    repeat_count: int = 2,
) -> EscalationPolicy:
    """The escalation policy of a project or of an IT system (exactly one)."""
    if (project is None) == (system is None):
        raise ValidationError({"project": "A policy belongs to one project or one IT system."})
    owner = project or system
    require_allowed(actor is None or can_edit_policy_of(actor, owner))
    rows = _clean_levels(owner, levels)
    policy = EscalationPolicy(
        project=project, system=system, repeat_count=_clean_repeat(repeat_count)
    )
    with transaction.atomic():
        field = "project" if project is not None else "system"
        if EscalationPolicy.objects.select_for_update().filter(**{field: owner}).exists():
            raise ValidationError({field: f"{owner} already has an escalation policy."})

        def change() -> None:
            save_validated(policy)
            _write_levels(policy, rows)

        return _recorded(actor, policy, change, before=None)


def escalation_policy_update(
    *,
    actor: Actor,
    policy: EscalationPolicy,
    levels: Sequence[dict[str, Any]] | None = None,
    repeat_count: int | None = None,
) -> EscalationPolicy:
    """Change the levels (replaced as a whole) or the repeat count. Pages already under way keep
    the levels they started with (the pipeline snapshots them)."""
    require_allowed(actor is None or can_edit_policy_of(actor, policy.owner))
    rows = None if levels is None else _clean_levels(policy.owner, levels)
    if repeat_count is not None:
        policy.repeat_count = _clean_repeat(repeat_count)
    with transaction.atomic():
        locked = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        before = _snapshot(locked)

        def change() -> None:
            save_validated(policy)
            if rows is not None:
                _write_levels(policy, rows)

        return _recorded(actor, policy, change, before=before)


def escalation_policy_delete(*, actor: Actor, policy: EscalationPolicy) -> None:
    require_allowed(actor is None or can_edit_policy_of(actor, policy.owner))
    _deleted(actor, policy)


# --- calendar feeds -------------------------------------------------------------------------------


def calendar_feed_create(
    *, actor: Actor, person: Person | None = None, rotation: Rotation | None = None
) -> CalendarFeed:
    """A new secret feed URL: of one's own shifts, or of a rotation one may read (anyone signed
    in may read rotations, as they may read who supports a project)."""
    if (person is None) == (rotation is None):
        raise ValidationError({"person": "A feed is of one person or of one rotation."})
    if person is not None:
        require_allowed(actor is None or permissions.can_edit_person(actor, person))
    else:
        require_allowed(actor is None or actor.is_authenticated)
    feed = CalendarFeed(
        person=person,
        rotation=rotation,
        created_by=getattr(actor, "person", None) if actor is not None else None,
    )
    with transaction.atomic():
        return _recorded(actor, feed, lambda: save_validated(feed), before=None)


def can_manage_feed(user: Any, feed: CalendarFeed) -> bool:
    if permissions.is_admin(user):
        return True
    creator = feed.created_by_id
    own = getattr(getattr(user, "person", None), "pk", None)
    return bool(user.is_authenticated and own is not None and own in {creator, feed.person_id})


def calendar_feed_revoke(*, actor: Actor, feed: CalendarFeed) -> CalendarFeed:
    """Revoke a feed: its URL answers 404 from now on. Harmless when already revoked."""
    require_allowed(actor is None or can_manage_feed(actor, feed))
    if feed.revoked_at is not None:
        return feed
    with transaction.atomic():
        before = _snapshot(feed)
        feed.revoked_at = timezone.now()
        return _recorded(
            actor, feed, lambda: feed.save(update_fields=["revoked_at"]), before=before
        )


# --- shift swaps ----------------------------------------------------------------------------------


def _aware_span(start_at: Any, end_at: Any) -> None:
    """A ValidationError unless both are aware datetimes and the span is not empty."""
    errors = {
        name: "Give a date and time with its offset or zone."
        for name, value in (("start_at", start_at), ("end_at", end_at))
        if not isinstance(value, dt.datetime) or timezone.is_naive(value)
    }
    if errors:
        raise ValidationError(errors)
    if end_at <= start_at:
        raise ValidationError({"end_at": "This ends before it starts."})


def _handover_problem(rotation: Rotation, person: Person, start: dt.datetime, end: dt.datetime):
    """Why `person` cannot hand over [start, end) of `rotation`, or None when the layers put them
    on call for all of it (a shift someone took by an override goes back through its owners)."""
    loaded = rotations_queryset(overrides_after=start).get(pk=rotation.pk)
    cursor = start
    for shift in rotation_shifts(loaded, start, end):
        if shift.start > cursor or shift.person.pk != person.pk:
            break
        if shift.override is not None:
            return f"From {shift.start:%Y-%m-%d %H:%M} UTC you are on call by an override."
        cursor = shift.end
    if cursor < end:
        return (
            f"You are not on call on {rotation} for all of this time "
            f"(from {cursor:%Y-%m-%d %H:%M} UTC)."
        )
    return None


def rotation_member_ids(rotation: Rotation) -> set[int]:
    return set(
        RotationMember.objects.filter(layer__rotation=rotation).values_list("person_id", flat=True)
    )


def shift_swap_request(
    *,
    actor: Actor,
    rotation: Rotation,
    recipient: Person,
    start_at: dt.datetime,
    end_at: dt.datetime,
    note: str = "",
) -> ShiftSwap:
    """The actor asks another member of the rotation to take [start_at, end_at), a shift of theirs
    or part of one. Nothing changes on the schedule until the recipient accepts."""
    requester = getattr(actor, "person", None)
    require_allowed(requester is not None, "Only a person can ask someone to take a shift.")
    _aware_span(start_at, end_at)
    if end_at <= timezone.now():
        raise ValidationError({"end_at": "This time is already over."})
    if recipient.pk == requester.pk:
        raise ValidationError({"recipient": "Ask someone else to take your shift."})
    members = rotation_member_ids(rotation)
    if recipient.pk not in members:
        raise ValidationError({"recipient": f"{recipient} is not a member of {rotation}."})
    problem = _handover_problem(rotation, requester, start_at, end_at)
    if problem:
        raise ValidationError({"start_at": problem})
    swap = ShiftSwap(
        rotation=rotation,
        requester=requester,
        recipient=recipient,
        start_at=start_at,
        end_at=end_at,
        note=note.strip(),
    )
    with transaction.atomic():
        return audited_change(actor, swap, lambda: save_validated(swap))


SWAP_ANSWERS = {
    "accept": ShiftSwap.Status.ACCEPTED,
    "decline": ShiftSwap.Status.DECLINED,
    "cancel": ShiftSwap.Status.CANCELLED,
}


def shift_swap_answer(*, actor: Actor, swap: ShiftSwap, answer: str) -> ShiftSwap:
    """The recipient accepts (an override: they cover the requester for that time) or declines;
    the requester may cancel. Only a request still waiting can be answered; the row is locked so
    that two answers cannot both land."""
    if answer not in SWAP_ANSWERS:
        raise ValidationError({"answer": f"The answer is one of {', '.join(SWAP_ANSWERS)}."})
    person = getattr(actor, "person", None)
    answerer = swap.requester_id if answer == "cancel" else swap.recipient_id
    require_allowed(person is not None and person.pk == answerer, "This request is not yours.")
    with transaction.atomic():
        locked = ShiftSwap.objects.select_for_update().get(pk=swap.pk)
        if locked.status != ShiftSwap.Status.PENDING:
            raise ValidationError(
                {"answer": f"This request was already {locked.get_status_display().lower()}."}
            )
        before = audit_snapshot(locked)
        if answer == "accept":
            problem = _handover_problem(swap.rotation, swap.requester, swap.start_at, swap.end_at)
            if problem:
                raise ValidationError({"answer": f"The schedule changed since: {problem}"})
            swap.override = _override_write(
                actor,
                rotation=swap.rotation,
                person=swap.recipient,
                covered=swap.requester,
                start_at=swap.start_at,
                end_at=swap.end_at,
                reason=f"Swap asked by {swap.requester}"[:200],
            )
        swap.status = SWAP_ANSWERS[answer]
        swap.decided_at = timezone.now()
        swap.save(update_fields=["status", "decided_at", "override"])
        audit_record(
            actor=actor,
            action=AuditEntry.Action.UPDATE,
            instance=swap,
            before=before,
            after=audit_snapshot(swap),
        )
    return swap


# --- time off -------------------------------------------------------------------------------------


def time_off_add(
    *,
    actor: Actor,
    person: Person,
    start_at: dt.datetime,
    end_at: dt.datetime,
    reason: str = "",
) -> TimeOff:
    """A person records time away; their layers hand those hours to the next member in turn."""
    require_allowed(actor is None or permissions.can_edit_person(actor, person))
    _aware_span(start_at, end_at)
    if end_at - start_at > MAX_TIME_OFF:
        raise ValidationError({"end_at": "Time off is at most 366 days at a time."})
    time_off = TimeOff(person=person, start_at=start_at, end_at=end_at, reason=reason.strip())
    with transaction.atomic():
        return _audited(actor, time_off, lambda: save_validated(time_off))


def time_off_remove(*, actor: Actor, time_off: TimeOff) -> None:
    require_allowed(actor is None or permissions.can_edit_person(actor, time_off.person))
    _deleted(actor, time_off)
