"""A synthetic registry at production scale, loaded into PostgreSQL with COPY in a few seconds.

At ``scale=1.0``: 10,000 projects, 2,000 IT systems in layers (5 datacenters → 40 network and
storage → 200 platform, database, SSO → 455 shared services → 1,300 application services), 60,000
dependency edges (each system on 1–6 systems of the layers below, ~7,500 edges, with popular hubs;
each project on 3–8 systems, mostly of the upper layers), 3/4 hard and 1/4 soft; 3,000 people with
an email contact method each, 1–3 of them on every project, a contact on every system.

Everything comes from one seeded ``random.Random``, and ids are assigned here (the tables are
truncated with RESTART IDENTITY first), so the same ``(scale, seed)`` gives the same rows and the
same ids: ``plan()`` alone says which system is a root or a leaf, without a query.

The dependency closure (``registry.reach``) is rebuilt after the load, as for any bulk write.

``build()`` REPLACES every registry table (and, by cascade, whatever references them); run it
only against a benchmark database (see ``bench.django_setup``).

    python -m bench.synthetic [--scale 1.0] [--seed 42] [--webhook-url URL]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate

# (name, kind(s), count at scale 1.0, how many systems of lower layers each depends on)
LAYERS: list[tuple[str, tuple[str, ...], int, tuple[int, int]]] = [
    ("Datacenter", ("datacenter",), 5, (0, 0)),
    ("Network", ("network", "storage"), 40, (1, 2)),
    ("Platform", ("database", "server", "sso", "directory", "mail"), 200, (1, 4)),
    ("Shared service", ("server", "other"), 455, (2, 6)),
    ("App service", ("other",), 1300, (2, 6)),
]
PROJECTS = 10_000
PEOPLE = 3_000
EDGES = 60_000
PROJECT_EDGES_PER_PROJECT = (3, 8)
# Where a project's dependencies land, by layer (upper layers mostly).
PROJECT_LAYER_WEIGHTS = [0, 2, 13, 25, 60]
HARD_SHARE = 0.75
IT_TEAMS = 10
BUSINESS_TEAMS = 40
TIME_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Projects' declared busy hours, in turn (none; mornings; the working day; afternoons and Saturday).
BUSY_HOURS = [
    {},
    {d: [["09:00", "12:00"]] for d in _WEEKDAYS},
    {d: [["08:00", "18:00"]] for d in _WEEKDAYS},
    {**{d: [["13:00", "17:00"]] for d in _WEEKDAYS}, "sat": [["10:00", "14:00"]]},
]
TIERS = ["it_supported", "side_project", "side_project", "side_project", "experimental", "retired"]


@dataclass
class SyntheticRegistry:
    """Handy ids of a built registry, for the benchmarks that use it."""

    scale: float
    seed: int
    layer_system_ids: list[list[int]]
    project_ids: range
    person_ids: range
    system_edge_count: int
    project_edge_count: int
    # A top-layer system nothing else depends on, with a median number of dependent projects.
    leaf_system_id: int
    build_seconds: float | None = None

    @property
    def root_system_ids(self) -> list[int]:
        """The datacenters: every other system depends on at least one of them, transitively."""
        return self.layer_system_ids[0]

    @property
    def system_count(self) -> int:
        return sum(len(ids) for ids in self.layer_system_ids)

    @property
    def edge_count(self) -> int:
        return self.system_edge_count + self.project_edge_count


@dataclass
class _Plan:
    registry: SyntheticRegistry
    tables: dict[str, tuple[list[str], list[tuple]]] = field(default_factory=dict)
    # Checked by ensure() to recognise a database already holding this plan.
    fingerprint: tuple[int, int, int, int] = (0, 0, 0, 0)


def _scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


class _Picker:
    """Draws from a list with Zipf-like weights: a few hubs (the SSO, the main database) are
    depended on by many, most by few. Deterministic for a given rng."""

    def __init__(self, items: list[int], exponent: float = 0.8) -> None:
        self.items = items
        self.cumulative = list(accumulate(1 / (rank + 1) ** exponent for rank in range(len(items))))

    def draw(self, rng: random.Random) -> int:
        point = rng.random() * self.cumulative[-1]
        return self.items[min(bisect_right(self.cumulative, point), len(self.items) - 1)]


def _distinct(rng: random.Random, count: int, draw, limit: int) -> list[int]:
    chosen: dict[int, None] = {}
    count = min(count, limit)
    attempts = 0
    while len(chosen) < count and attempts < count * 50:
        chosen[draw()] = None
        attempts += 1
    return list(chosen)


def plan(scale: float = 1.0, seed: int = 42, *, webhook_url: str | None = None) -> _Plan:
    """Every row of the registry, with ids, computed in memory (no database access)."""
    rng = random.Random(seed)
    now = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    tables: dict[str, tuple[list[str], list[tuple]]] = {}

    # People: a user account, a person and an email contact method each.
    people = _scaled(PEOPLE, scale)
    users, persons, contacts = [], [], []
    contact_id = 0
    for pid in range(1, people + 1):
        username = f"bench-{pid:05d}"
        email = f"{username}@example.com"
        users.append((pid, "!", None, False, username, "", "", email, False, True, now))
        persons.append(
            (
                pid,
                pid,
                f"Person {pid:05d}",
                email,
                TIME_ZONES[pid % len(TIME_ZONES)],
                {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                now,
                now,
            )
        )
        contact_id += 1
        contacts.append((contact_id, pid, "email", email, "", True, True, 0))
        if webhook_url:
            contact_id += 1
            contacts.append((contact_id, pid, "webhook", webhook_url, "", True, True, 1))
    tables["auth_user"] = (
        [
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
        users,
    )
    tables["registry_person"] = (
        [
            "id",
            "user_id",
            "display_name",
            "email",
            "time_zone",
            "working_hours",
            "created_at",
            "updated_at",
        ],
        persons,
    )
    tables["registry_contactmethod"] = (
        ["id", "person_id", "kind", "address", "label", "for_pages", "for_notices", "order"],
        contacts,
    )

    teams = []
    for tid in range(1, IT_TEAMS + BUSINESS_TEAMS + 1):
        is_it = tid <= IT_TEAMS
        name = f"IT team {tid:02d}" if is_it else f"Business team {tid - IT_TEAMS:02d}"
        teams.append((tid, name, name.lower().replace(" ", "-"), "", is_it))
    tables["registry_team"] = (["id", "name", "slug", "description", "is_it"], teams)

    # IT systems in layers; each depends on systems of the layers below (mostly the one below).
    layer_ids: list[list[int]] = []
    systems, system_contacts = [], []
    next_id = 1
    for layer, (label, kinds, count, _) in enumerate(LAYERS):
        ids = list(range(next_id, next_id + _scaled(count, scale)))
        next_id += len(ids)
        layer_ids.append(ids)
        for index, sid in enumerate(ids):
            name = f"{label} {index + 1:04d}"
            team_id = 1 + (layer * 2 + index) % IT_TEAMS
            systems.append(
                (
                    sid,
                    name,
                    name.lower().replace(" ", "-"),
                    kinds[index % len(kinds)],
                    "",
                    team_id,
                    f"{rng.getrandbits(128):032x}",
                    now,
                    now,
                )
            )
            system_contacts.append((sid, sid, 1 + (sid * 7) % min(people, 200)))
    tables["registry_itsystem"] = (
        [
            "id",
            "name",
            "slug",
            "kind",
            "description",
            "team_id",
            "integration_key",
            "created_at",
            "updated_at",
        ],
        systems,
    )
    tables["registry_itsystem_contacts"] = (["id", "itsystem_id", "person_id"], system_contacts)

    pickers = [_Picker(ids) for ids in layer_ids]
    dependencies: list[tuple] = []
    has_system_dependents: set[int] = set()
    for layer in range(1, len(LAYERS)):
        low, high = LAYERS[layer][3]
        below = sum(len(ids) for ids in layer_ids[:layer])

        def draw(layer: int = layer) -> int:
            source_layer = layer - 1 if rng.random() < 0.7 else rng.randrange(layer)
            return pickers[source_layer].draw(rng)

        for sid in layer_ids[layer]:
            for target in _distinct(rng, rng.randint(low, high), draw, below):
                hard = rng.random() < HARD_SHARE
                dependencies.append((None, sid, target, "hard" if hard else "soft"))
                has_system_dependents.add(target)
    system_edges = len(dependencies)

    # Projects: 3–8 dependencies each, totalling EDGES edges with the system ones.
    project_count = _scaled(PROJECTS, scale)
    low, high = PROJECT_EDGES_PER_PROJECT
    wanted = min(
        max(_scaled(EDGES, scale) - system_edges, low * project_count), high * project_count
    )
    per_project = [low] * project_count
    remaining = wanted - low * project_count
    while remaining:
        index = rng.randrange(project_count)
        if per_project[index] < high:
            per_project[index] += 1
            remaining -= 1
    layer_weights = list(accumulate(PROJECT_LAYER_WEIGHTS))
    projects, urls, roles = [], [], []
    person_picker = _Picker(list(range(1, people + 1)), exponent=0.5)
    project_dependents: Counter[int] = Counter()

    def draw_for_project() -> int:
        layer = bisect_right(layer_weights, rng.random() * layer_weights[-1])
        return pickers[min(layer, len(layer_ids) - 1)].draw(rng)

    role_id = 0
    for pid in range(1, project_count + 1):
        name = f"Project {pid:05d}"
        slug = f"project-{pid:05d}"
        team_id = IT_TEAMS + 1 + pid % BUSINESS_TEAMS if pid % 2 else None
        projects.append(
            (
                pid,
                name,
                slug,
                "",
                TIERS[pid % len(TIERS)],
                f"#{slug}",
                "",
                None,
                team_id,
                f"{pid:032x}",  # not from rng: the graph drawn after it stays the same
                TIME_ZONES[pid * 7 % len(TIME_ZONES)],
                BUSY_HOURS[pid % len(BUSY_HOURS)],
                now,
                now,
            )
        )
        urls.append((pid, pid, f"https://{slug}.intra.example.com/", f"{slug}.intra.example.com"))
        for target in _distinct(rng, per_project[pid - 1], draw_for_project, next_id - 1):
            hard = rng.random() < HARD_SHARE
            dependencies.append((pid, None, target, "hard" if hard else "soft"))
            project_dependents[target] += 1
        owners = _distinct(rng, rng.randint(1, 3), lambda: person_picker.draw(rng), people)
        for order, person_id in enumerate(owners):
            role_id += 1
            role = "owner" if order == 0 else rng.choice(["owner", "maintainer", "backup"])
            roles.append((role_id, pid, person_id, role, order))
    tables["registry_project"] = (
        [
            "id",
            "name",
            "slug",
            "description",
            "support_tier",
            "help_channel",
            "runbook_url",
            "last_reviewed_on",
            "team_id",
            "integration_key",
            "time_zone",
            "busy_hours",
            "created_at",
            "updated_at",
        ],
        projects,
    )
    tables["registry_projecturl"] = (["id", "project_id", "url", "host"], urls)
    tables["registry_projectrole"] = (["id", "project_id", "person_id", "role", "order"], roles)
    tables["registry_dependency"] = (
        [
            "id",
            "source_project_id",
            "source_system_id",
            "target_system_id",
            "criticality",
            "note",
            "created_at",
        ],
        [(i, *edge, "", now) for i, edge in enumerate(dependencies, start=1)],
    )

    leaves = sorted(
        (project_dependents[sid], sid)
        for sid in layer_ids[-1]
        if sid not in has_system_dependents and project_dependents[sid]
    )
    leaf = (leaves[len(leaves) // 2] if leaves else (0, layer_ids[-1][-1]))[1]
    registry = SyntheticRegistry(
        scale=scale,
        seed=seed,
        layer_system_ids=layer_ids,
        project_ids=range(1, project_count + 1),
        person_ids=range(1, people + 1),
        system_edge_count=system_edges,
        project_edge_count=len(dependencies) - system_edges,
        leaf_system_id=leaf,
    )
    fingerprint = (
        project_count,
        next_id - 1,
        len(dependencies),
        sum(edge[2] for edge in dependencies),
    )
    return _Plan(registry=registry, tables=tables, fingerprint=fingerprint)


def _copy_value(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for values in rows:
        buffer.write("\t".join(_copy_value(v) for v in values))
        buffer.write("\n")
    buffer.seek(0)
    quoted = ", ".join(f'"{column}"' for column in columns)
    cursor.copy_expert(f'COPY "{table}" ({quoted}) FROM STDIN', buffer)


# The tables whose `name` is stored beside its skeleton (registry.names.SkeletonField): COPY
# skips the field's pre_save, so the skeleton is computed here.
_SKELETONS = {"registry_team", "registry_itsystem", "registry_project"}


def _with_skeletons(columns: list[str], rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    from registry.names import name_skeleton

    at = columns.index("name")
    return [*columns, "name_skeleton"], [(*r, name_skeleton(r[at])) for r in rows]


def _fingerprint_in_database() -> tuple[int, int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM registry_project),
                   (SELECT count(*) FROM registry_itsystem),
                   count(*), coalesce(sum(target_system_id), 0)
            FROM registry_dependency
            """
        )
        return tuple(int(v) for v in cursor.fetchone())


def build(
    scale: float = 1.0, seed: int = 42, *, webhook_url: str | None = None
) -> SyntheticRegistry:
    """Replace the registry tables with the synthetic registry; return its handy ids.

    Truncates the registry tables and ``auth_user`` with RESTART IDENTITY CASCADE (so the
    incidents and notifications that reference them go too), loads every table with COPY in one
    transaction, moves the id sequences past the loaded ids and ANALYZEs, so the planner sees
    the real sizes at once.
    """
    from django.db import connection, transaction

    from registry.reach import reach_rebuild

    started = time.perf_counter()
    planned = plan(scale, seed, webhook_url=webhook_url)
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg2 cursor, for COPY
        names = ", ".join(f'"{table}"' for table in planned.tables)
        cursor.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        for table, (columns, rows) in planned.tables.items():
            if table in _SKELETONS:
                columns, rows = _with_skeletons(columns, rows)
            _copy(cursor, table, columns, rows)
        for table in planned.tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'coalesce((SELECT max(id) FROM "{table}"), 0) + 1, false)'
            )
        # COPY wrote the edges behind the services' back: the closure impact reads follows.
        cursor.execute("ANALYZE registry_dependency")
        reach_rebuild()
    with connection.cursor() as cursor:
        for table in [*planned.tables, "registry_systemreach", "registry_projectreach"]:
            cursor.execute(f'ANALYZE "{table}"')
    # The rotations went with the truncated tables, behind the services' back.
    from oncall.cache import oncall_rules_changed

    oncall_rules_changed()
    planned.registry.build_seconds = time.perf_counter() - started
    return planned.registry


def ensure(
    scale: float = 1.0, seed: int = 42, *, webhook_url: str | None = None
) -> SyntheticRegistry:
    """The registry for ``(scale, seed)``: reused when the database already holds it, else built.

    Lets several benchmarks of one run share a single build. The check is a fingerprint (counts
    and a sum over the edges), enough to tell one synthetic registry from another or from
    hand-made data; it does not notice contact methods, so pass the same ``webhook_url`` each time.
    """
    planned = plan(scale, seed, webhook_url=webhook_url)
    if _fingerprint_in_database() == planned.fingerprint:
        return planned.registry
    return build(scale, seed, webhook_url=webhook_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--webhook-url", help="also give every person a webhook contact method")
    args = parser.parse_args(argv)

    from bench import django_setup

    url = django_setup()
    registry = build(args.scale, args.seed, webhook_url=args.webhook_url)
    print(
        f"{url.rsplit('/', 1)[-1]}: {len(registry.project_ids)} projects, "
        f"{registry.system_count} IT systems, {registry.edge_count} dependencies "
        f"({registry.system_edge_count} between systems), {len(registry.person_ids)} people "
        f"in {registry.build_seconds:.1f} s; roots {registry.root_system_ids}, "
        f"leaf {registry.leaf_system_id}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
