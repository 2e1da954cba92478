"""CSV import and export of the registry's projects, with their people and dependencies.

The format
----------
One file, one project per row, UTF-8 (a byte-order mark is accepted and ignored), comma
separated, quoted the usual way (RFC 4180). The first row is the header; column names are
case-insensitive and may come in any order::

    slug,name,description,support_tier,team,help_channel,runbook_url,
    owners,maintainers,backups,aliases,urls,depends_on

- ``slug``, ``name`` and ``owners`` are required; every other column is optional. A column left
  out of the file leaves that field of an existing project as it is (a new project gets the
  default); a column that is there but empty in a row means empty (no team, no backups, no
  dependencies...). An empty ``support_tier`` means the default, ``side_project``.
- ``support_tier``: one of ``it_supported``, ``side_project``, ``experimental``, ``retired``.
- ``team``: a team's slug.
- List columns are ``;``-separated: ``owners``, ``maintainers``, ``backups`` (people, by
  username or by email; the order is kept), ``aliases``, ``urls`` (http/https) and
  ``depends_on``: IT system slugs, each optionally suffixed ``:hard`` (the default) or ``:soft``.
  A value that itself holds ``;`` cannot be written in a list column.
- Unknown people are a problem: an import never creates accounts.
- Existing projects are matched by slug and updated; the row's lists replace what the project
  had (roles, aliases, URLs, and its edges to IT systems: an edge left out is removed; an edge
  kept keeps its note). A row that matches the project exactly changes nothing: no write, no
  audit entry, no new ``updated_at``. Projects absent from the file are left alone.
- Blank lines are skipped. A row counts as the spreadsheet counts it: the header is row 1.
- Cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are written by the
  export with a leading ``'`` so that a spreadsheet shows them as text instead of running them as
  formulas (CSV injection); the import removes that one quote again, so an export imports back
  unchanged.
- Limits: 5 MB and 20,000 rows per file.

IT systems and the edges between them are not part of the file: they are managed by IT in the
registry itself, and a project row can only point at systems that exist.

Checking and importing
----------------------
``registry_csv_plan`` reads every row and collects every problem (row, column, value, reason)
before anything is written; ``registry_csv_import`` writes only when there is none, all rows in
one transaction (all or nothing), and with ``dry_run=True`` returns the plan and writes nothing.

Who may import: IT staff and admins, any row. Anyone else registered as a person may import rows
for projects they may edit (owners and maintainers) and rows for new projects that list them
among the owners; any other row is a permission problem, and the whole file is refused.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.db.models.functions import Lower

from . import permissions
from .models import (
    AuditEntry,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
    Team,
    url_host,
)
from .services import (
    _clean_aliases,
    _clean_runbook_url,
    _clean_urls,
    audit_record,
    audit_snapshot,
)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

COLUMNS = (
    "slug",
    "name",
    "description",
    "support_tier",
    "team",
    "help_channel",
    "runbook_url",
    "owners",
    "maintainers",
    "backups",
    "aliases",
    "urls",
    "depends_on",
)
REQUIRED = ("slug", "name", "owners")
ROLE_COLUMNS = {
    "owners": ProjectRole.Role.OWNER,
    "maintainers": ProjectRole.Role.MAINTAINER,
    "backups": ProjectRole.Role.BACKUP,
}
# The project's own fields, written as they are (team is resolved from a slug).
TEXT_FIELDS = ("name", "description", "support_tier", "help_channel", "runbook_url")
SEPARATOR = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Actor = AbstractBaseUser | None


@dataclass(frozen=True)
class CsvProblem:
    """One thing wrong with the file. `row` as a spreadsheet numbers it (header: 1); None for
    the file as a whole."""

    row: int | None
    column: str
    value: str
    reason: str
    forbidden: bool = False  # a permission problem rather than bad data

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class RowPlan:
    """What one row will do. `changes` names the columns whose value differs."""

    row: int
    slug: str
    action: str  # "create", "update" or "unchanged"
    changes: list[str] = field(default_factory=list)
    project: Project | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] | None = None
    urls: list[str] | None = None
    roles: list[tuple[int, str]] | None = None  # (person id, role), in order
    edges: dict[int, str] | None = None  # target system id → criticality

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "slug": self.slug, "action": self.action, "changes": self.changes}


@dataclass
class CsvPlan:
    rows: list[RowPlan] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "unchanged": 0}
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def summary(self, *, dry_run: bool) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "created": self.counts["create"],
            "updated": self.counts["update"],
            "unchanged": self.counts["unchanged"],
            "rows": [row.as_dict() for row in self.rows],
        }


class CsvRejected(Exception):
    """The file has problems; nothing was written. `forbidden`: some are permission problems."""

    def __init__(self, problems: list[CsvProblem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the CSV file.")
        self.problems = problems
        self.forbidden = any(p.forbidden for p in problems)


# --- reading ------------------------------------------------------------------------------------


def csv_text_from_bytes(data: bytes) -> str:
    """Decode an uploaded file: UTF-8, with or without a BOM. Refuses what is too big or not text."""
    if len(data) > MAX_BYTES:
        raise CsvRejected(
            [CsvProblem(None, "", "", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")]
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvRejected(
            [CsvProblem(None, "", "", f"The file is not UTF-8 text (byte {exc.start}).")]
        ) from None


def _unguard(value: str) -> str:
    """Undo the export's formula guard: one leading quote before a formula character."""
    if value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'")):
        return value[1:]
    return value


def _guard(value: str) -> str:
    if value.startswith(FORMULA_STARTS) or (
        value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'"))
    ):
        return "'" + value
    return value


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(SEPARATOR) if item.strip()]


def _read(text: str, problems: list[CsvProblem]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the non-blank rows as (spreadsheet row, {column: cell})."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "replace")) > MAX_BYTES:
        problems.append(
            CsvProblem(None, "", "", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        )
        return [], []
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    rows: list[tuple[int, dict]] = []
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if number == 1:
                header = [name.replace("\x00", "").strip().lower() for name in record]
                continue
            if number > MAX_ROWS + 1:
                problems.append(
                    CsvProblem(None, "", "", f"The file has more than {MAX_ROWS:,} rows.")
                )
                return header, []
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(header):
                problems.append(
                    CsvProblem(
                        number,
                        "",
                        "",
                        f"The row has {len(record)} cells but the header names "
                        f"{len(header)} columns.",
                    )
                )
                continue
            cells = {n: _unguard(v) for n, v in zip(header, record, strict=False)}
            # PostgreSQL refuses NUL in text; nobody means one in a spreadsheet cell.
            nul = [name for name, value in cells.items() if "\x00" in value]
            for name in nul:
                problems.append(
                    CsvProblem(
                        number, name, cells[name].replace("\x00", "")[:200], "A NUL character."
                    )
                )
            if not nul:
                rows.append((number, cells))
    except csv.Error as exc:
        problems.append(
            CsvProblem(
                number + 1,
                "",
                "",
                f"The CSV is malformed here ({exc}); a quote may be left open.",
            )
        )
        return header, []
    if not header or not any(header):
        problems.append(
            CsvProblem(None, "", "", "The file is empty: the first row must name the columns.")
        )
        return [], []
    seen: set[str] = set()
    for name in header:
        if name not in COLUMNS:
            problems.append(
                CsvProblem(1, name, name, f"Unknown column; the columns are: {', '.join(COLUMNS)}.")
            )
        elif name in seen:
            problems.append(CsvProblem(1, name, name, "This column appears twice."))
        seen.add(name)
    for name in REQUIRED:
        if name not in header:
            problems.append(CsvProblem(1, name, "", "This required column is missing."))
    if not rows and not problems:
        problems.append(CsvProblem(None, "", "", "The file has a header but no rows."))
    return header, rows


# --- planning -----------------------------------------------------------------------------------


class _Lookups:
    """Everything the rows name, loaded in a fixed number of queries."""

    def __init__(self, rows: list[tuple[int, dict]], *, lock: bool) -> None:
        slugs = {cells.get("slug", "").strip() for _n, cells in rows}
        names = {cells.get("name", "").strip() for _n, cells in rows}
        people_tokens = {
            token
            for _n, cells in rows
            for column in ROLE_COLUMNS
            for token in _split(cells.get(column) or "")
        }
        system_slugs = {
            _edge_token(token)[0]
            for _n, cells in rows
            for token in _split(cells.get("depends_on") or "")
        }
        team_slugs = {(cells.get("team") or "").strip() for _n, cells in rows}

        projects = Project.objects.filter(slug__in=slugs).prefetch_related(
            "aliases",
            "urls",
            Prefetch(
                "roles",
                queryset=ProjectRole.objects.select_related("person").order_by("order", "id"),
            ),
            Prefetch(
                "dependencies",
                queryset=Dependency.objects.select_related("target_system").order_by("id"),
            ),
        )
        if lock:
            projects = projects.select_for_update(of=("self",))
        self.projects: dict[str, Project] = {p.slug: p for p in projects}
        self.names: dict[str, str] = dict(
            Project.objects.filter(name__in=names).values_list("name", "slug")
        )
        self.teams: dict[str, Team] = {
            t.slug: t for t in Team.objects.filter(slug__in=team_slugs - {""})
        }
        self.systems: dict[str, int] = dict(
            ITSystem.objects.filter(slug__in=system_slugs).values_list("slug", "pk")
        )
        emails = {t.lower() for t in people_tokens if "@" in t}
        username_field = f"user__{get_user_model().USERNAME_FIELD}"
        # Any token may be a username (some look like emails): a username match wins.
        self.by_username: dict[str, int] = dict(
            Person.objects.filter(**{f"{username_field}__in": people_tokens}).values_list(
                username_field, "pk"
            )
        )
        self.by_email: dict[str, list[int]] = {}
        for email, pk in (
            Person.objects.annotate(lower_email=Lower("email"))
            .filter(lower_email__in=emails)
            .values_list("lower_email", "pk")
        ):
            self.by_email.setdefault(email, []).append(pk)


def _edge_token(token: str) -> tuple[str, str]:
    """`slug`, `slug:hard` or `slug:soft` → (slug, criticality as written, lower-cased)."""
    if ":" in token:
        slug, _sep, criticality = token.rpartition(":")
        return slug.strip(), criticality.strip().lower()
    return token, Dependency.Criticality.HARD


def registry_csv_plan(text: str, *, actor: Actor = None, lock: bool = False) -> CsvPlan:
    """Check every row and say what each would do; writes nothing.

    ``actor=None`` checks no permission (Steward itself). ``lock`` holds the rows of the existing
    projects the file names (FOR UPDATE) for the rest of the caller's transaction.
    """
    plan = CsvPlan()
    header, rows = _read(text, plan.problems)
    # Unknown or repeated columns are reported and the rows still checked; without a required
    # column (or any row to read) there is nothing more to say.
    if not rows or any(name not in header for name in REQUIRED):
        return plan
    columns = set(header)
    lookups = _Lookups(rows, lock=lock)
    restricted = actor is not None and not permissions.is_it_staff(actor)
    actor_person_id = getattr(getattr(actor, "person", None), "pk", None) if restricted else None
    seen_slugs: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for number, raw in rows:
        cells = {name: value for name, value in raw.items() if name in COLUMNS}
        row = _plan_row(
            number,
            cells,
            columns,
            lookups,
            plan.problems,
            seen_slugs=seen_slugs,
            seen_names=seen_names,
            actor_person_id=actor_person_id,
            restricted=restricted,
        )
        if row is not None:
            plan.rows.append(row)
    if plan.problems:
        plan.rows = []
    return plan


def _plan_row(
    number: int,
    cells: dict[str, str],
    columns: set[str],
    lookups: _Lookups,
    problems: list[CsvProblem],
    *,
    seen_slugs: dict[str, int],
    seen_names: dict[str, int],
    actor_person_id: int | None,
    restricted: bool,
) -> RowPlan | None:
    start = len(problems)

    def problem(column: str, value: str, reason: str, *, forbidden: bool = False) -> None:
        problems.append(CsvProblem(number, column, value[:200], reason, forbidden))

    slug = cells.get("slug", "").strip()
    existing = lookups.projects.get(slug)
    if slug in seen_slugs:
        problem("slug", slug, f"This slug is already used on row {seen_slugs[slug]}.")
    elif slug:
        seen_slugs[slug] = number

    # The project's own fields, checked by the model's validators (no database round trips).
    fields: dict[str, Any] = {"slug": slug}
    for name in TEXT_FIELDS:
        if name in columns:
            value = cells.get(name, "")
            fields[name] = value if name == "description" else value.strip()
    if "support_tier" in fields and not fields["support_tier"]:
        fields["support_tier"] = Project.Tier.SIDE_PROJECT
    candidate = Project(**{k: v for k, v in fields.items()})
    if existing is not None:
        for name in ("name", "description", "support_tier", "help_channel", "runbook_url"):
            if name not in fields:
                setattr(candidate, name, getattr(existing, name))
    try:
        candidate.clean_fields(exclude=["team", "last_reviewed_on"])
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            problem(name, str(fields.get(name, "")), " ".join(messages))
    try:
        _clean_runbook_url(fields)
    except ValidationError as exc:
        if not any(p.column == "runbook_url" for p in problems[start:]):
            problem("runbook_url", fields["runbook_url"], " ".join(exc.messages))
    if existing is None and "support_tier" not in fields:
        fields["support_tier"] = Project.Tier.SIDE_PROJECT

    name = fields.get("name", "")
    if name:
        if name in seen_names:
            problem("name", name, f"This name is already used on row {seen_names[name]}.")
        else:
            seen_names[name] = number
        holder = lookups.names.get(name)
        if holder is not None and holder != slug:
            problem("name", name, f"Another project ({holder}) already has this name.")

    if "team" in columns:
        team_slug = cells.get("team", "").strip()
        team = lookups.teams.get(team_slug) if team_slug else None
        if team_slug and team is None:
            problem("team", team_slug, "No team has this slug.")
        fields["team"] = team

    aliases = urls = None
    if "aliases" in columns:
        aliases = _checked_list("aliases", cells.get("aliases", ""), _clean_aliases, problem)
    if "urls" in columns:
        urls = _checked_list("urls", cells.get("urls", ""), _clean_urls, problem)

    roles = _plan_roles(cells, columns, lookups, problem, existing)
    edges = _plan_edges(cells, lookups, problem) if "depends_on" in columns else None

    if restricted:
        if actor_person_id is None:
            problem("slug", slug, "Only people registered in Steward can import.", forbidden=True)
        elif existing is not None:
            if not any(
                r.person_id == actor_person_id and r.role in permissions.EDITING_ROLES
                for r in existing.roles.all()
            ):
                problem(
                    "slug",
                    slug,
                    "You may not change this project: only its owners, maintainers and IT staff can.",
                    forbidden=True,
                )
        elif roles is not None and (actor_person_id, ProjectRole.Role.OWNER) not in roles:
            problem(
                "owners",
                cells.get("owners", ""),
                "A new project you import must list you among its owners.",
                forbidden=True,
            )

    if len(problems) > start:
        return None
    return _row_plan(number, slug, existing, fields, aliases, urls, roles, edges)


def _checked_list(column: str, value: str, clean, problem) -> list[str]:
    items = _split(value)
    ok = True
    for item in items:
        try:
            clean([item])
        except ValidationError as exc:
            ok = False
            problem(column, item, " ".join(exc.messages))
    return clean(items) if ok else []


def _plan_roles(
    cells: dict[str, str], columns: set[str], lookups: _Lookups, problem, existing: Project | None
) -> list[tuple[int, str]] | None:
    """(person id, role) in order: owners, then maintainers, then backups. A role column left out
    of the file keeps that role's people as they are."""
    roles: list[tuple[int, str]] = []
    seen: dict[int, str] = {}
    for column, role in ROLE_COLUMNS.items():
        if column not in columns:
            for kept in existing.roles.all() if existing is not None else ():
                if kept.role == role and kept.person_id not in seen:
                    seen[kept.person_id] = f"{column} (kept: the file has no {column} column)"
                    roles.append((kept.person_id, role))
            continue
        for token in _split(cells.get(column, "")):
            person_id = lookups.by_username.get(token)
            if person_id is None and "@" in token:
                matches = lookups.by_email.get(token.lower(), [])
                if len(matches) > 1:
                    problem(column, token, "Several people have this email; use a username.")
                    continue
                person_id = matches[0] if matches else None
            if person_id is None:
                problem(
                    column,
                    token,
                    "No person has this username or email (an import does not create people).",
                )
                continue
            if person_id in seen:
                problem(column, token, f"This person is already listed in {seen[person_id]}.")
                continue
            seen[person_id] = column
            roles.append((person_id, role))
    if "owners" in columns and not _split(cells.get("owners", "")):
        problem("owners", "", "A project needs at least one owner.")
    return roles


def _plan_edges(cells: dict[str, str], lookups: _Lookups, problem) -> dict[int, str]:
    edges: dict[int, str] = {}
    for token in _split(cells.get("depends_on", "")):
        slug, criticality = _edge_token(token)
        if criticality not in Dependency.Criticality.values:
            problem("depends_on", token, "Add :hard or :soft after the slug, or nothing (hard).")
            continue
        target = lookups.systems.get(slug)
        if target is None:
            problem("depends_on", token, "No IT system has this slug.")
            continue
        if target in edges:
            problem("depends_on", token, "This IT system is listed twice.")
            continue
        edges[target] = criticality
    return edges


def _row_plan(
    number: int,
    slug: str,
    existing: Project | None,
    fields: dict[str, Any],
    aliases: list[str] | None,
    urls: list[str] | None,
    roles: list[tuple[int, str]] | None,
    edges: dict[int, str] | None,
) -> RowPlan:
    if existing is None:
        changes = [name for name in ("slug", *TEXT_FIELDS, "team") if fields.get(name)]
        changes += [
            name
            for name, value in (("aliases", aliases), ("urls", urls), ("depends_on", edges))
            if value
        ]
        changes += [
            column for column, role in ROLE_COLUMNS.items() if any(r == role for _p, r in roles)
        ]
        return RowPlan(number, slug, "create", changes, None, fields, aliases, urls, roles, edges)

    changed_fields = {
        name: value
        for name, value in fields.items()
        if (existing.team_id if name == "team" else getattr(existing, name))
        != (value.pk if name == "team" and value is not None else value)
    }
    changes = list(changed_fields)
    if aliases is not None and sorted(aliases) != sorted(a.alias for a in existing.aliases.all()):
        changes.append("aliases")
    else:
        aliases = None
    if urls is not None and sorted(urls) != sorted(u.url for u in existing.urls.all()):
        changes.append("urls")
    else:
        urls = None
    current_roles = [(r.person_id, r.role) for r in existing.roles.all()]
    if roles is not None and _by_role(roles) != _by_role(current_roles):
        changes += [
            column
            for column, role in ROLE_COLUMNS.items()
            if _by_role(roles).get(role) != _by_role(current_roles).get(role)
        ]
    else:
        roles = None
    current_edges = {d.target_system_id: d.criticality for d in existing.dependencies.all()}
    if edges is not None and edges != current_edges:
        changes.append("depends_on")
    else:
        edges = None
    return RowPlan(
        number,
        slug,
        "update" if changes else "unchanged",
        changes,
        existing,
        changed_fields,
        aliases,
        urls,
        roles,
        edges,
    )


def _by_role(roles: Iterable[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for person_id, role in roles:
        grouped.setdefault(role, []).append(person_id)
    return grouped


# --- importing ----------------------------------------------------------------------------------


def registry_csv_import(*, actor: Actor, text: str, dry_run: bool = False) -> dict[str, Any]:
    """Import the file, all rows or none. Raises ``CsvRejected`` listing every problem (nothing is
    written) and ``PermissionDenied`` for someone who may not import at all. Returns the summary:
    created/updated/unchanged counts and each row's action and changed columns."""
    if actor is not None and not (
        permissions.is_it_staff(actor) or permissions.can_create_project(actor)
    ):
        raise PermissionDenied("Only people registered in Steward can import projects.")
    with transaction.atomic():
        plan = registry_csv_plan(text, actor=actor, lock=not dry_run)
        if plan.problems:
            raise CsvRejected(plan.problems)
        if not dry_run:
            _write(actor, plan)
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
        _create_rows(actor, [row for row in plan.rows if row.action == "create"], names, systems)
        for row in plan.rows:
            if row.action == "update":
                _update_row(actor, row, names, systems)
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
) -> None:
    """Insert every new project, with its lists, edges and audit entries: a few INSERTs in all,
    whatever the number of rows (one project at a time, a 20,000-row file outlives a request)."""
    if not rows:
        return
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
        entries.append(_creation_entry(actor, project, snapshot))
    ProjectAlias.objects.bulk_create(aliases)
    ProjectURL.objects.bulk_create(urls)
    ProjectRole.objects.bulk_create(roles)
    Dependency.objects.bulk_create(edges)
    entries += [_creation_entry(actor, edge, audit_snapshot(edge)) for edge in edges]
    AuditEntry.objects.bulk_create(entries)


def _creation_entry(actor: Actor, instance: Any, after: dict[str, Any]) -> AuditEntry:
    """The entry `audit_record(action=CREATE)` writes, unsaved, so that thousands go in one INSERT."""
    return AuditEntry(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=AuditEntry.Action.CREATE,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes={key: [None, after[key]] for key in sorted(after) if after[key] is not None},
    )


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


# --- exporting ----------------------------------------------------------------------------------


def registry_csv_export() -> str:
    """Every project in the import format, ordered by slug, in a fixed number of queries."""
    projects = (
        Project.objects.select_related("team")
        .prefetch_related(
            "aliases",
            "urls",
            Prefetch(
                "roles",
                queryset=ProjectRole.objects.select_related("person__user").order_by("order", "id"),
            ),
            Prefetch(
                "dependencies",
                queryset=Dependency.objects.select_related("target_system").order_by(
                    "target_system__slug"
                ),
            ),
        )
        .order_by("slug")
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for project in projects:
        roles = _by_role((r.person.user.get_username(), r.role) for r in project.roles.all())
        row = {
            "slug": project.slug,
            "name": project.name,
            "description": project.description,
            "support_tier": project.support_tier,
            "team": project.team.slug if project.team else "",
            "help_channel": project.help_channel,
            "runbook_url": project.runbook_url,
            "owners": SEPARATOR.join(roles.get(ProjectRole.Role.OWNER, [])),
            "maintainers": SEPARATOR.join(roles.get(ProjectRole.Role.MAINTAINER, [])),
            "backups": SEPARATOR.join(roles.get(ProjectRole.Role.BACKUP, [])),
            "aliases": SEPARATOR.join(sorted(a.alias for a in project.aliases.all())),
            "urls": SEPARATOR.join(sorted(u.url for u in project.urls.all())),
            "depends_on": SEPARATOR.join(
                d.target_system.slug
                + (":soft" if d.criticality == Dependency.Criticality.SOFT else "")
                for d in project.dependencies.all()
            ),
        }
        writer.writerow([_guard(row[column]) for column in COLUMNS])
    return out.getvalue()
