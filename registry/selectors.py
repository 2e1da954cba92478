"""Reads of the registry: people's working hours, search, impact over the dependency graph."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple
from urllib.parse import urlsplit

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Func,
    Prefetch,
    QuerySet,
    Value,
    When,
)

from steward import prepared
from steward.memory import cycle_collection_paused

from .models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    ProjectURL,
    SystemReach,
    Team,
    url_host,
)
from .names import name_skeleton
from .validators import WEEKDAYS

# --- people and working hours -------------------------------------------------------------


def person_local_time(person: Person, at: datetime) -> datetime:
    return at.astimezone(zoneinfo.ZoneInfo(person.time_zone))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def is_within_working_hours(person: Person, at: datetime) -> bool:
    local = person_local_time(person, at)
    minute_of_day = local.hour * 60 + local.minute
    for start, end in person.working_hours.get(WEEKDAYS[local.weekday()], []):
        if _minutes(start) <= minute_of_day < _minutes(end):
            return True
    return False


def next_working_start(person: Person, after: datetime) -> datetime | None:
    """The first moment at or after `after` that is inside the person's working hours.

    ``None`` when the person has no working hours at all. Computed in local wall time, so a
    daylight-saving change between now and then is respected.
    """
    if is_within_working_hours(person, after):
        return after
    tz = zoneinfo.ZoneInfo(person.time_zone)
    local = after.astimezone(tz)
    for day_offset in range(8):
        day = (local + timedelta(days=day_offset)).date()
        for start, _end in sorted(person.working_hours.get(WEEKDAYS[day.weekday()], [])):
            minutes = _minutes(start)
            candidate = datetime(
                day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=tz
            )
            if candidate > after:
                return candidate.astimezone(zoneinfo.ZoneInfo("UTC"))
    return None


# --- directory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Supporter:
    person: Person
    role: str
    order: int
    local_time: datetime
    in_working_hours: bool
    # For on-call entries: the rotation, and the shift (start: when they take over; end: when
    # someone else does, if that is within the look-ahead).
    rotation: str = ""
    shift_start: datetime | None = None
    shift_end: datetime | None = None
    # For "who to contact now" entries: why they are listed (see `oncall.selectors`).
    reason: str = ""


def supporter_for(person: Person, *, role: str, order: int, at: datetime) -> Supporter:
    return Supporter(
        person=person,
        role=role,
        order=order,
        local_time=person_local_time(person, at),
        in_working_hours=is_within_working_hours(person, at),
    )


def looks_like_url(query: str) -> bool:
    """A pasted address (`https://…`, `host.example.com/path`) rather than a name."""
    return " " not in query and ("://" in query or ("." in query and "/" in query))


class SearchRank:
    """How a project matched a search, best first: what `projects_matching` orders by."""

    EXACT = 0  # its slug, name or an alias is the query; or a pasted URL's host is the app's
    PREFIX = 1  # its name, slug or an alias starts with the query
    CONTAINS = 2  # the query is in its name, slug, an alias, a URL, its team or its description
    SIMILAR = 3  # a word of it is like the query (a typo: "peple" finds People; only when no
    # project is exactly the query and few contain it)


def projects_search(projects: QuerySet[Project], query: str) -> QuerySet[Project]:
    """`projects` that match a search, best first (`SearchRank`, then how alike, then by name),
    each annotated with its `search_rank`. Name, slug, alias, URL, team and description are
    searched through trigram indexes; a pasted URL finds the app by its host and path.
    The directory and the API rank alike: both take the order of `ranked_matches` (one
    statement); the queryset returned compares ids only."""
    query = query.strip()[:500]
    if not query:
        return projects
    ranked = ranked_matches(query)
    by_rank: dict[int, list[int]] = {}
    for pk, rank in ranked:
        if rank != SearchRank.SIMILAR:  # the Case's default
            by_rank.setdefault(rank, []).append(pk)
    ids = [pk for pk, _rank in ranked]
    return (
        projects.filter(pk__any=ids)
        .annotate(
            search_rank=Case(
                *(When(pk__any=pks, then=Value(rank)) for rank, pks in by_rank.items()),
                default=Value(SearchRank.SIMILAR),
            )
        )
        .order_by(Func(Value(ids, ArrayField(BigIntegerField())), "pk", function="array_position"))
    )


def _path_of(url: str) -> str:
    """A URL's path with one trailing slash, lower-cased: "/wiki/" for https://x/Wiki."""
    path = urlsplit(url if "://" in url else f"https://{url}").path.lower()
    return path.rstrip("/") + "/"


def _projects_serving(pasted: str, host: str) -> list[int]:
    """The projects whose URL on `host` is the longest prefix of the pasted URL's path: the app
    that page belongs to, when two apps share a host (/wiki and /wiki/admin)."""
    wanted = _path_of(pasted)
    best: dict[int, int] = {}
    for project_id, url in ProjectURL.objects.filter(host=host).values_list("project_id", "url"):
        path = _path_of(url)
        if wanted.startswith(path):
            best[project_id] = max(best.get(project_id, 0), len(path))
    longest = max(best.values(), default=0)
    return [project_id for project_id, length in best.items() if length == longest]


# Projects only alike to the query (a typo's matches) are looked for when it is in fewer than
# this many (a directory page): "Project 004" is in 100 projects' names and alike to every
# other "Project NNNNN"; ranking all of those by likeness cost most of a search.
ALIKE_BELOW = 20
# Of those, the most alike this many (by the best of name, slug and aliases): suggestions for a
# typo, not a listing. An exact name in a registry whose names share a word ("project-00412"
# among 10,000 "Project NNNNN") found every other project alike: 802 ms a directory page.
ALIKE_MOST = 40

# The query upper-cased by PostgreSQL (the function that wrote the `upper_` columns) with LIKE's
# wildcards and escape character escaped: a query is plain text. Written out with the query as
# a parameter, so the planner folds it to a constant and can plan the trigram index scans.
_ESCAPED = r"replace(replace(replace(upper(%(query)s), '\', '\\'), '%%', '\%%'), '_', '\_')"
_CONTAINING = f"'%%' || {_ESCAPED} || '%%'"
_STARTING = f"{_ESCAPED} || '%%'"

# Each part of `found` is a trigram index scan (the URL host's a btree) in a UNION: an OR across
# tables would read every project. `alike` (a word of the name, slug or an alias like the query:
# pg_trgm's word similarity above the database's `pg_trgm.word_similarity_threshold`, set by
# registry migration 0006) runs only when fewer than `ALIKE_BELOW` projects contain the query and
# none is exactly it (its slug, name or an alias, or the app of a pasted URL): suggestions for a
# typo, and a query that names an app is not one. Those are conditions PostgreSQL evaluates
# once, before scanning (the nearest-first scans below cost 3-4 ms of the server's time when
# every name shares a word with the query, as in the synthetic registry: most of a search for a
# name). It keeps the `ALIKE_MOST` most alike.
# Each column's candidates come nearest first from its GiST trigram index, `alike_each` of them
# (the most alike, and as many again as `found` may hold, which are left out): the `ALIKE_MOST`
# most alike of all are among them, where a project's aliases are fewer than that. Computing
# every alike row's likeness read the whole table when every name was alike to the query: 90 ms
# for "Project 01234" among 10,000 "Project NNNNN", against 3 ms.
# The order is the statement's own: `SearchRank`, then how alike the name or slug is, then the
# name. Both are worked out for each project found, by its primary key, in a LATERAL subquery
# that `OFFSET 0` keeps from being flattened into a join (as a join, PostgreSQL planned a read of
# every project: it cannot know how few were found). So a page of results is cut from the ids
# alone: neither a count nor a second ranking is asked of the projects table.
# `project` is exactly the query (`SearchRank.EXACT`): what ranks first, and what keeps the alike
# from being looked for. Every exact project also contains the query, so it is among `found`.
_IS_EXACT = """(
    project.upper_slug = upper(%(query)s) OR project.upper_name = upper(%(query)s)
    OR project.id = ANY(%(serving)s)
    OR EXISTS (SELECT 1 FROM registry_projectalias alias
               WHERE alias.project_id = project.id AND alias.upper_alias = upper(%(query)s)))"""
_RANKED_SQL = f"""
WITH found AS MATERIALIZED (
    SELECT id FROM registry_project
    WHERE upper_name LIKE {_CONTAINING} OR upper_slug LIKE {_CONTAINING}
       OR upper_description LIKE {_CONTAINING}
    UNION SELECT project_id FROM registry_projectalias WHERE upper_alias LIKE {_CONTAINING}
    UNION SELECT project_id FROM registry_projecturl WHERE upper_url LIKE {_CONTAINING}
    UNION SELECT teamed.id FROM registry_project teamed
          JOIN registry_team team ON team.id = teamed.team_id
          WHERE upper(team.name::text) LIKE {_CONTAINING}
    UNION SELECT project_id FROM registry_projecturl WHERE %(host)s <> '' AND host = %(host)s
),
matched AS (
    SELECT id, TRUE AS contained FROM found
    UNION ALL
    (SELECT alike.id, FALSE FROM (
        (SELECT id, word_similarity(%(query)s, upper_name) FROM registry_project
         WHERE upper_name %%> %(query)s
         ORDER BY upper_name <->> %(query)s LIMIT %(alike_each)s)
        UNION ALL
        (SELECT id, word_similarity(%(query)s, upper_slug) FROM registry_project
         WHERE upper_slug %%> %(query)s
         ORDER BY upper_slug <->> %(query)s LIMIT %(alike_each)s)
        UNION ALL
        (SELECT project_id, word_similarity(%(query)s, upper_alias) FROM registry_projectalias
         WHERE upper_alias %%> %(query)s
         ORDER BY upper_alias <->> %(query)s LIMIT %(alike_each)s)
    ) AS alike (id, likeness)
    WHERE (SELECT count(*) FROM found) < %(alike_below)s
      AND NOT EXISTS (SELECT 1 FROM found JOIN registry_project project ON project.id = found.id
                      WHERE {_IS_EXACT})
      AND NOT EXISTS (SELECT 1 FROM found WHERE found.id = alike.id)
    GROUP BY alike.id ORDER BY max(alike.likeness) DESC, alike.id LIMIT %(alike_most)s)
)
SELECT matched.id, ranked.rank
FROM matched CROSS JOIN LATERAL (
    SELECT CASE
        WHEN {_IS_EXACT} THEN {SearchRank.EXACT}
        WHEN project.upper_name LIKE {_STARTING} OR project.upper_slug LIKE {_STARTING}
          OR EXISTS (SELECT 1 FROM registry_projectalias alias
                     WHERE alias.project_id = project.id AND alias.upper_alias LIKE {_STARTING})
        THEN {SearchRank.PREFIX}
        WHEN matched.contained THEN {SearchRank.CONTAINS}
        ELSE {SearchRank.SIMILAR}
    END AS rank,
    greatest(word_similarity(%(query)s, project.name), word_similarity(%(query)s, project.slug))
        AS likeness,
    project.name
    FROM registry_project project WHERE project.id = matched.id
    OFFSET 0
) AS ranked
ORDER BY ranked.rank, ranked.likeness DESC, ranked.name, matched.id
"""  # noqa: S608  # nosec B608: constant SQL; the query is a parameter


def ranked_sql(query: str) -> tuple[str, dict]:
    """The one statement that finds a search's projects and ranks each (`SearchRank`): rows
    (id, rank), best first. A pasted URL's host is looked up too, and the apps serving its
    path rank as exact matches."""
    host = url_host(query) if looks_like_url(query) or "." in query else ""
    serving = _projects_serving(query, host) if host else []
    params = {
        "query": query,
        "host": host,
        "serving": serving,
        "alike_below": ALIKE_BELOW,
        "alike_most": ALIKE_MOST,
        "alike_each": ALIKE_MOST + ALIKE_BELOW,
    }
    return _RANKED_SQL, params


_RANKED = prepared.Prepared(
    "steward_ranked_search",
    _RANKED_SQL,
    {
        "query": "text",
        "host": "text",
        "serving": "bigint[]",
        "alike_below": "integer",
        "alike_most": "integer",
        "alike_each": "integer",
    },
)


def ranked_matches(query: str) -> list[tuple[int, int]]:
    """(id, `SearchRank`) of each project that matches `query`, best first: one statement
    (`ranked_sql`), parsed once a connection (`steward.prepared`). PostgreSQL still plans it
    for each query (its trigram estimates need the pattern); parsing it each time cost a search
    0.2-1 ms more (10,000 projects)."""
    with connection.cursor() as cursor:
        prepared.execute(cursor, _RANKED, ranked_sql(query)[1])
        return cursor.fetchall()


def projects_matching(query: str) -> QuerySet[Project]:
    """Projects that match a search, best first (see `projects_search`); all of them, by name,
    for an empty one."""
    return projects_search(Project.objects.all(), query)


def directory_matches(query: str = "") -> Sequence[int] | QuerySet:
    """The ids of the projects the directory lists, in its order, to cut into pages: a search's
    from `ranked_matches` (counted and cut without reading the projects again); without one,
    every project's, by name."""
    if not query.strip():
        return Project.objects.order_by("name", "pk").values_list("pk", flat=True)
    return [pk for pk, _rank in ranked_matches(query)]


# What a page of the directory shows of each project and of the people of its roles (with who
# is on call now, `oncall.selectors.supports_now`): only these are read.
DIRECTORY_PROJECT_FIELDS = ("name", "slug", "support_tier", "team", "orphaned_at")
DIRECTORY_ROLE_FIELDS = (
    "project",
    "role",
    "order",
    "person__display_name",
    "person__time_zone",
    "person__working_hours",
    "person__deactivated_at",
)


def directory_projects(ids: Sequence[int]) -> list[Project]:
    """A page of the directory: the projects of `ids` in that order, in a fixed number of queries
    whatever the number of projects and people (those deleted since the ids were read are left
    out). The registry's part: `oncall.selectors.supports_now` adds who is on call now.

    Each project's aliases and roles (with their people) are lists, `directory_aliases` and
    `directory_roles`: prefetched into the related managers instead, Django built a queryset
    for each project and relation, a third of the page's reading."""
    roles = ProjectRole.objects.select_related("person").only(*DIRECTORY_ROLE_FIELDS)
    found = (
        Project.objects.only(*DIRECTORY_PROJECT_FIELDS)
        .prefetch_related(
            Prefetch("aliases", to_attr="directory_aliases"),
            Prefetch("roles", queryset=roles.order_by("order", "id"), to_attr="directory_roles"),
        )
        .in_bulk(list(ids))
    )
    return [found[pk] for pk in ids if pk in found]


def it_contacts(*, at: datetime) -> list[tuple[Team, list[Supporter]]]:
    """IT teams and their members, each with their local time and working state: whom to ask
    when the directory knows no app by that name. Two queries."""
    teams = Team.objects.filter(is_it=True).prefetch_related(
        Prefetch("members", queryset=Person.objects.order_by("display_name", "id"))
    )
    return [
        (
            team,
            [
                supporter_for(member, role="contact", order=i, at=at)
                for i, member in enumerate(team.members.all())
            ],
        )
        for team in teams.order_by("name")
    ]


def project_page_queryset() -> QuerySet[Project]:
    """A project with the registry's part of what its page shows (team, aliases, URLs, roles with
    contact methods, dependencies), in a fixed number of queries; `oncall.selectors` adds the
    rotations."""
    return Project.objects.select_related("team").prefetch_related(
        "aliases",
        "urls",
        Prefetch(
            "roles",
            queryset=ProjectRole.objects.select_related("person")
            .prefetch_related(
                Prefetch(
                    "person__contact_methods",
                    queryset=ContactMethod.objects.order_by("order", "id"),
                )
            )
            .order_by("order", "id"),
        ),
        Prefetch(
            "dependencies",
            queryset=Dependency.objects.select_related("target_system").order_by(
                "target_system__name"
            ),
        ),
    )


# --- impact over the dependency graph ---------------------------------------------------------


class ImpactedProject(NamedTuple):
    """A project touched by an IT event. A tuple, because a root system yields ten thousand."""

    project_id: int
    project_name: str
    project_slug: str
    # System names from the one the project depends on directly to the affected system.
    path: tuple[str, ...]
    system_ids: tuple[int, ...]
    all_hard: bool

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def path_display(self) -> str:
        return " → ".join((self.project_name, *self.path))


# One statement. A breadth-first search whose every iteration is one row holding the whole
# frontier and the visited set, so each system is reached once, by a shortest path; ties go to
# the path that is hard all the way. Each project then takes its best way in with one hash
# aggregate over a packed integer rank (depth, then hard before soft, then the lowest system id),
# which avoids sorting tens of thousands of edges when a root system touches everything.
# The result is two kinds of narrow rows: the BFS tree (kind 0) and each project's entry system
# (kind 1); paths are assembled from the tree in Python, once per system.
_IMPACT_SQL = """
WITH RECURSIVE bfs(depth, nodes, parents, hards, visited) AS (
    SELECT 0, seeds.ids, array_fill(NULL::bigint, ARRAY[cardinality(seeds.ids)]),
           array_fill(TRUE, ARRAY[cardinality(seeds.ids)]), seeds.ids
    FROM (SELECT ARRAY(SELECT id FROM registry_itsystem WHERE id = ANY(%(seeds)s) ORDER BY id)
          AS ids) seeds
    WHERE cardinality(seeds.ids) > 0
  UNION ALL
    SELECT b.depth + 1, step.nodes, step.parents, step.hards, b.visited || step.nodes
    FROM bfs b
    CROSS JOIN LATERAL (
        SELECT array_agg(pick.src ORDER BY pick.src) AS nodes,
               array_agg(pick.parent ORDER BY pick.src) AS parents,
               array_agg(pick.hard ORDER BY pick.src) AS hards
        FROM (
            SELECT DISTINCT ON (d.source_system_id)
                   d.source_system_id AS src,
                   d.target_system_id AS parent,
                   (prev.hard AND d.criticality = 'hard') AS hard
            FROM unnest(b.nodes, b.hards) AS prev(node, hard)
            JOIN registry_dependency d ON d.target_system_id = prev.node
            WHERE d.source_system_id IS NOT NULL
              AND NOT (d.source_system_id = ANY(b.visited))
            ORDER BY d.source_system_id, (prev.hard AND d.criticality = 'hard') DESC,
                     d.target_system_id
        ) pick
    ) step
    WHERE step.nodes IS NOT NULL
),
tree AS (
    SELECT t.node, t.parent, t.hard, b.depth
    FROM bfs b
    CROSS JOIN LATERAL unnest(b.nodes, b.parents, b.hards) AS t(node, parent, hard)
),
best AS (
    SELECT d.source_project_id AS project_id,
           min((t.depth::bigint << 33)
               | ((NOT (t.hard AND d.criticality = 'hard'))::int::bigint << 32)
               | t.node) AS rank
    FROM registry_dependency d
    JOIN tree t ON t.node = d.target_system_id
    WHERE d.source_project_id IS NOT NULL
    GROUP BY d.source_project_id
)
SELECT 0, t.node, t.parent, t.hard, s.name, NULL
FROM tree t JOIN registry_itsystem s ON s.id = t.node
UNION ALL
SELECT 1, b.project_id, b.rank & 4294967295, (b.rank >> 32) & 1 = 0, p.name, p.slug
FROM best b JOIN registry_project p ON p.id = b.project_id
"""


def _impacted_projects_sql(system_ids: list[int]) -> list[ImpactedProject]:
    with connection.cursor() as cursor:
        cursor.execute(_IMPACT_SQL, {"seeds": system_ids})
        rows = cursor.fetchall()
    parents: dict[int, int | None] = {}
    names: dict[int, str] = {}
    entries = []
    for kind, key, ref, hard, name, slug in rows:
        if kind == 0:
            parents[key], names[key] = ref, name
        else:
            entries.append((key, ref, hard, name, slug))
    paths: dict[int, tuple[tuple[int, ...], tuple[str, ...]]] = {}

    def path_of(node: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        if node not in paths:
            parent = parents[node]
            ids, labels = path_of(parent) if parent is not None else ((), ())
            paths[node] = ((node, *ids), (names[node], *labels))
        return paths[node]

    result = []
    for project_id, node, hard, name, slug in sorted(entries):
        ids, labels = path_of(node)
        result.append(
            ImpactedProject(
                project_id=project_id,
                project_name=name,
                project_slug=slug,
                system_ids=ids,
                path=labels,
                all_hard=hard,
            )
        )
    return result


# Impact read from the closure (`registry.reach`): the projects the seeds reach, an index range
# per seed, and the seeds' system rows, from which the projects' paths are followed `via` by
# `via`. With several seeds, a project takes the best of its ways in over the seeds, and a system
# the best of its rows: that is what the search from all seeds at once finds (the shortest way
# over all seeds, hard if one of those is, then the lowest id).
# With one seed (the common case: an outage on one system) each row is already the only one, and
# PostgreSQL is spared ranking ten thousand rows for nothing.
_IMPACT_SYSTEMS_SQL = """
SELECT {distinct_node} way.node, way.via, s.name
FROM (
    SELECT r.dependent_id AS node, r.depth, r.all_hard, r.via_id AS via
    FROM registry_systemreach r WHERE r.system_id = ANY(%(seeds)s)
    UNION ALL
    SELECT id, 0, TRUE, NULL FROM registry_itsystem WHERE id = ANY(%(seeds)s)
) way
JOIN registry_itsystem s ON s.id = way.node
{order_nodes}
"""
# The closure rows carry the project's name and slug (kept by a trigger on rename): joining ten
# thousand rows to the projects for them was half of a root system's query.
_IMPACT_PROJECTS_SQL = """
SELECT {distinct_project} r.project_id, r.project_name, r.project_slug, r.entry_id, r.all_hard
FROM registry_projectreach r
WHERE r.system_id = ANY(%(seeds)s)
{order_projects}
"""
# Sorting by project id is left to Python when there is one seed: the rows come nearly in order,
# and PostgreSQL's sort of ten thousand rows with their names cost more than the query.
_ONE_SEED = {"distinct_node": "", "order_nodes": "", "distinct_project": "", "order_projects": ""}
_SEVERAL_SEEDS = {
    "distinct_node": "DISTINCT ON (way.node)",
    "order_nodes": "ORDER BY way.node, way.depth, NOT way.all_hard, way.via",
    "distinct_project": "DISTINCT ON (r.project_id)",
    "order_projects": "ORDER BY r.project_id, r.depth, NOT r.all_hard, r.entry_id",
}


def _impacted_projects_from_closure(system_ids: list[int]) -> list[ImpactedProject]:
    with cycle_collection_paused():  # a root system's ten thousand rows
        return _impacted_from_closure(system_ids)


# A tuple of the class without `ImpactedProject.__new__`'s keyword handling: a third of the
# time making ten thousand of them.
_new_impacted = partial(tuple.__new__, ImpactedProject)


def _impacted_from_closure(system_ids: list[int]) -> list[ImpactedProject]:
    shape = _ONE_SEED if len(system_ids) == 1 else _SEVERAL_SEEDS
    with connection.cursor() as cursor:
        cursor.execute(_IMPACT_SYSTEMS_SQL.format(**shape), {"seeds": system_ids})
        systems = cursor.fetchall()
        cursor.execute(_IMPACT_PROJECTS_SQL.format(**shape), {"seeds": system_ids})
        projects = cursor.fetchall()
    projects.sort()  # by project id, which is unique here
    via = {node: (parent, name) for node, parent, name in systems}
    # node -> (names, ids) from the node down to the seed
    paths: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = {}

    def path_of(node: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        found = paths.get(node)
        if found is None:
            parent, name = via[node]
            labels, ids = path_of(parent) if parent is not None else ((), ())
            found = paths[node] = ((name, *labels), (node, *ids))
        return found

    for entry in {row[3] for row in projects}:
        path_of(entry)
    return [
        _new_impacted((project_id, name, slug, *paths[entry], hard))
        for project_id, name, slug, entry, hard in projects
    ]


def impacted_projects_for(systems: Iterable[ITSystem | int]) -> list[ImpactedProject]:
    """Every project touched by these IT systems, directly or through other systems.

    Each project comes once, with the shortest path that touches it (ties: the all-hard one,
    then the lowest system ids) and whether that path is hard all the way. Ordered by project
    id. One query over the closure tables (`registry.reach`); `_impacted_projects_sql` is the
    same answer searched over the edges.
    """
    system_ids = sorted({s if isinstance(s, int) else s.pk for s in systems})
    if not system_ids:
        return []
    return _impacted_projects_from_closure(system_ids)


def blast_radius(system: ITSystem) -> dict[tuple[str, ...], list[ImpactedProject]]:
    """The projects a system holds up, grouped by the path through which they depend on it."""
    groups: dict[tuple[str, ...], list[ImpactedProject]] = {}
    for impacted in sorted(
        impacted_projects_for([system]), key=lambda i: (i.depth, i.path, i.project_name)
    ):
        groups.setdefault(impacted.path, []).append(impacted)
    return groups


def dependency_cycle(*, source_system_id: int, target_system_id: int) -> list[int] | None:
    """The cycle that an edge source → target would close, as system ids, or None.

    The edge closes a cycle when target already depends on source (the closure holds the pair);
    the result then reads source → target → … → source, along the way impact would show.
    """
    if source_system_id == target_system_id:
        return [source_system_id, source_system_id]
    way = dict(
        SystemReach.objects.filter(system_id=source_system_id).values_list("dependent_id", "via_id")
    )
    if target_system_id not in way:
        return None
    cycle = [source_system_id, target_system_id]
    while cycle[-1] != source_system_id:
        cycle.append(way.get(cycle[-1], source_system_id))
    return cycle


def system_for_page(slug: str) -> ITSystem:
    return (
        ITSystem.objects.select_related("team")
        .prefetch_related(
            "contacts",
            Prefetch(
                "dependencies",
                queryset=Dependency.objects.select_related("target_system").order_by(
                    "target_system__name"
                ),
            ),
            Prefetch(
                "dependents",
                queryset=Dependency.objects.select_related("source_project", "source_system"),
            ),
        )
        .get(slug=slug)
    )


# --- audit -------------------------------------------------------------------------------------


def history_for(instance: object, *, limit: int = 50) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(
        object_type=instance._meta.label_lower, object_id=str(instance.pk)
    ).select_related("actor")[:limit]


# --- look-alike names ---------------------------------------------------------------------------

NAMED_KINDS = {Project: "project", ITSystem: "IT system", Team: "team"}


def name_lookalikes(instance: Project | ITSystem | Team) -> list[Project | ITSystem | Team]:
    """Other records of the same kind whose name looks like this one's (the same skeleton,
    registry/names.py) without being it: one query on the indexed skeleton."""
    return list(
        type(instance)
        .objects.filter(name_skeleton=name_skeleton(instance.name))
        .exclude(pk=instance.pk)
        .exclude(name=instance.name)
        .order_by("name")[:10]
    )


def lookalike_warnings(instance: Project | ITSystem | Team) -> list[str]:
    """What to tell the person who saved `instance` (and IT, in the audit trail)."""
    kind = NAMED_KINDS[type(instance)]
    return [
        f"“{instance.name}” looks like “{other.name}”, the {kind} {other.slug}: "
        "check that it is not posing as it."
        for other in name_lookalikes(instance)
    ]
