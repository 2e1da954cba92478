"""Applying a CSV import: the planned rows written in one transaction, in a few queries per
changed project and a few in all for the new ones, every write audited."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError

from imports.engine import Actor, creation_entry, plan_apply
from registry import permissions
from registry.models import (
    AuditEntry,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
    url_host,
)
from registry.reach import reach_affected, reach_refresh
from registry.services import audit_record, audit_snapshot, dependency_graph_lock

from .format import CsvProblem, CsvRejected
from .plan import CsvPlan, RowPlan, registry_csv_plan


def registry_csv_import(*, actor: Actor, text: str, dry_run: bool = False) -> dict[str, Any]:
    """Import the file, all rows or none. Raises ``CsvRejected`` listing every problem (nothing is
    written) and ``PermissionDenied`` for someone who may not import at all. Returns the summary:
    created/updated/unchanged counts and each row's action and changed columns."""
    if actor is not None and not (
        permissions.is_it_staff(actor) or permissions.can_create_project(actor)
    ):
        raise PermissionDenied("Only people registered in Steward can import projects.")
    # A dry run stops at the plan, which already says what each row would do; an import locks
    # the projects the file names while it plans, until the commit.
    plan, _written = plan_apply(
        plan=lambda: registry_csv_plan(text, actor=actor, lock=not dry_run),
        write=lambda checked: _write(actor, checked),
        rejected=CsvRejected,
        dry_run=dry_run,
    )
    return plan.summary(dry_run=dry_run)


def _write(actor: Actor, plan: CsvPlan) -> None:
    """Write the plan in a few queries per changed project and a few in all for the new ones.

    The plan has validated every value (the model's field validators, uniqueness against what it
    loaded) and holds the existing projects' rows locked; a lost race still meets the database's
    constraints, and the caller's transaction then rolls the whole file back. Audit entries are
    what the services record (audit_snapshot before and after), computed from the rows the plan
    loaded instead of read again.
    """
    names = dict(
        Person.objects.filter(
            pk__in={person_id for row in plan.rows for person_id, _role in row.roles or ()}
        ).values_list("pk", "display_name")
    )
    systems = ITSystem.objects.in_bulk({target for row in plan.rows for target in row.edges or {}})
    try:
        edged = _create_rows(
            actor, [row for row in plan.rows if row.action == "create"], names, systems
        )
        for row in plan.rows:
            if row.action == "update":
                _update_row(actor, row, names, systems)
                if row.edges is not None:
                    edged.append(row.project.pk)  # type: ignore[union-attr]
        if edged:  # the closure impact reads follows the projects' edges, in this transaction
            dependency_graph_lock()
            reach_refresh(reach_affected(projects=edged))
    except IntegrityError as exc:
        raise CsvRejected(
            [
                CsvProblem(
                    None,
                    "",
                    "",
                    f"This conflicts with a change made meanwhile ({exc.__cause__ or exc}); "
                    "nothing was imported, check the file again.",
                )
            ]
        ) from exc


def _snapshot(
    project: Project,
    *,
    aliases: Iterable[str],
    urls: Iterable[str],
    roles: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    """audit_snapshot(project), from values at hand rather than three queries."""
    unsaved = copy.copy(project)
    unsaved.pk = None  # its own fields only
    snapshot = audit_snapshot(unsaved)
    snapshot["aliases"] = sorted(aliases)
    snapshot["urls"] = sorted(urls)
    snapshot["roles"] = [f"{role}: {name}" for role, name in roles]
    return snapshot


def _update_row(
    actor: Actor, row: RowPlan, names: dict[int, str], systems: dict[int, ITSystem]
) -> None:
    project: Project = row.project  # type: ignore[assignment]  # new ones: _create_rows
    current_roles = list(project.roles.all())
    if row.fields or any(value is not None for value in (row.aliases, row.urls, row.roles)):
        before = _snapshot(
            project,
            aliases=(a.alias for a in project.aliases.all()),
            urls=(u.url for u in project.urls.all()),
            roles=((r.role, r.person.display_name) for r in current_roles),
        )
        if row.fields:
            for name, value in row.fields.items():
                setattr(project, name, value)
            project.save()
        if row.aliases is not None:
            project.aliases.all().delete()
            ProjectAlias.objects.bulk_create(
                ProjectAlias(project=project, alias=alias) for alias in row.aliases
            )
        if row.urls is not None:
            project.urls.all().delete()
            ProjectURL.objects.bulk_create(
                ProjectURL(project=project, url=url, host=url_host(url)) for url in row.urls
            )
        if row.roles is not None:
            project.roles.all().delete()
            ProjectRole.objects.bulk_create(
                ProjectRole(project=project, person_id=person_id, role=role, order=order)
                for order, (person_id, role) in enumerate(row.roles)
            )
        after = _snapshot(
            project,
            aliases=before["aliases"] if row.aliases is None else row.aliases,
            urls=before["urls"] if row.urls is None else row.urls,
            roles=(
                ((r.role, r.person.display_name) for r in current_roles)
                if row.roles is None
                else ((role, names[person_id]) for person_id, role in row.roles)
            ),
        )
        audit_record(
            actor=actor,
            action=AuditEntry.Action.UPDATE,
            instance=project,
            before=before,
            after=after,
        )
    if row.edges is not None:
        _replace_edges(actor, project, row.edges, systems)


def _create_rows(
    actor: Actor, rows: list[RowPlan], names: dict[int, str], systems: dict[int, ITSystem]
) -> list[int]:
    """Insert every new project, with its lists, edges and audit entries: a few INSERTs in all,
    whatever the number of rows (one project at a time, a 20,000-row file outlives a request).
    Returns the ids of those with edges."""
    if not rows:
        return []
    projects = [Project(**row.fields) for row in rows]
    # The audited fields, read before the insert (an unsaved project snapshots without queries).
    snapshots = [audit_snapshot(project) for project in projects]
    Project.objects.bulk_create(projects)
    aliases, urls, roles, edges, entries = [], [], [], [], []
    for project, row, snapshot in zip(projects, rows, snapshots, strict=True):
        aliases += [ProjectAlias(project=project, alias=alias) for alias in row.aliases or ()]
        urls += [ProjectURL(project=project, url=url, host=url_host(url)) for url in row.urls or ()]
        roles += [
            ProjectRole(project=project, person_id=person_id, role=role, order=order)
            for order, (person_id, role) in enumerate(row.roles or ())
        ]
        edges += [
            Dependency(
                source_project=project, target_system=systems[target], criticality=criticality
            )
            for target, criticality in (row.edges or {}).items()
        ]
        # What audit_snapshot(project) reads back after the writes below.
        snapshot["aliases"] = sorted(row.aliases or ())
        snapshot["urls"] = sorted(row.urls or ())
        snapshot["roles"] = [f"{role}: {names[person]}" for person, role in row.roles or ()]
        entries.append(creation_entry(actor, project, snapshot))
    ProjectAlias.objects.bulk_create(aliases)
    ProjectURL.objects.bulk_create(urls)
    ProjectRole.objects.bulk_create(roles)
    Dependency.objects.bulk_create(edges)
    entries += [creation_entry(actor, edge, audit_snapshot(edge)) for edge in edges]
    AuditEntry.objects.bulk_create(entries)
    return [project.pk for project, row in zip(projects, rows, strict=True) if row.edges]


def _replace_edges(
    actor: Actor, project: Project, edges: dict[int, str], systems: dict[int, ITSystem]
) -> None:
    current = {d.target_system_id: d for d in project.dependencies.all()}
    for target_id, edge in current.items():
        if target_id not in edges:
            audit_record(
                actor=actor,
                action=AuditEntry.Action.DELETE,
                instance=edge,
                before=audit_snapshot(edge),
                after=None,
            )
            edge.delete()
        elif edge.criticality != edges[target_id]:
            before = audit_snapshot(edge)
            edge.criticality = edges[target_id]
            edge.save(update_fields=["criticality"])
            audit_record(
                actor=actor,
                action=AuditEntry.Action.UPDATE,
                instance=edge,
                before=before,
                after=audit_snapshot(edge),
            )
    added = Dependency.objects.bulk_create(
        Dependency(source_project=project, target_system=systems[target_id], criticality=crit)
        for target_id, crit in edges.items()
        if target_id not in current
    )
    for edge in added:
        audit_record(
            actor=actor,
            action=AuditEntry.Action.CREATE,
            instance=edge,
            before=None,
            after=audit_snapshot(edge),
        )
