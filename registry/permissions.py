"""Who may write what. One place, used by the forms, the API and the admin alike."""

from functools import cache

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection

from steward import prepared

from .models import ITSystem, Person, Project, ProjectRole

User = AbstractBaseUser | AnonymousUser

# Roles on a project that may edit it; backups are reachable but do not edit.
EDITING_ROLES = (ProjectRole.Role.OWNER, ProjectRole.Role.MAINTAINER)


def is_admin(user: User) -> bool:
    return bool(user.is_authenticated and user.is_superuser)


def is_it_staff(user: User) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_steward_is_it", None)
    if cached is None:
        cached = user.groups.filter(name=settings.STEWARD_IT_GROUP).exists()
        user._steward_is_it = cached
    return cached


def it_staff_known(user: User, is_it: bool) -> None:
    """Whether the account is in the IT group, as read with it (`registry.backends`): for the
    rest of the request `is_it_staff` asks no query."""
    user._steward_is_it = is_it


def can_create_project(user: User) -> bool:
    """Anyone signed in may register the app they built; they become its owner (their account
    gets its person then if it had none: `services.person_for_account`)."""
    return bool(user.is_authenticated and user.is_active)


def can_edit_project(user: User, project: Project) -> bool:
    if is_admin(user):
        return True
    if not user.is_authenticated:
        return False
    return _edits(user, "project", project.pk)


def reads_project_only(user: User, *, slug: str) -> bool:
    """Neither edits the project (`can_edit_project`) nor its dependencies (IT staff): sees its
    page as every other reader does. Asked by slug, before the project is read."""
    if is_admin(user) or is_it_staff(user):
        return False
    return not (user.is_authenticated and _edits(user, "slug", slug))


def _edits(user: User, by: str, project: int | str) -> bool:
    """Whether `user`'s person holds an editing role on the project with that id (`by`
    "project") or slug ("slug"). One prepared statement: asked on every project page, the ORM's
    `exists()` cost 713 µs, most of it compiling the query."""
    with connection.cursor() as cursor:
        prepared.execute(
            cursor,
            _edits_statements()[by],
            {"user": user.pk, "roles": list(EDITING_ROLES), "project": project},
        )
        return cursor.fetchone()[0]


@cache  # built once a process
def _edits_statements() -> dict[str, prepared.Prepared]:
    role, person = ProjectRole._meta, Person._meta
    # Table and column names from the models' metadata; the values are parameters.
    where = (
        f"SELECT EXISTS (SELECT 1 FROM {role.db_table} r "  # noqa: S608  # nosec B608
        f"JOIN {person.db_table} p ON p.id = r.person_id {{join}}"
        "WHERE p.user_id = %(user)s AND r.role = ANY(%(roles)s) AND {match})"
    )
    types = {"user": person.get_field("user").db_type(connection), "roles": "text[]"}
    return {
        "project": prepared.Prepared(
            "steward_edits_project",
            where.format(join="", match="r.project_id = %(project)s"),
            {**types, "project": Project._meta.pk.db_type(connection)},
        ),
        "slug": prepared.Prepared(
            "steward_edits_slug",
            where.format(
                join=f"JOIN {Project._meta.db_table} pr ON pr.id = r.project_id ",
                match="pr.slug = %(project)s",
            ),
            {**types, "project": "text"},
        ),
    }


def can_manage_systems(user: User) -> bool:
    return is_it_staff(user)


def can_edit_system(user: User, system: ITSystem) -> bool:
    return is_it_staff(user)


def can_edit_dependency(
    user: User, *, source_project: Project | None = None, source_system: ITSystem | None = None
) -> bool:
    """IT staff manage every edge; a project's editors manage the edges that start at it."""
    if is_it_staff(user):
        return True
    return source_project is not None and can_edit_project(user, source_project)


def can_edit_person(user: User, person: Person) -> bool:
    return is_admin(user) or (user.is_authenticated and person.user_id == user.pk)


def can_manage_teams(user: User) -> bool:
    return is_it_staff(user)
