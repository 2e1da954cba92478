"""Reads of registry hygiene: the lists IT looks at to find entries no one will answer for.

- **single owner**: projects with exactly one owner whose account is active (a second owner who
  left does not count);
- **one zone**: projects whose active supporters (owners, maintainers, backups and the members of
  the project's rotations), two or more of them, all keep one UTC offset now, so one night
  leaves nobody awake (Europe/Paris and Europe/Berlin are one zone here; the list is of *now*);
- **stale**: projects not reviewed for `REGISTRY_REVIEW_AFTER_DAYS` (never reviewed: counted
  from when they were registered);
- **orphaned**: projects with no active owner left, kept by leaver handling (see
  `orphaned_projects`).

Retired projects are on no list. Each list is a fixed number of queries, whatever its length.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Count, DateField, Max, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate

from registry.models import Person, Project, ProjectRole

# How many rows of each list the overview shows; one list alone shows more; the CSV has all.
OVERVIEW_ROWS = 50
LIST_ROWS = 1000

_ACTIVE_OWNER = Q(roles__role=ProjectRole.Role.OWNER, roles__person__user__is_active=True)


def review_after_days() -> int:
    return settings.REGISTRY_REVIEW_AFTER_DAYS


def _live_projects() -> QuerySet[Project]:
    return Project.objects.exclude(support_tier=Project.Tier.RETIRED)


def _with_active_owners(
    projects: QuerySet[Project], *, contact_methods: bool = False
) -> QuerySet[Project]:
    """`project.active_owner_roles`: its owners whose accounts are active, in order (one query;
    one more for their contact methods, which a nudge goes to)."""
    roles = (
        ProjectRole.objects.filter(role=ProjectRole.Role.OWNER, person__user__is_active=True)
        .select_related("person")
        .order_by("order", "id")
    )
    if contact_methods:
        roles = roles.prefetch_related("person__contact_methods")
    return projects.prefetch_related(
        Prefetch("roles", queryset=roles, to_attr="active_owner_roles")
    )


def active_owners(project: Project) -> list[Person]:
    return [role.person for role in project.active_owner_roles]


# --- single owner -------------------------------------------------------------------------------


def single_owner_projects() -> QuerySet[Project]:
    """Projects with exactly one active owner; `owner_count` counts the inactive ones too."""
    return _with_active_owners(
        _live_projects()
        .annotate(
            active_owner_count=Count("roles", filter=_ACTIVE_OWNER),
            owner_count=Count("roles", filter=Q(roles__role=ProjectRole.Role.OWNER)),
        )
        .filter(active_owner_count=1)
        .select_related("team")
        .order_by("name")
    )


# --- one zone -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneZoneProject:
    project: Project
    zones: tuple[str, ...]  # the supporters' IANA zones, one UTC offset now
    utc_offset: str  # "UTC+01:00"
    supporters: int


# Per project: its distinct active supporters and their zones, from its roles and from the
# members of its rotations (oncall's tables, which kept their registry_ names).
_SUPPORTER_ZONES_SQL = """
    SELECT s.project_id, COUNT(DISTINCT s.person_id), ARRAY_AGG(DISTINCT s.time_zone)
    FROM (
        SELECT r.project_id, p.id AS person_id, p.time_zone
        FROM registry_projectrole r
        JOIN registry_person p ON p.id = r.person_id
        JOIN auth_user u ON u.id = p.user_id AND u.is_active
        UNION ALL
        SELECT rot.project_id, p.id, p.time_zone
        FROM registry_rotationmember m
        JOIN registry_rotationlayer l ON l.id = m.layer_id
        JOIN registry_rotation rot ON rot.id = l.rotation_id
        JOIN registry_person p ON p.id = m.person_id
        JOIN auth_user u ON u.id = p.user_id AND u.is_active
        WHERE rot.project_id IS NOT NULL
    ) s
    JOIN registry_project pr ON pr.id = s.project_id AND pr.support_tier <> %s
    GROUP BY s.project_id
    HAVING COUNT(DISTINCT s.person_id) > 1
"""


def _utc_offset(zone: str, at: dt.datetime, cache: dict[str, dt.timedelta | None]):
    if zone not in cache:
        try:
            cache[zone] = at.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            cache[zone] = None  # a zone this Python does not know: no offset to compare
    return cache[zone]


def _offset_label(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def one_zone_rows(*, at: dt.datetime) -> list[tuple[int, int, tuple[str, ...], str]]:
    """(project id, supporters, zones, offset) of every project whose two or more supporters all
    keep one UTC offset at `at`; one query, whatever the number of projects."""
    with connection.cursor() as cursor:
        cursor.execute(_SUPPORTER_ZONES_SQL, [Project.Tier.RETIRED])
        rows = cursor.fetchall()
    cache: dict[str, dt.timedelta | None] = {}
    found = []
    for project_id, supporters, zones in rows:
        offsets = {_utc_offset(zone, at, cache) for zone in zones}
        if len(offsets) == 1 and None not in offsets:
            found.append((project_id, supporters, tuple(sorted(zones)), _offset_label(*offsets)))
    return found


def one_zone_projects(*, at: dt.datetime, limit: int | None = None) -> list[OneZoneProject]:
    """The projects of `one_zone_rows`, by name (two queries)."""
    rows = {row[0]: row for row in one_zone_rows(at=at)}
    projects = _live_projects().filter(pk__in=list(rows)).select_related("team").order_by("name")
    if limit is not None:
        projects = projects[:limit]
    return [
        OneZoneProject(
            project=p, zones=rows[p.pk][2], utc_offset=rows[p.pk][3], supporters=rows[p.pk][1]
        )
        for p in projects
    ]


# --- stale --------------------------------------------------------------------------------------


def review_due_on(reviewed_on: dt.date) -> dt.date:
    return reviewed_on + dt.timedelta(days=review_after_days())


def review_period_start(*, reviewed_on: dt.date, today: dt.date) -> dt.date:
    """The start of the review period `today` falls in, for a project last reviewed (or
    registered) on `reviewed_on`: the day its review fell due, plus whole review periods. A
    nudge is sent at most once per period."""
    days = review_after_days()
    due = review_due_on(reviewed_on)
    return due + dt.timedelta(days=days * max(0, (today - due).days // days))


def stale_projects(*, today: dt.date, contact_methods: bool = False) -> QuerySet[Project]:
    """Projects whose last review (or registration, if never reviewed) is
    `REGISTRY_REVIEW_AFTER_DAYS` or more before `today`, oldest first. Each has `reviewed_on`
    (the date counted from), `last_nudged_at` and `active_owner_roles`."""
    cutoff = today - dt.timedelta(days=review_after_days())
    return _with_active_owners(
        _live_projects()
        .annotate(
            reviewed_on=Coalesce(
                "last_reviewed_on",
                TruncDate("created_at", tzinfo=dt.UTC),
                output_field=DateField(),
            ),
            last_nudged_at=Max("review_nudges__sent_at"),
        )
        .filter(reviewed_on__lte=cutoff)
        .select_related("team")
        .order_by("reviewed_on", "name"),
        contact_methods=contact_methods,
    )


# --- orphaned -----------------------------------------------------------------------------------


def orphaned_projects() -> QuerySet[Project]:
    """Projects whose last active owner left (`Project.orphaned_at`, set by
    `directory.services.person_deactivate`, cleared when someone adopts them), oldest first."""
    return _with_active_owners(
        _live_projects()
        .filter(orphaned_at__isnull=False)
        .select_related("team")
        .order_by("orphaned_at", "name")
    )


# --- all of it ----------------------------------------------------------------------------------


@dataclass
class HygieneList:
    kind: str  # the CSV's and the URL's name of the list
    title: str
    count: int
    rows: list = field(default_factory=list)  # the first `limit` of the list

    @property
    def more(self) -> int:
        return self.count - len(self.rows)


LIST_TITLES = {
    "single-owner": "One active owner",
    "one-zone": "Every supporter in one time zone",
    "stale": "Not reviewed lately",
    "orphaned": "Orphaned: no active owner",
}


def hygiene_list(kind: str, *, at: dt.datetime, limit: int) -> HygieneList:
    """One list, its count and its first `limit` rows, in a fixed number of queries."""
    title = LIST_TITLES[kind]
    if kind == "one-zone":
        rows = one_zone_projects(at=at)
        return HygieneList(kind, title, len(rows), rows[:limit])
    projects = _list_queryset(kind, at=at)
    # The list's ids once (its aggregate runs once), then its first rows with what they show.
    ids = list(projects.values_list("pk", flat=True))
    return HygieneList(kind, title, len(ids), list(projects.filter(pk__in=ids[:limit])))


def _list_queryset(kind: str, *, at: dt.datetime) -> QuerySet[Project]:
    if kind == "single-owner":
        return single_owner_projects()
    if kind == "stale":
        return stale_projects(today=at.astimezone(dt.UTC).date())
    if kind == "orphaned":
        return orphaned_projects()
    raise KeyError(kind)


def hygiene_report(*, at: dt.datetime, limit: int = OVERVIEW_ROWS) -> list[HygieneList]:
    """Every list, in `LIST_TITLES` order, for the page (its counts at the top) and the API."""
    return [hygiene_list(kind, at=at, limit=limit) for kind in LIST_TITLES]


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = {
    "single-owner": ("slug", "name", "team", "owner", "owner_email", "owners_inactive"),
    "one-zone": ("slug", "name", "team", "supporters", "time_zones", "utc_offset_now"),
    "stale": ("slug", "name", "team", "last_reviewed_on", "review_due_on", "owners", "nudged_at"),
    "orphaned": ("slug", "name", "team", "orphaned_at"),
}


def hygiene_csv_rows(kind: str, *, at: dt.datetime) -> Iterator[tuple[str, ...]]:
    """The whole list as CSV rows (header first), unguarded (the view guards formulas)."""
    yield CSV_COLUMNS[kind]
    if kind == "one-zone":
        for row in one_zone_projects(at=at):
            p = row.project
            yield (
                p.slug,
                p.name,
                p.team.name if p.team else "",
                str(row.supporters),
                " ".join(row.zones),
                row.utc_offset,
            )
        return
    # Plain rows, not model instances (which cost most of the time at 10,000 projects): the
    # list in one query, its active owners in one more per 2,000 projects.
    fields = ("pk", "slug", "name", "team__name")
    if kind == "single-owner":
        fields += ("owner_count", "active_owner_count")
    elif kind == "orphaned":
        fields += ("orphaned_at",)
    else:
        fields += ("last_reviewed_on", "reviewed_on", "last_nudged_at")
    rows = _list_queryset(kind, at=at).prefetch_related(None).values_list(*fields)
    chunk: list[tuple] = []
    for values in rows.iterator(chunk_size=CSV_CHUNK):
        chunk.append(values)
        if len(chunk) == CSV_CHUNK:
            yield from _csv_chunk(kind, chunk)
            chunk = []
    yield from _csv_chunk(kind, chunk)


CSV_CHUNK = 2000


def _csv_chunk(kind: str, chunk: list[tuple]) -> Iterator[tuple[str, ...]]:
    if not chunk:
        return
    owners: dict[int, list[tuple[str, str]]] = {}
    for project_id, name, email in (
        ProjectRole.objects.filter(
            project_id__in=[values[0] for values in chunk],
            role=ProjectRole.Role.OWNER,
            person__user__is_active=True,
        )
        .order_by("project_id", "order", "id")
        .values_list("project_id", "person__display_name", "person__email")
    ):
        owners.setdefault(project_id, []).append((name, email))
    for pk, slug, name, team, *rest in chunk:
        listed = owners.get(pk, [])
        if kind == "orphaned":
            (orphaned_at,) = rest
            yield (slug, name, team or "", orphaned_at.astimezone(dt.UTC).isoformat())
        elif kind == "single-owner":
            owner_count, active_count = rest
            owner_name, owner_email = listed[0] if listed else ("", "")
            yield (slug, name, team or "", owner_name, owner_email, str(owner_count - active_count))
        else:
            last_reviewed_on, reviewed_on, last_nudged_at = rest
            yield (
                slug,
                name,
                team or "",
                last_reviewed_on.isoformat() if last_reviewed_on else "never",
                review_due_on(reviewed_on).isoformat(),
                "; ".join(owner for owner, _email in listed),
                last_nudged_at.astimezone(dt.UTC).isoformat() if last_nudged_at else "",
            )
