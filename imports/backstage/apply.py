"""Applying a catalog import: the checked entities written in one transaction, each saved only
when it differs and audited (`imports.engine`), counted per kind."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model

from imports.engine import Actor, ImportCounts, listed_problems, plan_apply, save_if_changed
from registry import permissions
from registry.models import (
    AuditEntry,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    ProjectURL,
    Team,
)
from registry.services import audit_record, audit_snapshot, audited_delete, dependency_graph_lock

from .format import CatalogProblem, CatalogRejected, Entity
from .plan import CatalogPlan, ComponentPlan, Known, ResourcePlan, catalog_plan

COUNTED = ("User", "Group", "Resource", "Component", "Dependency")


class _Applier:
    """Writes a checked plan: people, teams, IT systems, projects, then the edges."""

    def __init__(self, actor: Actor, plan: CatalogPlan) -> None:
        self.actor = actor
        self.plan = plan
        self.known = Known()
        self.counts = ImportCounts(COUNTED)
        self.persons: dict[str, Person] = {}

    def person(self, key: str) -> Person:
        if key not in self.persons:
            user = self.known.users[key]
            self.persons[key] = Person.objects.get(user=user)
        return self.persons[key]

    def run(self) -> None:
        for entity, fields in self.plan.users:
            self.user(entity, fields)
        for entity, fields, members in self.plan.groups:
            self.group(entity, fields, members)
        for team_key, user_key in self.plan.extra_memberships:
            team, person = self.known.teams[team_key], self.person(user_key)
            if not team.members.filter(pk=person.pk).exists():
                before = sorted(team.members.values_list("user__username", flat=True))
                team.members.add(person)
                self.audit_members(team, before)
        for resource in self.plan.resources:
            self.resource(resource)
        for component in self.plan.components:
            self.component(component)
        self.edges()

    def audit_members(self, team: Team, before: list[str]) -> None:
        snapshot = audit_snapshot(team)
        after = sorted(team.members.values_list("user__username", flat=True))
        if before != after:
            audit_record(
                actor=self.actor,
                action=AuditEntry.Action.UPDATE,
                instance=team,
                before={**snapshot, "members": before},
                after={**snapshot, "members": after},
            )
            self.counts.add("Group", "updated")

    def user(self, entity: Entity, fields: dict[str, Any]) -> None:
        user = self.known.users.get(entity.key)
        if user is None:
            user = get_user_model().objects.create_user(
                username=entity.name, email=fields["email"], password=None
            )
            self.known.users[entity.key] = user
        person = Person.objects.filter(user=user).first() or Person(user=user)
        what = save_if_changed(actor=self.actor, instance=person, fields=fields)
        self.persons[entity.key] = person
        self.counts.add("User", what)

    def group(self, entity: Entity, fields: dict[str, Any], members: set[str]) -> None:
        team = self.known.teams.get(entity.key) or Team(slug=entity.name)
        wanted = sorted(self.person(m).pk for m in members)
        people = {self.person(m).pk: self.person(m).user.get_username() for m in members}
        current = sorted(team.members.values_list("pk", flat=True)) if team.pk else []
        before_names = (
            sorted(team.members.values_list("user__username", flat=True)) if team.pk else []
        )

        def set_members() -> None:
            if current != wanted:
                team.members.set(wanted)

        what = save_if_changed(
            actor=self.actor,
            instance=team,
            fields=fields,
            extra_before={"members": before_names},
            extra_after={"members": sorted(people.values())},
            after_save=set_members,
        )
        self.known.teams[entity.key] = team
        self.counts.add("Group", what)

    def resource(self, plan: ResourcePlan) -> None:
        entity = plan.entity
        system = self.known.systems.get(entity.key) or ITSystem(slug=entity.name)
        fields = {**plan.fields, "team": self.team(plan.fields["team"])}
        current = set(system.contacts.values_list("pk", flat=True)) if system.pk else set()
        wanted = current | {self.person(c).pk for c in plan.contacts}

        def add_contacts() -> None:
            if wanted != current:
                system.contacts.add(*sorted(wanted - current))

        what = save_if_changed(
            actor=self.actor,
            instance=system,
            fields=fields,
            related_changed=wanted != current,
            after_save=add_contacts,
        )
        self.known.systems[entity.key] = system
        self.counts.add("Resource", what)

    def team(self, key: str | None) -> Team | None:
        return None if key is None else self.known.teams[key]

    def component(self, plan: ComponentPlan) -> None:
        entity = plan.entity
        project = self.known.projects.get(entity.key) or Project(slug=entity.name)
        fields = {**plan.fields, "team": self.team(plan.fields["team"])}
        roles = (
            {r.person_id: r for r in ProjectRole.objects.filter(project=project)}
            if project.pk
            else {}
        )
        owners = [self.person(o) for o in plan.owners]
        missing_owners = [
            p for p in owners if p.pk not in roles or roles[p.pk].role != ProjectRole.Role.OWNER
        ]
        current_urls = sorted(project.urls.values_list("url", flat=True)) if project.pk else []
        urls_change = plan.urls is not None and sorted(plan.urls) != current_urls

        def related() -> None:
            next_order = len(roles)
            for person in missing_owners:
                role = roles.get(person.pk)
                if role is None:
                    ProjectRole.objects.create(
                        project=project,
                        person=person,
                        role=ProjectRole.Role.OWNER,
                        order=next_order,
                    )
                    next_order += 1
                else:
                    role.role = ProjectRole.Role.OWNER
                    role.save(update_fields=["role"])
            if urls_change:
                project.urls.exclude(url__in=plan.urls).delete()
                for url in plan.urls or []:
                    if url not in current_urls:
                        ProjectURL(project=project, url=url).save()

        what = save_if_changed(
            actor=self.actor,
            instance=project,
            fields=fields,
            related_changed=bool(missing_owners or urls_change),
            after_save=related,
        )
        self.known.projects[entity.key] = project
        self.counts.add("Component", what)

    def edges(self) -> None:
        sources: list[tuple[str, Model, dict[str, str]]] = [
            ("source_system", self.known.systems[r.entity.key], r.depends_on)
            for r in self.plan.resources
        ] + [
            ("source_project", self.known.projects[c.entity.key], c.depends_on)
            for c in self.plan.components
        ]
        # Removals first, so an edge that moves cannot close a transient cycle.
        kept: list[tuple[str, Model, dict[str, str], dict[int, Dependency]]] = []
        for source_field, source, wanted in sources:
            wanted_ids = {self.known.systems[k].pk for k in wanted}
            existing = {
                edge.target_system_id: edge
                for edge in Dependency.objects.filter(**{source_field: source}).select_related(
                    "target_system", "source_project", "source_system"
                )
            }
            for target_id, edge in list(existing.items()):
                if target_id not in wanted_ids:
                    audited_delete(self.actor, edge)
                    del existing[target_id]
                    self.counts.add("Dependency", "removed")
            kept.append((source_field, source, wanted, existing))
        for source_field, source, wanted, existing in kept:
            for key, criticality in sorted(wanted.items()):
                target = self.known.systems[key]
                edge = existing.get(target.pk)
                if edge is None:
                    edge = Dependency(
                        **{source_field: source}, target_system=target, criticality=criticality
                    )
                what = save_if_changed(
                    actor=self.actor, instance=edge, fields={"criticality": criticality}
                )
                self.counts.add("Dependency", what)


def _entity_problem(exc: ValidationError) -> list[CatalogProblem]:
    messages = (
        [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
        if hasattr(exc, "error_dict")
        else exc.messages
    )
    return [CatalogProblem(None, "", "", message) for message in messages]


def _write(actor: Actor, plan: CatalogPlan) -> ImportCounts:
    applier = _Applier(actor, plan)
    try:
        applier.run()
    except ValidationError as exc:
        raise CatalogRejected(_entity_problem(exc)) from exc
    return applier.counts


def catalog_import(*, actor: Actor, text: str, dry_run: bool = False) -> dict[str, Any]:
    """Import a catalog: every entity or none. With `dry_run`, the same work is done and rolled
    back, so the summary is exactly what an import would do.

    Raises PermissionDenied for anyone but IT staff and admins (``actor=None`` is Steward itself)
    and CatalogRejected with every problem when the file has any. The dependency-graph lock is
    held from the plan to the commit, so the cycle check stays true.
    """
    if actor is not None and not permissions.can_manage_systems(actor):
        raise PermissionDenied("Only IT staff import a catalog.")
    plan, counts = plan_apply(
        plan=lambda: catalog_plan(text),
        write=lambda checked: _write(actor, checked),
        rejected=CatalogRejected,
        dry_run=dry_run,
        rehearse=True,
        lock=dependency_graph_lock,
    )
    return {
        "dry_run": dry_run,
        "counts": cast(ImportCounts, counts).counts,  # rehearsed: a dry run writes too
        "warnings": [
            warning.as_dict()
            for warning in listed_problems(
                plan.warnings,
                lambda count: CatalogProblem(
                    None, "", "", f"And {count:,} more warnings, not listed."
                ),
            )
        ],
    }
