"""The engine both importers run on (imports/engine.py): a plan with problems writes nothing, a
dry run keeps nothing, a forbidden record is told apart, uploads are decoded the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from imports.engine import ImportRejected, Plan, plan_apply, save_if_changed, upload_text
from registry.models import AuditEntry, ITSystem, Team
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class _Problem:
    reason: str
    forbidden: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason}


def _write_a_team(plan: Plan) -> int:
    TeamFactory(slug="written")
    return Team.objects.count()


def test_a_plan_with_problems_is_refused_and_nothing_is_written() -> None:
    with pytest.raises(ImportRejected) as caught:
        plan_apply(
            plan=lambda: Plan(problems=[_Problem("bad"), _Problem("worse")]),
            write=_write_a_team,
            rejected=ImportRejected,
            dry_run=False,
        )
    assert [p.reason for p in caught.value.problems] == ["bad", "worse"]
    assert not caught.value.forbidden
    assert not Team.objects.exists()


def test_one_forbidden_problem_makes_the_refusal_a_permission_refusal() -> None:
    with pytest.raises(ImportRejected) as caught:
        plan_apply(
            plan=lambda: Plan(problems=[_Problem("bad"), _Problem("not yours", forbidden=True)]),
            write=_write_a_team,
            rejected=ImportRejected,
            dry_run=False,
        )
    assert caught.value.forbidden


def test_an_import_writes_and_a_dry_run_keeps_nothing() -> None:
    locked = []
    plan, written = plan_apply(
        plan=Plan,
        write=_write_a_team,
        rejected=ImportRejected,
        dry_run=True,
        lock=lambda: locked.append(True),
    )
    assert written is None and locked == [True]  # stops at the plan
    assert not Team.objects.exists()

    plan, written = plan_apply(
        plan=Plan, write=_write_a_team, rejected=ImportRejected, dry_run=True, rehearse=True
    )
    assert written == 1  # written, counted...
    assert not Team.objects.exists()  # ...and rolled back

    plan, written = plan_apply(
        plan=Plan, write=_write_a_team, rejected=ImportRejected, dry_run=False
    )
    assert written == 1 and Team.objects.filter(slug="written").exists()


def test_save_if_changed_writes_and_audits_only_what_differs() -> None:
    system = ITSystem(slug="db")
    assert save_if_changed(actor=None, instance=system, fields={"name": "DB"}) == "created"
    updated_at = ITSystem.objects.get(pk=system.pk).updated_at

    assert save_if_changed(actor=None, instance=system, fields={"name": "DB"}) == "unchanged"
    assert ITSystem.objects.get(pk=system.pk).updated_at == updated_at
    assert AuditEntry.objects.filter(object_type="registry.itsystem").count() == 1

    assert save_if_changed(actor=None, instance=system, fields={"name": "Main DB"}) == "updated"
    assert ITSystem.objects.get(pk=system.pk).updated_at > updated_at
    entry = AuditEntry.objects.filter(object_type="registry.itsystem").latest("id")
    assert entry.changes["name"] == ["DB", "Main DB"]


def test_upload_text_drops_the_bom_and_refuses_what_is_too_big_or_not_utf8() -> None:
    assert upload_text("\ufeffslug".encode(), max_bytes=1024) == ("slug", None)
    assert upload_text(b"x" * 2_000_000, max_bytes=1024 * 1024) == (
        "",
        "The file is larger than 1 MB.",
    )
    assert upload_text(b"ok \xff", max_bytes=1024) == ("", "The file is not UTF-8 text (byte 3).")
