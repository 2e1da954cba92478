"""The registry as a Backstage catalog, in the shapes the import reads: an export imports back
unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from imports.models import CatalogEntity
from registry.models import Dependency, ITSystem, Person, Project, ProjectRole, Team

from .format import (
    API_VERSION,
    CONTACTS_ANNOTATION,
    IT_TEAM_ANNOTATION,
    OWNERS_ANNOTATION,
    SOFT_ANNOTATION,
    TIER_ANNOTATION,
    TIER_LIFECYCLE,
    TZ_ANNOTATION,
)


def _document(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


class _Names:
    """Each record's Backstage namespace and name: its slug or username in the default
    namespace, or where it was imported from (`CatalogEntity`)."""

    def __init__(self) -> None:
        self.origins = {
            (kind, steward_name.lower()): (namespace, name)
            for kind, namespace, name, steward_name in CatalogEntity.objects.values_list(
                "kind", "namespace", "name", "steward_name"
            )
        }

    def of(self, kind: str, steward_name: str) -> tuple[str | None, str]:
        namespace, name = self.origins.get((kind, steward_name.lower()), (None, steward_name))
        return namespace, name

    def ref(self, kind: str, steward_name: str) -> str:
        namespace, name = self.of(kind, steward_name)
        return f"{kind.lower()}:{namespace + '/' if namespace else ''}{name}"

    def user(self, username: str) -> str:
        """A user in a comma-separated annotation: `name` or `namespace/name`."""
        namespace, name = self.of("User", username)
        return f"{namespace}/{name}" if namespace else name

    def metadata(self, kind: str, steward_name: str, metadata: dict[str, Any]) -> dict[str, Any]:
        namespace, name = self.of(kind, steward_name)
        metadata["name"] = name
        if namespace:
            return {"name": name, "namespace": namespace, **metadata}
        return metadata


def _metadata(
    name: str, title: str | None, description: str, annotations: dict[str, str]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if title is not None:
        metadata["title"] = title
    if description:
        metadata["description"] = description
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def _dependency_spec(edges: Iterable[Dependency], names: _Names) -> tuple[list[str], str]:
    edges = sorted(edges, key=lambda e: e.target_system.slug)
    depends = [names.ref("Resource", e.target_system.slug) for e in edges]
    soft = ", ".join(
        names.ref("Resource", e.target_system.slug)
        for e in edges
        if e.criticality == Dependency.Criticality.SOFT
    )
    return depends, soft


def catalog_export() -> str:
    """The whole registry as Backstage entities: users, groups, resources, components."""
    documents: list[dict[str, Any]] = []
    names = _Names()
    people = Person.objects.select_related("user").prefetch_related("teams")
    for person in sorted(people, key=lambda p: p.user.get_username()):
        profile = {"displayName": person.display_name}
        if person.email:
            profile["email"] = person.email
        documents.append(
            _document(
                "User",
                names.metadata(
                    "User",
                    person.user.get_username(),
                    _metadata(
                        person.user.get_username(), None, "", {TZ_ANNOTATION: person.time_zone}
                    ),
                ),
                {
                    "profile": profile,
                    "memberOf": sorted(names.ref("Group", t.slug) for t in person.teams.all()),
                },
            )
        )
    for team in Team.objects.prefetch_related("members__user").order_by("slug"):
        documents.append(
            _document(
                "Group",
                names.metadata(
                    "Group",
                    team.slug,
                    _metadata(
                        team.slug,
                        None,
                        team.description,
                        {IT_TEAM_ANNOTATION: "true"} if team.is_it else {},
                    ),
                ),
                {
                    "type": "team",
                    "profile": {"displayName": team.name},
                    "children": [],
                    "members": sorted(
                        names.ref("User", p.user.get_username()) for p in team.members.all()
                    ),
                },
            )
        )
    systems = ITSystem.objects.select_related("team").prefetch_related(
        "contacts__user", "dependencies__target_system"
    )
    for system in systems.order_by("slug"):
        contacts = sorted(p.user.get_username() for p in system.contacts.all())
        depends, soft = _dependency_spec(system.dependencies.all(), names)
        annotations = {}
        spec: dict[str, Any] = {"type": system.kind}
        if system.team is not None:
            spec["owner"] = names.ref("Group", system.team.slug)
        elif contacts:
            spec["owner"] = names.ref("User", contacts[0])
        if contacts:
            annotations[CONTACTS_ANNOTATION] = ", ".join(names.user(c) for c in contacts)
        if soft:
            annotations[SOFT_ANNOTATION] = soft
        if depends:
            spec["dependsOn"] = depends
        documents.append(
            _document(
                "Resource",
                names.metadata(
                    "Resource",
                    system.slug,
                    _metadata(system.slug, system.name, system.description, annotations),
                ),
                spec,
            )
        )
    projects = Project.objects.select_related("team").prefetch_related(
        "roles__person__user", "urls", "dependencies__target_system"
    )
    for project in projects.order_by("slug"):
        owners = [
            r.person.user.get_username()
            for r in sorted(project.roles.all(), key=lambda r: (r.order, r.pk))
            if r.role == ProjectRole.Role.OWNER
        ]
        depends, soft = _dependency_spec(project.dependencies.all(), names)
        annotations = {TIER_ANNOTATION: project.support_tier}
        if owners:
            annotations[OWNERS_ANNOTATION] = ", ".join(names.user(o) for o in owners)
        if soft:
            annotations[SOFT_ANNOTATION] = soft
        metadata = names.metadata(
            "Component",
            project.slug,
            _metadata(project.slug, project.name, project.description, annotations),
        )
        urls = sorted(u.url for u in project.urls.all())
        if urls:
            metadata["links"] = [{"url": url} for url in urls]
        spec = {"type": "service", "lifecycle": TIER_LIFECYCLE[project.support_tier]}
        if project.team is not None:
            spec["owner"] = names.ref("Group", project.team.slug)
        elif owners:
            spec["owner"] = names.ref("User", owners[0])
        if depends:
            spec["dependsOn"] = depends
        documents.append(_document("Component", metadata, spec))
    return yaml.safe_dump_all(
        documents, explicit_start=True, sort_keys=False, allow_unicode=True, width=100
    )
