"""Applying a catalog import: the checked entities written in one transaction, each saved only
when it differs and audited (`imports.engine`), counted per kind."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import Model, Q

from imports.engine import (
    CREATED,
    UNCHANGED,
    Actor,
    ImportCounts,
    creation_entry,
    listed_problems,
    plan_apply,
    save_if_changed,
)
from imports.models import CatalogEntity
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
    url_host,
)
from registry.reach import reach_affected_by_edges, reach_refresh
from registry.services import (
    audit_record,
    audit_snapshot,
    audited_delete,
    dependency_graph_lock,
    name_lookalikes_flag,
)

from .format import DEFAULT_NAMESPACE, CatalogProblem, CatalogRejected
from .plan import CatalogPlan, ComponentPlan, Known, catalog_plan

COUNTED = ("User", "Group", "Resource", "Component", "Dependency")


class _Applier:
    """Writes a checked plan: people, teams, IT systems, projects, then the edges.

    What exists is loaded once, with its related rows (`_Current`); an existing record is saved
    only when it differs (`save_if_changed`), and the new records of each kind are inserted in
    bulk with their related rows and audit entries, so a 5,000-entity catalog is a few dozen
    queries plus a few per changed record. The plan validated every value (lengths, names free,
    references resolved); the database's constraints still hold against a lost race, and the
    caller's transaction then rolls everything back.
    """

    def __init__(self, actor: Actor, plan: CatalogPlan) -> None:
        self.actor = actor
        self.plan = plan
        self.known = Known()
        self.current = _Current(plan, self.known)
        self.counts = ImportCounts(COUNTED)
        self.persons: dict[str, Person] = {
            key: user.person for key, user in self.known.users.items() if key in self.known.people
        }
        self.entries: list[AuditEntry] = []

    def person(self, key: str) -> Person:
        return self.persons[key]

    def run(self) -> None:
        self.users()
        self.groups()
        for team_key, user_key in self.plan.extra_memberships:
            team, person = self.known.teams[team_key], self.person(user_key)
            members = self.current.team_members.setdefault(team.pk, {})
            if person.pk not in members:
                before = sorted(members.values())
                team.members.add(person)
                members[person.pk] = person.user.get_username()
                self.audit_members(team, before, sorted(members.values()))
        self.resources()
        self.components()
        self.edges()
        self.namespaces()
        AuditEntry.objects.bulk_create(self.entries)
        records = {"Group": self.known.teams, "Resource": self.known.systems}
        records["Component"] = self.known.projects
        for kind, key in self.plan.lookalikes:
            name_lookalikes_flag(self.actor, records[kind][key], previous_name=None)

    def namespaces(self) -> None:
        """Remember where the records of namespaces other than default came from (one query,
        whatever the size; nothing for a file of the default namespace alone)."""
        entities = [entity for entity, *_ in self.plan.users] + [
            entity for entity, *_ in self.plan.groups
        ]
        entities += [plan.entity for plan in self.plan.resources]
        entities += [plan.entity for plan in self.plan.components]
        rows = [
            CatalogEntity(
                kind=entity.kind,
                namespace=entity.namespace,
                name=entity.name,
                steward_name=entity.steward_name,
            )
            for entity in entities
            if entity.namespace.lower() != DEFAULT_NAMESPACE
            and entity.identity not in self.known.catalog
        ]
        if rows:
            CatalogEntity.objects.bulk_create(rows)

    def created(self, instance: Model, snapshot: dict[str, Any], kind: str) -> None:
        self.entries.append(creation_entry(self.actor, instance, snapshot))
        self.counts.add(kind, CREATED)

    def audit_members(self, team: Team, before: list[str], after: list[str]) -> None:
        snapshot = audit_snapshot(team)
        if before != after:
            audit_record(
                actor=self.actor,
                action=AuditEntry.Action.UPDATE,
                instance=team,
                before={**snapshot, "members": before},
                after={**snapshot, "members": after},
            )
            self.counts.add("Group", "updated")

    # people

    def users(self) -> None:
        user_model = get_user_model()
        new_users, new_people = [], []
        for entity, fields in self.plan.users:
            user = self.known.users.get(entity.key)
            person = self.persons.get(entity.key)
            if user is not None and person is not None:
                what = save_if_changed(actor=self.actor, instance=person, fields=fields)
                self.counts.add("User", what)
                continue
            if user is None:
                user = user_model(
                    username=user_model.normalize_username(entity.steward_name),
                    email=user_model.objects.normalize_email(fields["email"]),
                )
                user.set_unusable_password()
                new_users.append(user)
                self.known.users[entity.key] = user
            person = Person(user=user, **fields)
            new_people.append((entity.key, person))
        user_model.objects.bulk_create(new_users)
        snapshots = []
        for key, person in new_people:
            person.user = self.known.users[key]  # its pk, now that it has one
            self.persons[key] = person
            snapshots.append({**audit_snapshot(person), "contact_methods": []})
        Person.objects.bulk_create([person for _key, person in new_people])
        for (_key, person), snapshot in zip(new_people, snapshots, strict=True):
            snapshot["user"] = person.user_id
            self.created(person, snapshot, "User")

    # teams

    def groups(self) -> None:
        new: list[tuple[Team, list[int], list[str]]] = []
        for entity, fields, members in self.plan.groups:
            wanted = {self.person(m).pk: self.person(m).user.get_username() for m in members}
            team = self.known.teams.get(entity.key)
            if team is None:
                team = Team(slug=entity.steward_name, **fields)
                self.known.teams[entity.key] = team
                new.append((team, sorted(wanted), sorted(wanted.values())))
                continue
            current = self.current.team_members.get(team.pk, {})

            def set_members(
                team: Team = team, wanted: dict[int, str] = wanted, current: dict = current
            ) -> None:
                if set(current) != set(wanted):
                    team.members.set(sorted(wanted))
                self.current.team_members[team.pk] = dict(wanted)

            what = save_if_changed(
                actor=self.actor,
                instance=team,
                fields=fields,
                extra_before={"members": sorted(current.values())},
                extra_after={"members": sorted(wanted.values())},
                after_save=set_members,
            )
            self.counts.add("Group", what)
        Team.objects.bulk_create([team for team, _ids, _names in new])
        through = Team.members.through
        through.objects.bulk_create(
            through(team_id=team.pk, person_id=pk) for team, ids, _names in new for pk in ids
        )
        for team, ids, names in new:
            self.current.team_members[team.pk] = dict(zip(ids, names, strict=True))
            self.created(team, {**audit_snapshot(team), "members": names}, "Group")

    def team(self, key: str | None) -> Team | None:
        return None if key is None else self.known.teams[key]

    # IT systems

    def resources(self) -> None:
        new: list[tuple[ITSystem, list[Person]]] = []
        for plan in self.plan.resources:
            entity = plan.entity
            fields = {**plan.fields, "team": self.team(plan.fields["team"])}
            contacts = [self.person(c) for c in plan.contacts]
            system = self.known.systems.get(entity.key)
            if system is None:
                system = ITSystem(slug=entity.steward_name, **fields)
                self.known.systems[entity.key] = system
                new.append((system, contacts))
                continue
            current = self.current.contacts.get(system.pk, {})
            added = [p for p in contacts if p.pk not in current]

            def add_contacts(system: ITSystem = system, added: list[Person] = added) -> None:
                if added:
                    system.contacts.add(*sorted(p.pk for p in added))

            what = save_if_changed(
                actor=self.actor,
                instance=system,
                fields=fields,
                related_changed=bool(added),
                after_save=add_contacts,
            )
            self.counts.add("Resource", what)
        # Snapshots of unsaved rows read nothing (saved ones would query their related rows).
        snapshots = [audit_snapshot(system) for system, _contacts in new]
        ITSystem.objects.bulk_create([system for system, _contacts in new])
        through = ITSystem.contacts.through
        through.objects.bulk_create(
            through(itsystem_id=system.pk, person_id=pk)
            for system, contacts in new
            for pk in sorted({p.pk for p in contacts})
        )
        for (system, contacts), snapshot in zip(new, snapshots, strict=True):
            names = sorted({p.pk: p.display_name for p in contacts}.values())
            self.created(system, {**snapshot, "contacts": names}, "Resource")

    # projects

    def components(self) -> None:
        new: list[tuple[Project, ComponentPlan]] = []
        for plan in self.plan.components:
            entity = plan.entity
            fields = {**plan.fields, "team": self.team(plan.fields["team"])}
            project = self.known.projects.get(entity.key)
            if project is None:
                project = Project(slug=entity.steward_name, **fields)
                self.known.projects[entity.key] = project
                new.append((project, plan))
                continue
            self.component_update(project, plan, fields)
        snapshots = [audit_snapshot(project) for project, _plan in new]
        Project.objects.bulk_create([project for project, _plan in new])
        roles, urls = [], []
        for (project, plan), before_insert in zip(new, snapshots, strict=True):
            owners = list({self.person(o).pk: self.person(o) for o in plan.owners}.values())
            roles += [
                ProjectRole(project=project, person=person, role=ProjectRole.Role.OWNER, order=n)
                for n, person in enumerate(owners)
            ]
            urls += [
                ProjectURL(project=project, url=url, host=url_host(url)) for url in plan.urls or ()
            ]
            snapshot = {
                **before_insert,
                "aliases": [],
                "urls": sorted(plan.urls or ()),
                "roles": [f"{ProjectRole.Role.OWNER}: {p.display_name}" for p in owners],
            }
            self.created(project, snapshot, "Component")
        ProjectRole.objects.bulk_create(roles)
        ProjectURL.objects.bulk_create(urls)

    def component_update(self, project: Project, plan: ComponentPlan, fields: dict) -> None:
        roles = self.current.roles.get(project.pk, {})
        owners = [self.person(o) for o in plan.owners]
        missing_owners = [
            p for p in owners if p.pk not in roles or roles[p.pk].role != ProjectRole.Role.OWNER
        ]
        current_urls = sorted(self.current.urls.get(project.pk, ()))
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
        self.counts.add("Component", what)

    # dependencies

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
        changed: list[Dependency] = []
        for source_field, source, wanted in sources:
            wanted_ids = {self.known.systems[k].pk for k in wanted}
            existing = dict(self.current.edges.get((source_field, source.pk), {}))
            for target_id, edge in list(existing.items()):
                if target_id not in wanted_ids:
                    changed.append(edge)
                    audited_delete(self.actor, edge)
                    del existing[target_id]
                    self.counts.add("Dependency", "removed")
            kept.append((source_field, source, wanted, existing))
        new: list[Dependency] = []
        for source_field, source, wanted, existing in kept:
            for key, criticality in sorted(wanted.items()):
                target = self.known.systems[key]
                edge = existing.get(target.pk)
                if edge is None:
                    new.append(
                        Dependency(
                            **{source_field: source}, target_system=target, criticality=criticality
                        )
                    )
                    continue
                what = save_if_changed(
                    actor=self.actor, instance=edge, fields={"criticality": criticality}
                )
                self.counts.add("Dependency", what)
                if what != UNCHANGED:
                    changed.append(edge)
        snapshots = [audit_snapshot(edge) for edge in new]
        Dependency.objects.bulk_create(new)
        for edge, snapshot in zip(new, snapshots, strict=True):
            self.created(edge, snapshot, "Dependency")
        # The closure impact reads, in this transaction (the graph lock is held since the plan).
        reach_refresh(reach_affected_by_edges([*changed, *new]))


class _Current:
    """The related rows of the records the file names, read in one query per kind."""

    def __init__(self, plan: CatalogPlan, known: Known) -> None:
        team_ids = [known.teams[e.key].pk for e, _f, _m in plan.groups if e.key in known.teams]
        team_ids += [known.teams[key].pk for key, _user in plan.extra_memberships]
        self.team_members: dict[int, dict[int, str]] = {}
        for team_id, person_id, username in Team.members.through.objects.filter(
            team_id__in=team_ids
        ).values_list("team_id", "person_id", "person__user__username"):
            self.team_members.setdefault(team_id, {})[person_id] = username
        system_ids = [
            known.systems[r.entity.key].pk for r in plan.resources if r.entity.key in known.systems
        ]
        self.contacts: dict[int, set[int]] = {}
        for system_id, person_id in ITSystem.contacts.through.objects.filter(
            itsystem_id__in=system_ids
        ).values_list("itsystem_id", "person_id"):
            self.contacts.setdefault(system_id, set()).add(person_id)
        project_ids = [
            known.projects[c.entity.key].pk
            for c in plan.components
            if c.entity.key in known.projects
        ]
        self.roles: dict[int, dict[int, ProjectRole]] = {}
        for role in ProjectRole.objects.filter(project_id__in=project_ids):
            self.roles.setdefault(role.project_id, {})[role.person_id] = role
        self.urls: dict[int, list[str]] = {}
        for project_id, url in ProjectURL.objects.filter(project_id__in=project_ids).values_list(
            "project_id", "url"
        ):
            self.urls.setdefault(project_id, []).append(url)
        self.edges: dict[tuple[str, int], dict[int, Dependency]] = {}
        edges = Dependency.objects.filter(
            Q(source_system_id__in=system_ids) | Q(source_project_id__in=project_ids)
        ).select_related("target_system", "source_project", "source_system")
        for edge in edges:
            key = (
                ("source_system", edge.source_system_id)
                if edge.source_system_id is not None
                else ("source_project", edge.source_project_id)
            )
            self.edges.setdefault(key, {})[edge.target_system_id] = edge


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
    except IntegrityError as exc:  # a record created meanwhile: the file is refused, not a 500
        raise CatalogRejected(
            [CatalogProblem(None, "", "", f"This conflicts with an existing record ({exc}).")]
        ) from exc
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
