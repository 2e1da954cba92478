"""The plan-then-apply engine both importers run on: the Backstage catalog (`imports.backstage`)
and the CSV of projects (`imports.csv`).

An import is two steps.

*Plan.* The format reads its file and checks every record against Steward, collecting every
problem at once: where it is (a row, a YAML document), the field and the reason. A record the
actor may not change is a problem too, marked ``forbidden`` (authorisation is per object, decided
while planning). Planning writes nothing. The CSV's plan says, row by row, what each will do
(``create``, ``update`` naming the columns that differ, ``unchanged``); the catalog's plan holds
the checked entities, and whether each is created, updated, unchanged (or an edge removed) is
counted as it is written, which is why its dry run rehearses.

*Apply.* `plan_apply` runs in one transaction: it takes the format's lock, plans again (what was
checked earlier may have changed), refuses the whole file with `ImportRejected` if the plan has
any problem, and otherwise lets the format write the plan, every write audited. All or nothing.
A dry run writes nothing: it either stops after the plan, or (``rehearse``) writes and rolls back,
for a format whose summary is counted while writing.

The rest is the kit the formats' writers share: `save_if_changed` (write only what differs, one
audit entry), `creation_entry` (the audit entry of a bulk-created row) and `ImportCounts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model

from registry.models import AuditEntry
from registry.services import audit_record, audit_snapshot, save_validated

Actor = AbstractBaseUser | None

CREATED, UPDATED, UNCHANGED, REMOVED = "created", "updated", "unchanged", "removed"


# --- problems -----------------------------------------------------------------------------------


class Problem(Protocol):
    """One thing wrong with the file. Each format says where (row and column, YAML document and
    field) and how it reads as JSON; `forbidden` marks a record the actor may not change."""

    reason: str
    forbidden: bool

    def as_dict(self) -> dict[str, Any]: ...


class ImportRejected(Exception):
    """The file has problems (every one is listed); nothing was written. `forbidden`: some of
    them are permission problems, which the web layer answers with 403 rather than 400."""

    what = "the file"
    forbidden_detail = "You may not change some of these records; nothing was written."

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in {self.what}")
        self.problems = list(problems)
        self.forbidden = any(problem.forbidden for problem in problems)

    def listed(self) -> list[Problem]:
        """The problems an answer lists: the first MAX_LISTED_PROBLEMS, then one saying how many
        more there are (a file of 20,000 bad rows is not answered with 20,000 messages)."""
        return listed_problems(self.problems, self.more_problem)

    def more_problem(self, count: int) -> Problem:
        raise NotImplementedError


MAX_LISTED_PROBLEMS = 200


def listed_problems(problems: Sequence[Any], more: Callable[[int], Any]) -> list[Any]:
    """The first MAX_LISTED_PROBLEMS of `problems`, and `more(count)` for the rest, if any."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return list(problems)
    return [*problems[:MAX_LISTED_PROBLEMS], more(len(problems) - MAX_LISTED_PROBLEMS)]


def upload_text(data: bytes, *, max_bytes: int) -> tuple[str, str | None]:
    """Uploaded bytes → (text, None), or ("", the reason it is refused): too large, not UTF-8.
    A byte-order mark is dropped."""
    if len(data) > max_bytes:
        return "", too_large_reason(max_bytes)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return "", f"The file is not UTF-8 text (byte {exc.start})."


def too_large_reason(max_bytes: int) -> str:
    return f"The file is larger than {max_bytes // (1024 * 1024)} MB."


# --- plan and apply -----------------------------------------------------------------------------


@dataclass
class Plan:
    """What planning found. Formats add the records it plans (their creates and updates)."""

    problems: list[Any] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


PlanT = TypeVar("PlanT", bound=Plan)
ResultT = TypeVar("ResultT")


def plan_apply(
    *,
    plan: Callable[[], PlanT],
    write: Callable[[PlanT], ResultT],
    rejected: type[ImportRejected],
    dry_run: bool,
    rehearse: bool = False,
    lock: Callable[[], None] | None = None,
) -> tuple[PlanT, ResultT | None]:
    """Plan, then write the plan, in one transaction; returns the plan and what `write` returned
    (None for a dry run that does not rehearse).

    `lock` runs first, inside the transaction, so that the plan checks what stays true until
    the commit. A plan with problems raises `rejected`; `write` may raise it too (a conflict the
    plan could not see), and the transaction then rolls everything back. With `dry_run`, nothing
    is kept: without `rehearse` `write` is not called; with it, `write` runs and is rolled back,
    so that a summary counted while writing is exactly what an import would do.
    """
    with transaction.atomic():
        if lock is not None:
            lock()
        planned = plan()
        if planned.problems:
            raise rejected(planned.problems)
        if dry_run and not rehearse:
            return planned, None
        result = write(planned)
        if dry_run:
            transaction.set_rollback(True)
    return planned, result


# --- writing ------------------------------------------------------------------------------------


class ImportCounts:
    """created / updated / unchanged / removed, per kind of record."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.counts = {kind: {CREATED: 0, UPDATED: 0, UNCHANGED: 0, REMOVED: 0} for kind in kinds}

    def add(self, kind: str, what: str) -> None:
        self.counts[kind][what] += 1


def save_if_changed(
    *,
    actor: Actor,
    instance: Model,
    fields: dict[str, Any],
    related_changed: bool = False,
    after_save: Callable[[], None] | None = None,
    extra_before: dict[str, Any] | None = None,
    extra_after: dict[str, Any] | None = None,
) -> str:
    """Save `instance` (validated) only when a field differs, run `after_save` (related rows)
    when anything does, and record one audit entry. Returns created, updated or unchanged: an
    unchanged record is neither written nor audited, and keeps its ``updated_at``.

    `extra_before` / `extra_after` are audited values that are not fields (a team's members).
    """
    is_new = instance.pk is None
    differs = {k: v for k, v in fields.items() if is_new or getattr(instance, k) != v}
    extra_before = extra_before or {}
    extra_after = extra_after or {}
    if not is_new and not differs and not related_changed and extra_before == extra_after:
        return UNCHANGED
    before = None if is_new else {**audit_snapshot(instance), **extra_before}
    for key, value in differs.items():
        setattr(instance, key, value)
    if is_new or differs:
        save_validated(instance)
    if after_save is not None:
        after_save()
    audit_record(
        actor=actor,
        action=AuditEntry.Action.CREATE if is_new else AuditEntry.Action.UPDATE,
        instance=instance,
        before=before,
        after={**audit_snapshot(instance), **extra_after},
    )
    return CREATED if is_new else UPDATED


def creation_entry(actor: Actor, instance: Model, after: dict[str, Any]) -> AuditEntry:
    """The entry `audit_record(action=CREATE)` writes, unsaved, so that thousands of rows created
    in bulk are audited in one INSERT."""
    return AuditEntry(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=AuditEntry.Action.CREATE,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes={key: [None, after[key]] for key in sorted(after) if after[key] is not None},
    )
