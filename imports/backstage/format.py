"""The Backstage catalog's format: its YAML documents, entities and references, and how a
problem with them reads. The mapping to Steward is in the package's docstring."""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass
from typing import Any

import yaml

from imports.bounded_yaml import Bounds, YamlRefused, bounded_documents
from imports.engine import ImportRejected, Plan, too_large_reason, upload_text
from registry.models import ITSystem, Project

MAX_BYTES = 2 * 1024 * 1024
MAX_ENTITIES = 5000
API_VERSIONS = ("backstage.io/v1alpha1", "backstage.io/v1beta1")
API_VERSION = "backstage.io/v1alpha1"
KINDS = ("User", "Group", "Resource", "Component")
SKIPPED_KINDS = ("API", "System", "Domain", "Location", "Template")
# No more than a file of MAX_BYTES could hold written out: aliases may share, never multiply.
YAML_BOUNDS = Bounds(
    max_documents=2 * MAX_ENTITIES,
    max_nodes=1_000_000,
    max_chars=MAX_BYTES,
    max_depth=32,
)
# What a problem may quote of a value, and how long a reason may be in all: a message never
# repeats a value whole (a value may be megabytes, or an alias expanding to gigabytes).
QUOTED_CHARS = 80
MAX_REASON_CHARS = 500

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
# Backstage's own rule for a namespace: DNS-label-like, at most 63 characters.
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", re.IGNORECASE)
DEFAULT_NAMESPACE = "default"


# --- problems -----------------------------------------------------------------------------------


_quoted = reprlib.Repr()
_quoted.maxlevel, _quoted.maxdict, _quoted.maxlist, _quoted.maxtuple = 2, 3, 3, 3
_quoted.maxset = _quoted.maxfrozenset = 3
_quoted.maxstring = _quoted.maxother = _quoted.maxlong = QUOTED_CHARS


def shown(value: Any, limit: int = QUOTED_CHARS) -> str:
    """`value` as a message may quote it: a string as it is, cut at `limit` characters; anything
    else as a short repr, whatever its size (reprlib stops at a few items and levels)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    return _quoted.repr(value)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class CatalogProblem:
    document: int | None  # 1-based; None: the whole file
    entity: str  # "component:default/payroll", or "" when the document has no name
    field: str
    reason: str
    line: int | None = None
    forbidden: bool = False  # the catalog is refused as a whole: only IT staff import it

    def __post_init__(self) -> None:
        # The last guard: every message quotes values through `shown`, and none is long.
        object.__setattr__(self, "entity", _bounded(self.entity, 2 * QUOTED_CHARS))
        object.__setattr__(self, "field", _bounded(self.field, QUOTED_CHARS))
        object.__setattr__(self, "reason", _bounded(self.reason, MAX_REASON_CHARS))

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

    def more_problem(self, count: int) -> CatalogProblem:
        return CatalogProblem(None, "", "", f"And {count:,} more problems, not listed.")


# --- parsing ------------------------------------------------------------------------------------


@dataclass
class Entity:
    """One entity of the file. `steward_name` is the slug or username of its record in Steward:
    its name, or `<name>-<namespace>` where an entity of another namespace (or a record already
    in Steward) has the same name (`plan._Checker.steward_names`)."""

    index: int
    line: int
    kind: str
    name: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    namespace: str = DEFAULT_NAMESPACE
    steward_name: str = ""

    def __post_init__(self) -> None:
        self.steward_name = self.steward_name or self.name

    @property
    def key(self) -> str:
        return self.steward_name.lower()

    @property
    def identity(self) -> tuple[str, str, str]:
        """(kind, namespace, name) as Backstage compares them: case-insensitively."""
        return (self.kind, self.namespace.lower(), self.name.lower())

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}:{self.namespace}/{self.name}"

    @property
    def default_title(self) -> str:
        """The name people see when the entity gives none: with its namespace where the name
        clashes with another's."""
        if self.steward_name == self.name:
            return self.name
        return f"{self.name} ({self.namespace})"

    def annotation(self, name: str) -> Any:
        annotations = self.metadata.get("annotations") or {}
        return annotations.get(name) if isinstance(annotations, dict) else None


def read_documents(text: str, plan: Plan) -> list[tuple[int, int, Any]]:
    """(document number, line, data) for each non-empty document; a syntax error, or a file
    past the bounds of `imports.bounded_yaml` (aliases expanding past what the file could hold,
    nesting), is a problem."""
    documents: list[tuple[int, int, Any]] = []
    index = 0
    try:
        for index, line, data in bounded_documents(text, YAML_BOUNDS):
            if data is not None:
                documents.append((index, line, data))
    except YamlRefused as exc:
        plan.problems.append(
            CatalogProblem(exc.document, "", "", f"Refused: {exc.reason}", line=exc.line)
        )
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        plan.problems.append(
            CatalogProblem(
                index or 1,
                "",
                "",
                f"Not valid YAML: character {shown(exc.character)} is not allowed (line {line}).",
                line=line,
            )
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        plan.problems.append(
            CatalogProblem(
                index or 1,
                "",
                "",
                f"Not valid YAML: {shown(reason, 200)}"
                + (f" (line {mark.line + 1}, column {mark.column + 1})." if mark else "."),
                line=mark.line + 1 if mark else None,
            )
        )
    except RecursionError:
        plan.problems.append(
            CatalogProblem(index or 1, "", "", "Not valid YAML for a catalog: nested too deeply.")
        )
    return documents


def parse_ref(value: Any, default_kind: str | None) -> tuple[str, str, str]:
    """`[kind:][namespace/]name` → (kind in lower case, namespace in lower case, name). Raises
    ValueError with a reason."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{shown(value)} is not an entity reference ([kind:][namespace/]name).")
    match = _REF.match(value.strip())
    if not match:
        raise ValueError(f"“{shown(value)}” is not an entity reference ([kind:][namespace/]name).")
    kind = (match["kind"] or default_kind or "").lower()
    if not kind:
        raise ValueError(
            f"“{shown(value)}” must name its kind, for example resource:{shown(match['name'])}."
        )
    namespace = match["namespace"] or DEFAULT_NAMESPACE
    if not _NAMESPACE.match(namespace) or len(namespace) > 63:
        raise ValueError(f"“{shown(value)}”: “{shown(namespace)}” is not a valid namespace.")
    return kind, namespace.lower(), match["name"]


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
    seen: dict[tuple[str, str, str], int] = {}
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
        namespace = (
            metadata.get("namespace", DEFAULT_NAMESPACE) if isinstance(metadata, dict) else ""
        )
        label = (
            f"{shown(kind).lower()}:{shown(namespace)}/{shown(name)}"
            if isinstance(name, str)
            else ""
        )
        if data.get("apiVersion") not in API_VERSIONS:
            problem(
                "apiVersion",
                f"Must be {API_VERSION} (found {shown(data.get('apiVersion'))}).",
                label,
            )
        if not isinstance(kind, str) or not kind:
            problem("kind", "Required.", label)
            continue
        canonical = next((k for k in KINDS if k.lower() == kind.lower()), None)
        if canonical is None:
            skipped = next((k for k in SKIPPED_KINDS if k.lower() == kind.lower()), None)
            if skipped is None:
                problem(
                    "kind",
                    f"Unknown kind “{shown(kind)}”: Steward reads {', '.join(KINDS)}.",
                    label,
                )
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
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace) or len(namespace) > 63:
            problem(
                "metadata.namespace",
                f"“{shown(namespace)}” is not a valid namespace (letters, digits and -, at most 63).",
                label,
            )
            continue
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
        entity = Entity(index, line, canonical, name, metadata, spec, namespace=namespace)
        key = entity.identity
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
