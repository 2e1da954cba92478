"""Planning a catalog import: every entity checked against the file and Steward, every problem
listed, nothing written. The mapping is in the package's docstring."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, validate_slug

from imports.engine import Plan
from imports.models import CatalogEntity
from registry.models import Dependency, ITSystem, Project, Team
from registry.names import name_problem, name_skeleton, normalized_name
from registry.services import web_url_validator
from registry.validators import validate_time_zone

from .format import (
    CONTACTS_ANNOTATION,
    DEFAULT_NAMESPACE,
    IT_TEAM_ANNOTATION,
    KINDS,
    LIFECYCLE_TIER,
    MAX_BYTES,
    MAX_ENTITIES,
    OWNERS_ANNOTATION,
    RESOURCE_TYPE_ALIASES,
    SOFT_ANNOTATION,
    TIER_ANNOTATION,
    TZ_ANNOTATION,
    CatalogProblem,
    Entity,
    comma_list,
    entities_of,
    parse_ref,
    read_documents,
    shown,
    too_large,
)

_email = EmailValidator()


@dataclass
class ComponentPlan:
    entity: Entity
    fields: dict[str, Any]
    owners: list[str]  # usernames (lower)
    urls: list[str] | None
    depends_on: dict[str, str]  # system key → criticality


@dataclass
class ResourcePlan:
    entity: Entity
    fields: dict[str, Any]
    contacts: list[str]
    depends_on: dict[str, str]


@dataclass
class CatalogPlan(Plan):
    """The entities to write, checked, in the order they are written. Whether each is created,
    updated or unchanged is counted when it is written (`catalog_import` rehearses a dry run)."""

    users: list[tuple[Entity, dict[str, Any]]] = field(default_factory=list)
    groups: list[tuple[Entity, dict[str, Any], set[str]]] = field(default_factory=list)
    resources: list[ResourcePlan] = field(default_factory=list)
    components: list[ComponentPlan] = field(default_factory=list)
    # memberOf naming a team that is not in the file: (team key, username key)
    extra_memberships: list[tuple[str, str]] = field(default_factory=list)
    # (kind, key) of the entities whose new name looks like another's: audited as warnings
    lookalikes: list[tuple[str, str]] = field(default_factory=list)


class Known:
    """What is already in Steward, keyed by lower-cased slug / username."""

    def __init__(self) -> None:
        user_model = get_user_model()
        self.users: dict[str, Any] = {}
        for user in user_model.objects.select_related("person").order_by("pk"):
            key = user.get_username().lower()
            if key not in self.users or user.get_username() == key:
                self.users[key] = user
        # Users that already have a person: those a reference may name.
        self.people = {
            key for key, user in self.users.items() if getattr(user, "person", None) is not None
        }
        self.teams = {t.slug.lower(): t for t in Team.objects.all()}
        self.systems = {s.slug.lower(): s for s in ITSystem.objects.select_related("team")}
        self.projects = {p.slug.lower(): p for p in Project.objects.select_related("team")}
        self.system_edges: list[tuple[str, str]] = [
            (source.lower(), target.lower())
            for source, target in Dependency.objects.filter(
                source_system__isnull=False
            ).values_list("source_system__slug", "target_system__slug")
        ]
        self.records: dict[str, dict[str, Any]] = {
            "Group": self.teams,
            "Resource": self.systems,
            "Component": self.projects,
        }
        self.skeletons: dict[str, dict[str, list[tuple[str, Any]]]] = {}
        for kind, records in self.records.items():
            by_skeleton: dict[str, list[tuple[str, Any]]] = {}
            for key, record in records.items():
                by_skeleton.setdefault(record.name_skeleton, []).append((key, record))
            self.skeletons[kind] = by_skeleton
        # Records from namespaces other than default: (kind, namespace, name) → slug / username,
        # and the lower-cased slug / username of each (taken by that entity, not by a default one).
        self.catalog: dict[tuple[str, str, str], str] = {}
        self.catalog_keys: dict[tuple[str, str], tuple[str, str]] = {}
        for kind, namespace, name, steward_name in CatalogEntity.objects.values_list(
            "kind", "namespace", "name", "steward_name"
        ):
            self.catalog[(kind, namespace.lower(), name.lower())] = steward_name
            self.catalog_keys[(kind, steward_name.lower())] = (namespace, name)
        self.names: dict[str, dict[str, str]] = {
            kind: {record.name: key for key, record in records.items()}
            for kind, records in (
                ("Group", self.teams),
                ("Resource", self.systems),
                ("Component", self.projects),
            )
        }


def catalog_plan(text: str) -> CatalogPlan:
    """Check the whole file and collect every problem; writes nothing."""
    plan = CatalogPlan()
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        plan.problems.append(too_large())
        return plan
    documents = read_documents(text, plan)
    if plan.problems:
        return plan
    if len(documents) > MAX_ENTITIES:
        plan.problems.append(
            CatalogProblem(None, "", "", f"The file holds more than {MAX_ENTITIES} entities.")
        )
        return plan
    if not documents:
        plan.problems.append(CatalogProblem(None, "", "", "The file holds no entity."))
        return plan

    entities = entities_of(documents, plan)
    known = Known()
    _Checker(plan, entities, known).run()
    return plan


class _Checker:
    def __init__(self, plan: CatalogPlan, entities: list[Entity], known: Known) -> None:
        self.plan = plan
        self.known = known
        self.by_kind: dict[str, dict[str, Entity]] = {k: {} for k in KINDS}
        self.by_identity: dict[tuple[str, str, str], Entity] = {}
        self.steward_names(entities)
        for entity in entities:
            if entity.key in self.by_kind[entity.kind]:
                other = self.by_kind[entity.kind][entity.key]
                self.problem(
                    entity,
                    "metadata.name",
                    f"Would be {entity.kind.lower()} “{shown(entity.steward_name)}” in Steward, "
                    f"as {other.ref} is: rename one of them.",
                )
                continue
            self.by_kind[entity.kind][entity.key] = entity
            self.by_identity[entity.identity] = entity
        self.seen_skeletons: dict[str, dict[str, tuple[str, str]]] = {}

    def _taken(self, kind: str, key: str) -> bool:
        records = self.known.users if kind == "User" else self.known.records[kind]
        return key in records

    def steward_names(self, entities: list[Entity]) -> None:
        """Each entity's slug or username in Steward. The default namespace's entities keep
        their name; so does an entity of another namespace, unless its name is taken (by an
        entity of the same kind in another namespace of the file, or by a record in Steward that
        did not come from it), when it becomes `<name>-<namespace>`: the namespace shows where
        names clash. A record imported from a namespace before keeps its name."""
        names: dict[tuple[str, str], set[str]] = {}
        for entity in entities:
            names.setdefault((entity.kind, entity.name.lower()), set()).add(
                entity.namespace.lower()
            )
        for entity in entities:
            kind, namespace, name = entity.identity
            mapped = self.known.catalog.get(entity.identity)
            if mapped is not None:
                entity.steward_name = mapped
                continue
            if namespace == DEFAULT_NAMESPACE:
                came_from = self.known.catalog_keys.get((kind, name))
                if came_from is not None:
                    self.problem(
                        entity,
                        "metadata.name",
                        f"“{shown(entity.name)}” in Steward is "
                        f"{kind.lower()}:{came_from[0]}/{came_from[1]}, imported before.",
                    )
                continue
            clash = len(names[(kind, name)]) > 1 or (
                self._taken(kind, name) and (kind, name) not in self.known.catalog_keys
            )
            if clash or (kind, name) in self.known.catalog_keys:
                entity.steward_name = f"{entity.name}-{entity.namespace}"

    # helpers

    def problem(self, entity: Entity, field_name: str, reason: str) -> None:
        self.plan.problems.append(
            CatalogProblem(entity.index, entity.ref, field_name, reason, entity.line)
        )

    def warn(self, entity: Entity, field_name: str, reason: str) -> None:
        self.plan.warnings.append(
            CatalogProblem(entity.index, entity.ref, field_name, reason, entity.line)
        )

    def exists(self, kind: str, key: str) -> bool:
        known = {
            "user": self.known.people,
            "group": self.known.teams,
            "resource": self.known.systems,
            "component": self.known.projects,
        }[kind]
        return key in self.by_kind[kind.capitalize()] or key in known

    def key_for(self, kind: str, namespace: str, name: str) -> str | None:
        """The lower-cased slug / username a reference names, or None if it names nothing."""
        identity = (kind.capitalize(), namespace, name.lower())
        entity = self.by_identity.get(identity)
        if entity is not None:
            return entity.key
        mapped = self.known.catalog.get(identity)
        if mapped is not None:
            return mapped.lower()
        return name.lower() if namespace == DEFAULT_NAMESPACE else None

    def resolve(
        self, entity: Entity, field_name: str, value: Any, default_kind: str, allowed: set[str]
    ) -> tuple[str, str] | None:
        try:
            kind, namespace, name = parse_ref(value, default_kind)
        except ValueError as exc:
            self.problem(entity, field_name, str(exc))
            return None
        if kind not in allowed:
            self.problem(
                entity,
                field_name,
                f"“{shown(value)}”: a {kind} cannot be named here (expected {' or '.join(sorted(allowed))}).",
            )
            return None
        key = self.key_for(kind, namespace, name)
        if key is None or not self.exists(kind, key):
            self.problem(
                entity,
                field_name,
                f"“{shown(value)}” names {kind}:{namespace}/{shown(name)}, which is neither in the file nor in Steward.",
            )
            return None
        return kind, key

    def text(
        self, entity: Entity, source: dict, key: str, field_name: str, limit: int
    ) -> str | None:
        value = source.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(entity, field_name, "Must be a string.")
            return None
        if len(value) > limit:
            self.problem(entity, field_name, f"Longer than {limit} characters.")
            return None
        # Kept as written (an export must import back unchanged); blank means absent.
        return value if value.strip() else None

    def name_text(
        self, entity: Entity, source: dict, key: str, field_name: str, limit: int = 200
    ) -> str | None:
        """A name people pick between (registry/names.py): refused with an invisible or control
        character, kept as NFC."""
        value = self.text(entity, source, key, field_name, limit)
        if value is None:
            return None
        problem = name_problem(value)
        if problem is not None:
            self.problem(entity, field_name, problem)
            return None
        return normalized_name(value)

    def lookalike(self, entity: Entity, name: str, seen: dict[str, tuple[str, str]]) -> None:
        """Warn when a new or renamed name looks like another one's, in Steward or earlier in the
        file; the import goes on, and the audit trail records it for IT."""
        skeleton = name_skeleton(name)
        existing = self.known.records[entity.kind].get(entity.key)
        earlier = seen.setdefault(skeleton, (name, entity.key))
        if existing is not None and existing.name == name:
            return
        others = [
            (other.name, key)
            for key, other in self.known.skeletons[entity.kind].get(skeleton, ())
            if key != entity.key and other.name != name and key not in self.by_kind[entity.kind]
        ]
        if earlier[1] != entity.key and earlier[0] != name:
            others.append(earlier)
        if others:
            self.plan.lookalikes.append((entity.kind, entity.key))
            for other_name, other_key in others:
                self.warn(
                    entity,
                    "metadata.title",
                    f"“{shown(name)}” looks like “{shown(other_name)}” "
                    f"({entity.kind.lower()}:default/{other_key}): check that it is not "
                    "posing as it.",
                )

    def slug(self, entity: Entity) -> None:
        try:
            validate_slug(entity.steward_name)
        except ValidationError:
            self.problem(
                entity,
                "metadata.name",
                f"“{shown(entity.steward_name)}” is not a valid slug (letters, digits, - and _).",
            )
        if len(entity.steward_name) > 100:
            self.problem(entity, "metadata.name", "Longer than 100 characters.")

    def unique_name(self, entity: Entity, name: str, taken: dict[str, str]) -> None:
        """`name` must not belong to another record, in Steward (not in the file) or in the file."""
        key = self.known.names[entity.kind].get(name)
        if key is not None and key != entity.key and key not in self.by_kind[entity.kind]:
            self.problem(
                entity,
                "metadata.title",
                f"The name “{shown(name)}” is already used by {entity.kind.lower()} {key}.",
            )
        other = taken.get(name)
        if other is not None and other != entity.key:
            self.problem(
                entity, "metadata.title", f"The name “{shown(name)}” is also used by {other}."
            )
        taken[name] = entity.key
        self.lookalike(entity, name, self.seen_skeletons.setdefault(entity.kind, {}))

    def owner_list(self, entity: Entity, annotation: str) -> list[str]:
        names = comma_list(entity.annotation(annotation))
        if names is None:
            self.problem(
                entity, f"metadata.annotations.{annotation}", "Must be comma-separated user names."
            )
            return []
        result = []
        for name in names:
            ref = self.resolve(entity, f"metadata.annotations.{annotation}", name, "user", {"user"})
            if ref:
                result.append(ref[1])
        return result

    def depends_on(self, entity: Entity) -> dict[str, str]:
        raw = entity.spec.get("dependsOn", [])
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.problem(entity, "spec.dependsOn", "Must be a list of entity references.")
            return {}
        soft = comma_list(entity.annotation(SOFT_ANNOTATION))
        if soft is None:
            self.problem(
                entity,
                f"metadata.annotations.{SOFT_ANNOTATION}",
                "Must be comma-separated resource references.",
            )
            soft = []
        soft_keys = set()
        for value in soft:
            try:
                _kind, namespace, name = parse_ref(value, "resource")
                soft_keys.add(self.key_for("resource", namespace, name) or name.lower())
            except ValueError as exc:
                self.problem(entity, f"metadata.annotations.{SOFT_ANNOTATION}", str(exc))
        edges: dict[str, str] = {}
        for position, value in enumerate(raw):
            field_name = f"spec.dependsOn[{position}]"
            try:
                kind, _namespace, _name = parse_ref(value, None)
            except ValueError as exc:
                self.problem(entity, field_name, str(exc))
                continue
            if kind == "component":
                self.warn(
                    entity,
                    field_name,
                    f"“{shown(value)}” skipped: Steward records dependencies on IT systems (resources) only.",
                )
                continue
            ref = self.resolve(entity, field_name, value, "resource", {"resource"})
            if ref is None:
                continue
            if entity.kind == "Resource" and ref[1] == entity.key:
                self.problem(entity, field_name, "A resource cannot depend on itself.")
                continue
            edges[ref[1]] = (
                Dependency.Criticality.SOFT if ref[1] in soft_keys else Dependency.Criticality.HARD
            )
        for key in soft_keys - set(edges):
            self.problem(
                entity,
                f"metadata.annotations.{SOFT_ANNOTATION}",
                f"resource:{key} is not in spec.dependsOn.",
            )
        return edges

    def owner(self, entity: Entity) -> tuple[str | None, str | None]:
        """spec.owner → (team key, username key)."""
        value = entity.spec.get("owner")
        if value is None:
            return None, None
        ref = self.resolve(entity, "spec.owner", value, "group", {"group", "user"})
        if ref is None:
            return None, None
        return (ref[1], None) if ref[0] == "group" else (None, ref[1])

    # the checks

    def run(self) -> None:
        memberships: dict[str, set[str]] = {}
        for entity in self.by_kind["User"].values():
            self.user(entity, memberships)
        team_names: dict[str, str] = {}
        for entity in self.by_kind["Group"].values():
            self.group(entity, team_names, memberships)
        system_names: dict[str, str] = {}
        for entity in self.by_kind["Resource"].values():
            self.resource(entity, system_names)
        project_names: dict[str, str] = {}
        for entity in self.by_kind["Component"].values():
            self.component(entity, project_names)
        self.cycles()

    def user(self, entity: Entity, memberships: dict[str, set[str]]) -> None:
        user_model = get_user_model()
        try:
            user_model.username_validator(entity.steward_name)
        except ValidationError:
            self.problem(
                entity,
                "metadata.name",
                f"“{shown(entity.steward_name)}” is not a valid username (letters, digits and @ . + - _).",
            )
        if len(entity.steward_name) > 150:
            self.problem(entity, "metadata.name", "Longer than 150 characters.")
        profile = entity.spec.get("profile") or {}
        if not isinstance(profile, dict):
            self.problem(entity, "spec.profile", "Must be a mapping.")
            profile = {}
        fields: dict[str, Any] = {
            "display_name": self.name_text(
                entity, profile, "displayName", "spec.profile.displayName", 200
            )
            or entity.default_title,
            "email": self.text(entity, profile, "email", "spec.profile.email", 254) or "",
        }
        if fields["email"]:
            try:
                _email(fields["email"])
            except ValidationError:
                self.problem(
                    entity, "spec.profile.email", f"“{shown(fields['email'])}” is not an email."
                )
        time_zone = entity.annotation(TZ_ANNOTATION)
        if time_zone is not None:
            try:
                validate_time_zone(time_zone)
            except ValidationError:
                self.problem(
                    entity,
                    f"metadata.annotations.{TZ_ANNOTATION}",
                    f"“{shown(time_zone)}” is not an IANA time zone (for example Europe/Paris).",
                )
            else:
                fields["time_zone"] = time_zone
        member_of = entity.spec.get("memberOf") or []
        if not isinstance(member_of, list):
            self.problem(entity, "spec.memberOf", "Must be a list of groups.")
            member_of = []
        for position, value in enumerate(member_of):
            ref = self.resolve(entity, f"spec.memberOf[{position}]", value, "group", {"group"})
            if ref is None:
                continue
            if ref[1] in self.by_kind["Group"]:
                memberships.setdefault(ref[1], set()).add(entity.key)
            else:
                self.plan.extra_memberships.append((ref[1], entity.key))
        self.plan.users.append((entity, fields))

    def group(
        self, entity: Entity, names: dict[str, str], memberships: dict[str, set[str]]
    ) -> None:
        self.slug(entity)
        profile = entity.spec.get("profile") or {}
        if not isinstance(profile, dict):
            self.problem(entity, "spec.profile", "Must be a mapping.")
            profile = {}
        name = (
            self.name_text(entity, profile, "displayName", "spec.profile.displayName")
            or self.name_text(entity, entity.metadata, "title", "metadata.title")
            or entity.default_title
        )
        self.unique_name(entity, name, names)
        fields: dict[str, Any] = {
            "name": name,
            "description": self.text(
                entity, entity.metadata, "description", "metadata.description", 5000
            )
            or "",
        }
        is_it = entity.annotation(IT_TEAM_ANNOTATION)
        if is_it is not None:
            if not isinstance(is_it, str | bool) or str(is_it).lower() not in {"true", "false"}:
                self.problem(
                    entity,
                    f"metadata.annotations.{IT_TEAM_ANNOTATION}",
                    'Must be "true" or "false".',
                )
            else:
                fields["is_it"] = str(is_it).lower() == "true"
        members = set(memberships.get(entity.key, set()))
        raw = entity.spec.get("members") or []
        if not isinstance(raw, list):
            self.problem(entity, "spec.members", "Must be a list of users.")
            raw = []
        for position, value in enumerate(raw):
            ref = self.resolve(entity, f"spec.members[{position}]", value, "user", {"user"})
            if ref:
                members.add(ref[1])
        self.plan.groups.append((entity, fields, members))

    def resource(self, entity: Entity, names: dict[str, str]) -> None:
        self.slug(entity)
        name = (
            self.name_text(entity, entity.metadata, "title", "metadata.title")
            or entity.default_title
        )
        self.unique_name(entity, name, names)
        kind = entity.spec.get("type")
        if kind is not None and not isinstance(kind, str):
            self.problem(entity, "spec.type", "Must be a string.")
            kind = None
        kind_key = (kind or "").strip().lower()
        team, user = self.owner(entity)
        contacts = ([user] if user else []) + [
            c for c in self.owner_list(entity, CONTACTS_ANNOTATION) if c != user
        ]
        fields = {
            "name": name,
            "description": self.text(
                entity, entity.metadata, "description", "metadata.description", 5000
            )
            or "",
            "kind": kind_key
            if kind_key in ITSystem.Kind.values
            else RESOURCE_TYPE_ALIASES.get(kind_key, ITSystem.Kind.OTHER),
            "team": team,
        }
        self.plan.resources.append(ResourcePlan(entity, fields, contacts, self.depends_on(entity)))

    def component(self, entity: Entity, names: dict[str, str]) -> None:
        self.slug(entity)
        name = (
            self.name_text(entity, entity.metadata, "title", "metadata.title")
            or entity.default_title
        )
        self.unique_name(entity, name, names)
        team, user = self.owner(entity)
        owners = ([user] if user else []) + [
            o for o in self.owner_list(entity, OWNERS_ANNOTATION) if o != user
        ]
        fields: dict[str, Any] = {
            "name": name,
            "description": self.text(
                entity, entity.metadata, "description", "metadata.description", 5000
            )
            or "",
            "team": team,
        }
        tier = entity.annotation(TIER_ANNOTATION)
        lifecycle = entity.spec.get("lifecycle")
        if tier is not None:
            if tier not in Project.Tier.values:
                self.problem(
                    entity,
                    f"metadata.annotations.{TIER_ANNOTATION}",
                    f"“{shown(tier)}” is not one of {', '.join(Project.Tier.values)}.",
                )
            else:
                fields["support_tier"] = tier
        if lifecycle is not None:
            if not isinstance(lifecycle, str) or lifecycle.lower() not in LIFECYCLE_TIER:
                self.problem(
                    entity,
                    "spec.lifecycle",
                    f"“{shown(lifecycle)}” is not one of {', '.join(LIFECYCLE_TIER)}.",
                )
            elif tier is None:
                fields["support_tier"] = LIFECYCLE_TIER[lifecycle.lower()]
        urls: list[str] | None = None
        links = entity.metadata.get("links")
        if links is not None:
            urls = []
            if not isinstance(links, list):
                self.problem(entity, "metadata.links", "Must be a list of {url: ...}.")
                links = []
            for position, link in enumerate(links):
                url = link.get("url") if isinstance(link, dict) else None
                field_name = f"metadata.links[{position}].url"
                if not isinstance(url, str) or not url.strip():
                    self.problem(entity, field_name, "Required, a URL.")
                    continue
                url = url.strip()
                try:
                    web_url_validator(url)
                    if len(url) > 500:
                        raise ValidationError("too long")
                except ValidationError:
                    self.problem(entity, field_name, f"“{shown(url)}” is not an http(s) URL.")
                    continue
                if url not in urls:
                    urls.append(url)
        self.plan.components.append(
            ComponentPlan(entity, fields, owners, urls, self.depends_on(entity))
        )

    def cycles(self) -> None:
        """Cycles in the graph the import would leave: Steward's system edges, with those of the
        file's resources replaced by their dependsOn."""
        in_file = set(self.by_kind["Resource"])
        graph: dict[str, set[str]] = {}
        for source, target in self.known.system_edges:
            if source not in in_file:
                graph.setdefault(source, set()).add(target)
        for resource in self.plan.resources:
            graph.setdefault(resource.entity.key, set()).update(resource.depends_on)
        state: dict[str, int] = {}  # 1: on the stack, 2: done
        reported: set[frozenset[str]] = set()
        for start in sorted(graph):
            if state.get(start):
                continue
            stack: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
            path = [start]
            state[start] = 1
            while stack:
                node, children = stack[-1]
                child = next(children, None)  # type: ignore[call-overload]
                if child is None:
                    state[node] = 2
                    stack.pop()
                    path.pop()
                    continue
                if state.get(child) == 1:
                    cycle = path[path.index(child) :] + [child]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.cycle_problem(cycle)
                elif not state.get(child):
                    state[child] = 1
                    path.append(child)
                    stack.append((child, iter(sorted(graph.get(child, ())))))

    def cycle_problem(self, cycle: list[str]) -> None:
        def label(key: str) -> str:
            entity = self.by_kind["Resource"].get(key)
            return entity.ref if entity else self.known.systems[key].slug

        entity = next(
            (self.by_kind["Resource"][k] for k in cycle if k in self.by_kind["Resource"]), None
        )
        reason = "This dependency would close a cycle: " + " → ".join(map(label, cycle)) + "."
        if entity is None:  # only Steward's own edges: cannot happen, they are checked on write
            self.plan.problems.append(CatalogProblem(None, "", "", reason))
        else:
            self.problem(entity, "spec.dependsOn", reason)
