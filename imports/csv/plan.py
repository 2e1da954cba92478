"""Planning a CSV import: every row checked (values, references, the actor's right to each
project) and compared with the project it names, every problem listed, nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.db.models.functions import Lower

from imports.engine import Actor, Plan
from registry import permissions
from registry.models import Dependency, ITSystem, Person, Project, ProjectRole, Team
from registry.services import clean_aliases, clean_runbook_url, clean_urls

from .format import (
    COLUMNS,
    REQUIRED,
    ROLE_COLUMNS,
    TEXT_FIELDS,
    CsvProblem,
    by_role,
    edge_token,
    read_rows,
    split_list,
)


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
class CsvPlan(Plan):
    """Each row's plan, in the file's order; none when there is any problem."""

    rows: list[RowPlan] = field(default_factory=list)

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
            for token in split_list(cells.get(column) or "")
        }
        system_slugs = {
            edge_token(token)[0]
            for _n, cells in rows
            for token in split_list(cells.get("depends_on") or "")
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


def registry_csv_plan(text: str, *, actor: Actor = None, lock: bool = False) -> CsvPlan:
    """Check every row and say what each would do; writes nothing.

    ``actor=None`` checks no permission (Steward itself). ``lock`` holds the rows of the existing
    projects the file names (FOR UPDATE) for the rest of the caller's transaction.
    """
    plan = CsvPlan()
    header, rows = read_rows(text, plan.problems)
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
    if "name" in fields:
        fields["name"] = candidate.name  # as the model keeps it: NFC (registry/names.py)
    try:
        clean_runbook_url(fields)
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
        aliases = _checked_list("aliases", cells.get("aliases", ""), clean_aliases, problem)
    if "urls" in columns:
        urls = _checked_list("urls", cells.get("urls", ""), clean_urls, problem)

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
    items = split_list(value)
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
        for token in split_list(cells.get(column, "")):
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
    if "owners" in columns and not split_list(cells.get("owners", "")):
        problem("owners", "", "A project needs at least one owner.")
    return roles


def _plan_edges(cells: dict[str, str], lookups: _Lookups, problem) -> dict[int, str]:
    edges: dict[int, str] = {}
    for token in split_list(cells.get("depends_on", "")):
        slug, criticality = edge_token(token)
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
    if roles is not None and by_role(roles) != by_role(current_roles):
        changes += [
            column
            for column, role in ROLE_COLUMNS.items()
            if by_role(roles).get(role) != by_role(current_roles).get(role)
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
