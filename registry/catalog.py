"""Backstage catalog (`catalog-info.yaml`) import and export.

Mapping (apiVersion ``backstage.io/v1alpha1``; ``backstage.io/v1beta1`` is read as well)
------------------------------------------------------------------------------------------
- ``User`` → a Django user (created with an unusable password) and its Person: ``metadata.name``
  is the username, ``spec.profile.displayName`` the display name, ``spec.profile.email`` the
  email, the annotation ``steward/time-zone`` the IANA time zone (absent: left as it is, UTC for a
  new person). ``spec.memberOf`` adds the person to those groups.
- ``Group`` → a Team: ``metadata.name`` is the slug, ``spec.profile.displayName`` (else
  ``metadata.title``, else the name) the name, ``spec.members`` (users) the members, together with
  the users of the file whose ``memberOf`` names it. Annotation ``steward/it-team: "true"`` makes
  it an IT team (absent: left as it is).
- ``Resource`` → an IT system: ``spec.type`` → kind (the kind's own value or a known alias, such
  as ``postgres`` → database; anything else → other); ``spec.owner`` ``group:x`` → its team,
  ``user:x`` → a contact (and no team); annotation ``steward/contacts`` (comma-separated users)
  adds contacts; ``spec.dependsOn`` ``resource:x`` → an edge to that system.
- ``Component`` → a project: ``metadata.name`` → slug, ``metadata.title`` (else the name) → name,
  ``spec.owner`` ``group:x`` (or a bare name) → its team, ``user:x`` → an owner (and no team);
  annotation ``steward/owners`` adds owners; ``spec.lifecycle`` production / experimental /
  deprecated → support tier it_supported / experimental / retired, unless the annotation
  ``steward/support-tier`` names the tier exactly; ``metadata.links[].url`` → the project's URLs
  (present, even empty: exactly those; absent: left as they are); ``spec.dependsOn``
  ``resource:x`` → an edge to that IT system.
- Edges are hard, except those listed in the annotation ``steward/soft-dependencies``.
- A Component's or Resource's edges are exactly its ``dependsOn``: an edge left out is removed.
  Entities that are not in the file are never changed (a ``memberOf`` naming a group that is not in
  the file adds the person to that team, and removes nobody).
- Owners and contacts are only ever added, never removed, by an import: taking people off a
  project is done in Steward, where the last owner is protected.

Refused (every problem is listed, nothing is written): YAML syntax errors (with the line), a
document that is not a mapping, a wrong apiVersion, a missing ``metadata.name``, an invalid name
(slug: letters, digits, ``-`` and ``_``; usernames as Django allows them), a namespace other than
``default``, the same entity twice, a reference to an entity neither in the file nor in Steward,
a reference of the wrong kind, an unknown lifecycle or tier, an invalid time zone, email or URL,
a name already used by another record, a dependency cycle (counting the edges already in Steward),
more than ``MAX_BYTES`` or ``MAX_ENTITIES``. Other kinds (API, System, Domain, Location, Template)
and ``component:`` entries in ``dependsOn`` are skipped with a warning.

``catalog_plan`` only reads; ``catalog_import`` takes the dependency-graph lock, plans again and
applies everything in one transaction, saving only what differs: an unchanged file writes nothing,
no audit entry, no new ``updated_at``. ``catalog_export`` writes the registry in the same shapes;
its output imports back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator, validate_slug
from django.db import transaction
from django.db.models import Model

from . import permissions
from .models import (
    AuditEntry,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    ProjectURL,
    Team,
)
from .services import (
    _audited_delete,
    _lock_graph,
    _save,
    _url_validator,
    audit_record,
    audit_snapshot,
)
from .validators import validate_time_zone

Actor = AbstractBaseUser | None

MAX_BYTES = 2 * 1024 * 1024
MAX_ENTITIES = 5000
API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
API_VERSION = "backstage.io/v1alpha1"
KINDS = ("User", "Group", "Resource", "Component")
SKIPPED_KINDS = ("API", "System", "Domain", "Location", "Template")

TZ_ANNOTATION = "steward/time-zone"
IT_TEAM_ANNOTATION = "steward/it-team"
OWNERS_ANNOTATION = "steward/owners"
CONTACTS_ANNOTATION = "steward/contacts"
TIER_ANNOTATION = "steward/support-tier"
SOFT_ANNOTATION = "steward/soft-dependencies"

LIFECYCLE_TIER = {
    "production": Project.Tier.IT_SUPPORTED,
    "experimental": Project.Tier.EXPERIMENTAL,
    "deprecated": Project.Tier.RETIRED,
}
TIER_LIFECYCLE = {
    Project.Tier.IT_SUPPORTED: "production",
    Project.Tier.SIDE_PROJECT: "production",
    Project.Tier.EXPERIMENTAL: "experimental",
    Project.Tier.RETIRED: "deprecated",
}
RESOURCE_TYPE_ALIASES = {
    "postgres": ITSystem.Kind.DATABASE,
    "postgresql": ITSystem.Kind.DATABASE,
    "mysql": ITSystem.Kind.DATABASE,
    "db": ITSystem.Kind.DATABASE,
    "s3-bucket": ITSystem.Kind.STORAGE,
    "bucket": ITSystem.Kind.STORAGE,
    "storage-bucket": ITSystem.Kind.STORAGE,
    "vm": ITSystem.Kind.SERVER,
    "cluster": ITSystem.Kind.SERVER,
    "kubernetes-cluster": ITSystem.Kind.SERVER,
    "ldap": ITSystem.Kind.DIRECTORY,
    "identity-provider": ITSystem.Kind.SSO,
}
_REF = re.compile(r"^(?:(?P<kind>[A-Za-z]+):)?(?:(?P<namespace>[^/:\s]+)/)?(?P<name>[^/:\s]+)$")
_email = EmailValidator()
COUNTED = ("User", "Group", "Resource", "Component", "Dependency")


# --- problems -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    document: int | None  # 1-based; None: the whole file
    entity: str  # "component:default/payroll", or "" when the document has no name
    field: str
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "line": self.line,
            "entity": self.entity,
            "field": self.field,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        where = "file" if self.document is None else f"document {self.document}"
        if self.line is not None:
            where += f" (line {self.line})"
        what = " ".join(part for part in (self.entity, self.field) if part)
        return f"{where}: {what + ': ' if what else ''}{self.reason}"


class CatalogRejected(Exception):
    def __init__(self, problems: list[CatalogProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the catalog")
        self.problems = problems


# --- parsing ------------------------------------------------------------------------------------


@dataclass
class Entity:
    index: int
    line: int
    kind: str
    name: str
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}:default/{self.name}"

    def annotation(self, name: str) -> Any:
        annotations = self.metadata.get("annotations") or {}
        return annotations.get(name) if isinstance(annotations, dict) else None


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
class CatalogPlan:
    problems: list[CatalogProblem] = field(default_factory=list)
    warnings: list[CatalogProblem] = field(default_factory=list)
    users: list[tuple[Entity, dict[str, Any]]] = field(default_factory=list)
    groups: list[tuple[Entity, dict[str, Any], set[str]]] = field(default_factory=list)
    resources: list[ResourcePlan] = field(default_factory=list)
    components: list[ComponentPlan] = field(default_factory=list)
    # memberOf naming a team that is not in the file: (team key, username key)
    extra_memberships: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_documents(text: str, plan: CatalogPlan) -> list[tuple[int, int, Any]]:
    """(document number, line, data) for each non-empty document; a syntax error is a problem."""
    documents: list[tuple[int, int, Any]] = []
    index = 0
    try:
        # Characters YAML does not allow fail at once, in the constructor.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        plan.problems.append(
            CatalogProblem(
                1,
                "",
                "",
                f"Not valid YAML: character {exc.character!r} is not allowed (line {line}).",
                line=line,
            )
        )
        return documents
    try:
        while loader.check_node():
            index += 1
            node = loader.get_node()
            line = node.start_mark.line + 1
            data = loader.construct_document(node)
            if data is not None:
                documents.append((index, line, data))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        plan.problems.append(
            CatalogProblem(
                index or 1,
                "",
                "",
                f"Not valid YAML: {reason}"
                + (f" (line {mark.line + 1}, column {mark.column + 1})." if mark else "."),
                line=mark.line + 1 if mark else None,
            )
        )
    except RecursionError:
        plan.problems.append(
            CatalogProblem(index or 1, "", "", "Not valid YAML for a catalog: nested too deeply.")
        )
    finally:
        loader.dispose()
    return documents


def _parse_ref(value: Any, default_kind: str | None) -> tuple[str, str]:
    """`[kind:][namespace/]name` → (kind in lower case, name). Raises ValueError with a reason."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not an entity reference ([kind:][namespace/]name).")
    match = _REF.match(value.strip())
    if not match:
        raise ValueError(f"“{value}” is not an entity reference ([kind:][namespace/]name).")
    kind = (match["kind"] or default_kind or "").lower()
    if not kind:
        raise ValueError(f"“{value}” must name its kind, for example resource:{match['name']}.")
    namespace = match["namespace"] or "default"
    if namespace.lower() != "default":
        raise ValueError(f"“{value}”: only the default namespace is supported.")
    return kind, match["name"]


def _csv_annotation(value: Any) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, str):
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


class _Known:
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
        self.names: dict[str, dict[str, str]] = {
            kind: {record.name: key for key, record in records.items()}
            for kind, records in (
                ("Group", self.teams),
                ("Resource", self.systems),
                ("Component", self.projects),
            )
        }


def catalog_text_from_bytes(data: bytes) -> tuple[str, list[CatalogProblem]]:
    """Uploaded bytes → text, or the problem (too large, not UTF-8)."""
    if len(data) > MAX_BYTES:
        return "", [_too_large()]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        return "", [CatalogProblem(None, "", "", f"The file is not UTF-8 text (byte {exc.start}).")]


def _too_large() -> CatalogProblem:
    return CatalogProblem(None, "", "", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")


def catalog_plan(text: str) -> CatalogPlan:
    """Check the whole file and collect every problem; writes nothing."""
    plan = CatalogPlan()
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        plan.problems.append(_too_large())
        return plan
    documents = _read_documents(text, plan)
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

    entities = _entities(documents, plan)
    known = _Known()
    _Checker(plan, entities, known).run()
    return plan


def _entities(documents: list[tuple[int, int, Any]], plan: CatalogPlan) -> list[Entity]:
    entities: list[Entity] = []
    seen: dict[tuple[str, str], int] = {}
    for index, line, data in documents:

        def problem(
            field_name: str, reason: str, entity: str = "", index: int = index, line: int = line
        ) -> None:
            plan.problems.append(CatalogProblem(index, entity, field_name, reason, line))

        if not isinstance(data, dict):
            problem("", "A document must be a mapping (apiVersion, kind, metadata, spec).")
            continue
        kind = data.get("kind")
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        label = f"{str(kind).lower()}:default/{name}" if isinstance(name, str) else ""
        if data.get("apiVersion") not in API_VERSIONS:
            problem(
                "apiVersion",
                f"Must be {API_VERSION} (found {data.get('apiVersion')!r}).",
                label,
            )
        if not isinstance(kind, str) or not kind:
            problem("kind", "Required.", label)
            continue
        canonical = next((k for k in KINDS if k.lower() == kind.lower()), None)
        if canonical is None:
            skipped = next((k for k in SKIPPED_KINDS if k.lower() == kind.lower()), None)
            if skipped is None:
                problem("kind", f"Unknown kind “{kind}”: Steward reads {', '.join(KINDS)}.", label)
            else:
                plan.warnings.append(
                    CatalogProblem(index, label, "kind", f"{skipped} entities are skipped.", line)
                )
            continue
        if not isinstance(metadata, dict):
            problem("metadata", "Required, a mapping with at least a name.", label)
            continue
        if not isinstance(name, str) or not name.strip():
            problem("metadata.name", "Required, a string.", label)
            continue
        namespace = metadata.get("namespace", "default")
        if not isinstance(namespace, str) or namespace.lower() != "default":
            problem("metadata.namespace", "Only the default namespace is supported.", label)
        spec = data.get("spec", {})
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            problem("spec", "Must be a mapping.", label)
            continue
        annotations = metadata.get("annotations")
        if annotations is not None and not isinstance(annotations, dict):
            problem("metadata.annotations", "Must be a mapping.", label)
            continue
        entity = Entity(index, line, canonical, name, metadata, spec)
        key = (canonical, entity.key)
        if key in seen:
            problem(
                "metadata.name",
                f"{entity.ref} is already in document {seen[key]}.",
                entity.ref,
            )
            continue
        seen[key] = index
        entities.append(entity)
    return entities


class _Checker:
    def __init__(self, plan: CatalogPlan, entities: list[Entity], known: _Known) -> None:
        self.plan = plan
        self.known = known
        self.by_kind: dict[str, dict[str, Entity]] = {k: {} for k in KINDS}
        for entity in entities:
            self.by_kind[entity.kind][entity.key] = entity

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

    def resolve(
        self, entity: Entity, field_name: str, value: Any, default_kind: str, allowed: set[str]
    ) -> tuple[str, str] | None:
        try:
            kind, name = _parse_ref(value, default_kind)
        except ValueError as exc:
            self.problem(entity, field_name, str(exc))
            return None
        if kind not in allowed:
            self.problem(
                entity,
                field_name,
                f"“{value}”: a {kind} cannot be named here (expected {' or '.join(sorted(allowed))}).",
            )
            return None
        if not self.exists(kind, name.lower()):
            self.problem(
                entity,
                field_name,
                f"“{value}” names {kind}:default/{name}, which is neither in the file nor in Steward.",
            )
            return None
        return kind, name.lower()

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

    def slug(self, entity: Entity) -> None:
        try:
            validate_slug(entity.name)
        except ValidationError:
            self.problem(
                entity,
                "metadata.name",
                f"“{entity.name}” is not a valid slug (letters, digits, - and _).",
            )
        if len(entity.name) > 100:
            self.problem(entity, "metadata.name", "Longer than 100 characters.")

    def unique_name(self, entity: Entity, name: str, taken: dict[str, str]) -> None:
        """`name` must not belong to another record, in Steward (not in the file) or in the file."""
        key = self.known.names[entity.kind].get(name)
        if key is not None and key != entity.key and key not in self.by_kind[entity.kind]:
            self.problem(
                entity,
                "metadata.title",
                f"The name “{name}” is already used by {entity.kind.lower()} {key}.",
            )
        other = taken.get(name)
        if other is not None and other != entity.key:
            self.problem(entity, "metadata.title", f"The name “{name}” is also used by {other}.")
        taken[name] = entity.key

    def owner_list(self, entity: Entity, annotation: str) -> list[str]:
        names = _csv_annotation(entity.annotation(annotation))
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
        soft = _csv_annotation(entity.annotation(SOFT_ANNOTATION))
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
                soft_keys.add(_parse_ref(value, "resource")[1].lower())
            except ValueError as exc:
                self.problem(entity, f"metadata.annotations.{SOFT_ANNOTATION}", str(exc))
        edges: dict[str, str] = {}
        for position, value in enumerate(raw):
            field_name = f"spec.dependsOn[{position}]"
            try:
                kind, _name = _parse_ref(value, None)
            except ValueError as exc:
                self.problem(entity, field_name, str(exc))
                continue
            if kind == "component":
                self.warn(
                    entity,
                    field_name,
                    f"“{value}” skipped: Steward records dependencies on IT systems (resources) only.",
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
            user_model.username_validator(entity.name)
        except ValidationError:
            self.problem(
                entity,
                "metadata.name",
                f"“{entity.name}” is not a valid username (letters, digits and @ . + - _).",
            )
        if len(entity.name) > 150:
            self.problem(entity, "metadata.name", "Longer than 150 characters.")
        profile = entity.spec.get("profile") or {}
        if not isinstance(profile, dict):
            self.problem(entity, "spec.profile", "Must be a mapping.")
            profile = {}
        fields: dict[str, Any] = {
            "display_name": self.text(
                entity, profile, "displayName", "spec.profile.displayName", 200
            )
            or entity.name,
            "email": self.text(entity, profile, "email", "spec.profile.email", 254) or "",
        }
        if fields["email"]:
            try:
                _email(fields["email"])
            except ValidationError:
                self.problem(entity, "spec.profile.email", f"“{fields['email']}” is not an email.")
        time_zone = entity.annotation(TZ_ANNOTATION)
        if time_zone is not None:
            try:
                validate_time_zone(time_zone)
            except ValidationError:
                self.problem(
                    entity,
                    f"metadata.annotations.{TZ_ANNOTATION}",
                    f"“{time_zone}” is not an IANA time zone (for example Europe/Paris).",
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
            self.text(entity, profile, "displayName", "spec.profile.displayName", 200)
            or self.text(entity, entity.metadata, "title", "metadata.title", 200)
            or entity.name
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
            if str(is_it).lower() not in {"true", "false"}:
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
        name = self.text(entity, entity.metadata, "title", "metadata.title", 200) or entity.name
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
        name = self.text(entity, entity.metadata, "title", "metadata.title", 200) or entity.name
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
                    f"“{tier}” is not one of {', '.join(Project.Tier.values)}.",
                )
            else:
                fields["support_tier"] = tier
        if lifecycle is not None:
            if not isinstance(lifecycle, str) or lifecycle.lower() not in LIFECYCLE_TIER:
                self.problem(
                    entity,
                    "spec.lifecycle",
                    f"“{lifecycle}” is not one of {', '.join(LIFECYCLE_TIER)}.",
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
                    _url_validator(url)
                    if len(url) > 500:
                        raise ValidationError("too long")
                except ValidationError:
                    self.problem(entity, field_name, f"“{url[:80]}” is not an http(s) URL.")
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
            return entity.name if entity else self.known.systems[key].slug

        entity = next(
            (self.by_kind["Resource"][k] for k in cycle if k in self.by_kind["Resource"]), None
        )
        reason = "This dependency would close a cycle: " + " → ".join(map(label, cycle)) + "."
        if entity is None:  # only Steward's own edges: cannot happen, they are checked on write
            self.plan.problems.append(CatalogProblem(None, "", "", reason))
        else:
            self.problem(entity, "spec.dependsOn", reason)


# --- applying -----------------------------------------------------------------------------------


class _Counts:
    def __init__(self) -> None:
        self.counts = {
            kind: {"created": 0, "updated": 0, "unchanged": 0, "removed": 0} for kind in COUNTED
        }

    def add(self, kind: str, what: str) -> None:
        self.counts[kind][what] += 1


def _apply_fields(
    *,
    actor: Actor,
    instance: Model,
    fields: dict[str, Any],
    related_changed: bool = False,
    after_save: Callable[[], None] | None = None,
    extra_before: dict[str, Any] | None = None,
    extra_after: dict[str, Any] | None = None,
) -> str:
    """Save `instance` only when a field differs, run `after_save` (related rows) when anything
    does, and record one audit entry. Returns created, updated or unchanged."""
    is_new = instance.pk is None
    differs = {k: v for k, v in fields.items() if is_new or getattr(instance, k) != v}
    extra_before = extra_before or {}
    extra_after = extra_after or {}
    if not is_new and not differs and not related_changed and extra_before == extra_after:
        return "unchanged"
    before = None if is_new else {**audit_snapshot(instance), **extra_before}
    for key, value in differs.items():
        setattr(instance, key, value)
    if is_new or differs:
        _save(instance)
    if after_save is not None:
        after_save()
    audit_record(
        actor=actor,
        action=AuditEntry.Action.CREATE if is_new else AuditEntry.Action.UPDATE,
        instance=instance,
        before=before,
        after={**audit_snapshot(instance), **extra_after},
    )
    return "created" if is_new else "updated"


class _Applier:
    def __init__(self, actor: Actor, plan: CatalogPlan) -> None:
        self.actor = actor
        self.plan = plan
        self.known = _Known()
        self.counts = _Counts()
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
        what = _apply_fields(actor=self.actor, instance=person, fields=fields)
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

        what = _apply_fields(
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

        what = _apply_fields(
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

        what = _apply_fields(
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
                    _audited_delete(self.actor, edge)
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
                what = _apply_fields(
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


def catalog_import(*, actor: Actor, text: str, dry_run: bool = False) -> dict[str, Any]:
    """Import a catalog: every entity or none. With `dry_run`, the same work is done and rolled
    back, so the summary is exactly what an import would do.

    Raises PermissionDenied for anyone but IT staff and admins (``actor=None`` is Steward itself)
    and CatalogRejected with every problem when the file has any.
    """
    if actor is not None and not permissions.can_manage_systems(actor):
        raise PermissionDenied("Only IT staff import a catalog.")
    applier: _Applier | None = None
    with transaction.atomic():
        _lock_graph()
        plan = catalog_plan(text)
        if plan.problems:
            raise CatalogRejected(plan.problems)
        applier = _Applier(actor, plan)
        try:
            applier.run()
        except ValidationError as exc:
            raise CatalogRejected(_entity_problem(exc)) from exc
        if dry_run:
            transaction.set_rollback(True)
    return {
        "dry_run": dry_run,
        "counts": applier.counts.counts,
        "warnings": [warning.as_dict() for warning in plan.warnings],
    }


# --- export -------------------------------------------------------------------------------------


def _document(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


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


def _dependency_spec(edges: Iterable[Dependency]) -> tuple[list[str], str]:
    edges = sorted(edges, key=lambda e: e.target_system.slug)
    depends = [f"resource:{e.target_system.slug}" for e in edges]
    soft = ", ".join(
        f"resource:{e.target_system.slug}"
        for e in edges
        if e.criticality == Dependency.Criticality.SOFT
    )
    return depends, soft


def catalog_export() -> str:
    """The whole registry as Backstage entities: users, groups, resources, components."""
    documents: list[dict[str, Any]] = []
    people = Person.objects.select_related("user").prefetch_related("teams")
    for person in sorted(people, key=lambda p: p.user.get_username()):
        profile = {"displayName": person.display_name}
        if person.email:
            profile["email"] = person.email
        documents.append(
            _document(
                "User",
                _metadata(person.user.get_username(), None, "", {TZ_ANNOTATION: person.time_zone}),
                {
                    "profile": profile,
                    "memberOf": sorted(f"group:{t.slug}" for t in person.teams.all()),
                },
            )
        )
    for team in Team.objects.prefetch_related("members__user").order_by("slug"):
        documents.append(
            _document(
                "Group",
                _metadata(
                    team.slug,
                    None,
                    team.description,
                    {IT_TEAM_ANNOTATION: "true"} if team.is_it else {},
                ),
                {
                    "type": "team",
                    "profile": {"displayName": team.name},
                    "children": [],
                    "members": sorted(f"user:{p.user.get_username()}" for p in team.members.all()),
                },
            )
        )
    systems = ITSystem.objects.select_related("team").prefetch_related(
        "contacts__user", "dependencies__target_system"
    )
    for system in systems.order_by("slug"):
        contacts = sorted(p.user.get_username() for p in system.contacts.all())
        depends, soft = _dependency_spec(system.dependencies.all())
        annotations = {}
        spec: dict[str, Any] = {"type": system.kind}
        if system.team is not None:
            spec["owner"] = f"group:{system.team.slug}"
        elif contacts:
            spec["owner"] = f"user:{contacts[0]}"
        if contacts:
            annotations[CONTACTS_ANNOTATION] = ", ".join(contacts)
        if soft:
            annotations[SOFT_ANNOTATION] = soft
        if depends:
            spec["dependsOn"] = depends
        documents.append(
            _document(
                "Resource",
                _metadata(system.slug, system.name, system.description, annotations),
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
        depends, soft = _dependency_spec(project.dependencies.all())
        annotations = {TIER_ANNOTATION: project.support_tier}
        if owners:
            annotations[OWNERS_ANNOTATION] = ", ".join(owners)
        if soft:
            annotations[SOFT_ANNOTATION] = soft
        metadata = _metadata(project.slug, project.name, project.description, annotations)
        urls = sorted(u.url for u in project.urls.all())
        if urls:
            metadata["links"] = [{"url": url} for url in urls]
        spec = {"type": "service", "lifecycle": TIER_LIFECYCLE[project.support_tier]}
        if project.team is not None:
            spec["owner"] = f"group:{project.team.slug}"
        elif owners:
            spec["owner"] = f"user:{owners[0]}"
        if depends:
            spec["dependsOn"] = depends
        documents.append(_document("Component", metadata, spec))
    return yaml.safe_dump_all(
        documents, explicit_start=True, sort_keys=False, allow_unicode=True, width=100
    )
