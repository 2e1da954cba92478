"""The Backstage catalog's format: its YAML documents, entities and references, and how a
problem with them reads. The mapping to Steward is in the package's docstring."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from imports.engine import ImportRejected, Plan, too_large_reason, upload_text
from registry.models import ITSystem, Project

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


# --- problems -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    document: int | None  # 1-based; None: the whole file
    entity: str  # "component:default/payroll", or "" when the document has no name
    field: str
    reason: str
    line: int | None = None
    forbidden: bool = False  # the catalog is refused as a whole: only IT staff import it

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


class CatalogRejected(ImportRejected):
    what = "the catalog"


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


def read_documents(text: str, plan: Plan) -> list[tuple[int, int, Any]]:
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


def parse_ref(value: Any, default_kind: str | None) -> tuple[str, str]:
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


def comma_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, str):
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def catalog_text_from_bytes(data: bytes) -> tuple[str, list[CatalogProblem]]:
    """Uploaded bytes → text, or the problem (too large, not UTF-8)."""
    text, reason = upload_text(data, max_bytes=MAX_BYTES)
    return text, ([] if reason is None else [CatalogProblem(None, "", "", reason)])


def too_large() -> CatalogProblem:
    return CatalogProblem(None, "", "", too_large_reason(MAX_BYTES))


def entities_of(documents: list[tuple[int, int, Any]], plan: Plan) -> list[Entity]:
    """The entities Steward reads, each checked for its shape; the others are problems, or
    warnings for the kinds that are skipped."""
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
