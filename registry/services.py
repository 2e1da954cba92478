"""Writes to the registry. Each service checks the actor's right to the object, validates,
writes in one transaction and records an audit entry with the values before and after.

``actor=None`` means Steward itself (demo data, imports): no permission check, audited as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import Model

from . import permissions
from .deliverability import contact_kind_refusal
from .models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectAlias,
    ProjectRole,
    ProjectURL,
    Team,
)
from .names import name_problem, normalized_name
from .reach import reach_affected, reach_affected_by_edges, reach_refresh
from .selectors import dependency_cycle, lookalike_warnings, name_lookalikes
from .validators import validate_contact_address

Actor = AbstractBaseUser | None

_NOT_AUDITED = {"created_at", "updated_at", "integration_key", "secret", "name_skeleton"}


# --- audit ------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.time) and not (value.second or value.microsecond):
        return value.isoformat(timespec="minutes")  # as people write a time of day: 09:00
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


def audit_snapshot(instance: Model) -> dict[str, Any]:
    """The audited state of an object: its own fields (not those PostgreSQL derives from them,
    like the search's upper-case copies), plus what is listed on it for projects."""
    snapshot = {
        f.name: _json_value(getattr(instance, f.attname))
        for f in instance._meta.concrete_fields
        if f.name not in _NOT_AUDITED and not f.primary_key and not f.generated
    }
    if isinstance(instance, Project) and instance.pk:
        snapshot["aliases"] = sorted(instance.aliases.values_list("alias", flat=True))
        snapshot["urls"] = sorted(instance.urls.values_list("url", flat=True))
        snapshot["roles"] = [
            f"{role}: {name}"
            for role, name in instance.roles.order_by("order", "id").values_list(
                "role", "person__display_name"
            )
        ]
    if isinstance(instance, ITSystem) and instance.pk:
        snapshot["contacts"] = sorted(instance.contacts.values_list("display_name", flat=True))
    if isinstance(instance, Person) and instance.pk:
        snapshot["contact_methods"] = [
            f"{kind}: {address}"
            + (f" ({label})" if label else "")
            + f" [{'pages' if pages else 'no pages'}, {'notices' if notices else 'no notices'}]"
            for kind, address, label, pages, notices in instance.contact_methods.order_by(
                "order", "id"
            ).values_list("kind", "address", "label", "for_pages", "for_notices")
        ]
    return snapshot


def audit_record(
    *,
    actor: Actor,
    action: str,
    instance: Model,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> AuditEntry | None:
    before, after = before or {}, after or {}
    changes = {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
    if action == AuditEntry.Action.UPDATE and not changes:
        return None
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes=changes,
    )


def require_allowed(allowed: bool, message: str = "You may not change this.") -> None:
    if not allowed:
        raise PermissionDenied(message)


def assign_fields(instance: Model, fields: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in fields.items():
        setattr(instance, name, value)


def save_validated(instance: Model) -> None:
    """Validate every field and constraint, then save; a lost race on a unique value is a 400."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError(
            f"This conflicts with an existing record ({exc.__cause__ or exc})."
        ) from exc


def audited_change(actor: Actor, instance: Model, change: Callable[[], None]) -> Model:
    with transaction.atomic():
        is_new = instance.pk is None
        before = None if is_new else audit_snapshot(type(instance).objects.get(pk=instance.pk))
        change()
        audit_record(
            actor=actor,
            action=AuditEntry.Action.CREATE if is_new else AuditEntry.Action.UPDATE,
            instance=instance,
            before=before,
            after=audit_snapshot(instance),
        )
    return instance


def audited_delete(actor: Actor, instance: Model) -> None:
    """Delete `instance` and record it, once: the row is locked first, and one that another
    writer deleted since it was read is neither deleted nor recorded again."""
    with transaction.atomic():
        if not type(instance).objects.select_for_update().filter(pk=instance.pk).exists():
            return
        before = audit_snapshot(instance)
        audit_record(
            actor=actor,
            action=AuditEntry.Action.DELETE,
            instance=instance,
            before=before,
            after=None,
        )
        instance.delete()


def name_lookalikes_flag(
    actor: Actor, instance: Project | ITSystem | Team, *, previous_name: str | None
) -> list[str]:
    """When a new or renamed project, IT system or team looks like another (registry/names.py),
    record a warning in the audit trail, where IT sees it; the save stands. Returns the
    warnings, for the page or the API answer."""
    if instance.name == previous_name:
        return []
    others = name_lookalikes(instance)
    if not others:
        return []
    AuditEntry.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=AuditEntry.Action.WARNING,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes={"looks_like": [None, [f"{other.name} ({other.slug})" for other in others]]},
    )
    return lookalike_warnings(instance)


# --- people -------------------------------------------------------------------------------------

PERSON_FIELDS = ("display_name", "email", "time_zone", "working_hours")


def person_create(*, actor: Actor, user: AbstractBaseUser, **fields: Any) -> Person:
    require_allowed(actor is None or permissions.is_admin(actor))
    person = Person(user=user)
    fields.setdefault("display_name", user.get_full_name() or user.get_username())
    fields.setdefault("email", getattr(user, "email", ""))
    assign_fields(person, fields, PERSON_FIELDS)
    return audited_change(actor, person, lambda: save_validated(person))


def person_for_account(user: AbstractBaseUser) -> Person:
    """The person behind an account, made on the account's first use when it has none (an
    administrator made with `createsuperuser`, an account made in the admin): every account is
    someone, so it can own a project, be paged and be audited by name."""
    try:
        return user.person
    except Person.DoesNotExist:
        pass
    name = user.get_full_name().strip() or user.get_username()
    if name_problem(name):  # a username Steward would refuse as a name: the bare login
        name = f"User {user.pk}"
    with transaction.atomic():
        person, made = Person.objects.get_or_create(
            user=user, defaults={"display_name": name, "email": getattr(user, "email", "")}
        )
        if made:
            audit_record(
                actor=user,
                action=AuditEntry.Action.CREATE,
                instance=person,
                before=None,
                after=audit_snapshot(person),
            )
    user.person = person
    return person


def person_add(*, actor: Actor, email: str, **fields: Any) -> Person:
    """IT staff add someone before they ever sign in: an account with no password (they sign in
    through the company's sign-in, matched by email) and their person, in one transaction."""
    require_allowed(actor is None or permissions.is_it_staff(actor))
    email = (email or "").strip()
    if not email:
        raise ValidationError({"email": "An email address is required: it is how they sign in."})
    taken = Person.objects.filter(email__iexact=email).first()
    if taken is not None:
        raise ValidationError({"email": f"{taken} is registered with this email already."})
    fields.setdefault("display_name", email.split("@", 1)[0])
    if not fields.get("working_hours"):  # none given: the usual week, until they say otherwise
        fields.pop("working_hours", None)
    with transaction.atomic():
        user = get_user_model()(username=_free_username(email), email=email)
        user.set_unusable_password()
        user.save()
        person = Person(user=user, email=email)
        assign_fields(person, fields, PERSON_FIELDS)
        audited_change(actor, person, lambda: save_validated(person))
    return person


def _free_username(email: str) -> str:
    """The email as a username, or with a number when an account already has it."""
    users = get_user_model().objects
    base = email.lower()[:140]
    candidate, number = base, 1
    while users.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def person_update(*, actor: Actor, person: Person, **fields: Any) -> Person:
    require_allowed(actor is None or permissions.can_edit_person(actor, person))
    assign_fields(person, fields, PERSON_FIELDS)
    return audited_change(actor, person, lambda: save_validated(person))


def contact_method_add(
    *,
    actor: Actor,
    person: Person,
    kind: str,
    address: str,
    label: str = "",
    for_pages: bool = True,
    for_notices: bool = True,
    order: int | None = None,
) -> ContactMethod:
    require_allowed(actor is None or permissions.can_edit_person(actor, person))
    if order is None:
        order = person.contact_methods.count()
    method = ContactMethod(
        person=person,
        kind=kind,
        address=address.strip(),
        label=label,
        for_pages=for_pages,
        for_notices=for_notices,
        order=order,
    )

    def change() -> None:
        _validate_contact(method)
        save_validated(method)

    audited_change(actor, person, change)
    return method


def contact_method_update(*, actor: Actor, method: ContactMethod, **fields: Any) -> ContactMethod:
    require_allowed(actor is None or permissions.can_edit_person(actor, method.person))
    assign_fields(method, fields, ("kind", "address", "label", "for_pages", "for_notices", "order"))

    def change() -> None:
        _validate_contact(method)
        save_validated(method)

    audited_change(actor, method.person, change)
    return method


def contact_method_remove(*, actor: Actor, method: ContactMethod) -> None:
    require_allowed(actor is None or permissions.can_edit_person(actor, method.person))
    audited_change(actor, method.person, method.delete)


def _validate_contact(method: ContactMethod) -> None:
    if method.kind in ContactMethod.Kind.values:
        try:
            validate_contact_address(method.kind, method.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from exc
        # Saving a method nothing can reach would look like a way to be paged and is not.
        refusal = contact_kind_refusal(method.kind)
        if refusal:
            raise ValidationError({"kind": refusal})


# --- teams --------------------------------------------------------------------------------------

TEAM_FIELDS = ("name", "slug", "description", "is_it")


def team_create(*, actor: Actor, members: Iterable[Person] = (), **fields: Any) -> Team:
    require_allowed(actor is None or permissions.can_manage_teams(actor))
    team = Team()
    assign_fields(team, fields, TEAM_FIELDS)

    def change() -> None:
        save_validated(team)
        team.members.set(list(members))
        name_lookalikes_flag(actor, team, previous_name=None)

    return audited_change(actor, team, change)


def team_update(
    *, actor: Actor, team: Team, members: Iterable[Person] | None = None, **fields: Any
) -> Team:
    require_allowed(actor is None or permissions.can_manage_teams(actor))
    previous_name = team.name
    assign_fields(team, fields, TEAM_FIELDS)

    def change() -> None:
        save_validated(team)
        if members is not None:
            team.members.set(list(members))
        name_lookalikes_flag(actor, team, previous_name=previous_name)

    return audited_change(actor, team, change)


def team_delete(*, actor: Actor, team: Team) -> None:
    require_allowed(actor is None or permissions.can_manage_teams(actor))
    audited_delete(actor, team)


# --- projects -----------------------------------------------------------------------------------

PROJECT_FIELDS = (
    "name",
    "slug",
    "description",
    "support_tier",
    "help_channel",
    "runbook_url",
    "last_reviewed_on",
    "team",
    "time_zone",
    "busy_hours",
)

web_url_validator = URLValidator(
    schemes=["http", "https"], message="Enter an http:// or https:// URL."
)


def clean_aliases(aliases: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for alias in aliases:
        alias = alias.strip()
        if not alias:
            continue
        if len(alias) > 200:
            raise ValidationError({"aliases": f"“{alias[:40]}…” is longer than 200 characters."})
        problem = name_problem(alias)
        if problem is not None:
            raise ValidationError({"aliases": problem})
        alias = normalized_name(alias)
        if alias.lower() not in {a.lower() for a in cleaned}:
            cleaned.append(alias)
    return cleaned


def clean_urls(urls: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for url in urls:
        url = url.strip()
        if not url:
            continue
        if len(url) > 500:
            raise ValidationError({"urls": f"“{url[:40]}…” is longer than 500 characters."})
        try:
            web_url_validator(url)
        except ValidationError:
            raise ValidationError({"urls": f"“{url}” is not an http:// or https:// URL."}) from None
        if url not in cleaned:
            cleaned.append(url)
    return cleaned


def clean_runbook_url(fields: dict[str, Any]) -> None:
    """The model's URLField also takes ftp://; a link people click must be http(s)."""
    url = fields.get("runbook_url")
    if url:
        try:
            web_url_validator(url)
        except ValidationError:
            raise ValidationError(
                {"runbook_url": f"“{url[:100]}” is not an http:// or https:// URL."}
            ) from None


def _replace_aliases_and_urls(
    project: Project, aliases: list[str] | None, urls: list[str] | None
) -> None:
    if aliases is not None:
        project.aliases.all().delete()
        ProjectAlias.objects.bulk_create(ProjectAlias(project=project, alias=a) for a in aliases)
    if urls is not None:
        project.urls.all().delete()
        for url in urls:
            ProjectURL(project=project, url=url).save()


def clean_busy_hours(fields: dict[str, Any]) -> None:
    """An empty map is a choice (none declared), which model validation would let through as
    "blank" without running the validator: anything but a map is refused here, by name."""
    if "busy_hours" in fields and not isinstance(fields["busy_hours"], dict):
        raise ValidationError(
            {"busy_hours": 'Busy hours must be an object such as {"mon": [["09:00", "12:00"]]}.'}
        )


def project_create(
    *,
    actor: Actor,
    aliases: Iterable[str] = (),
    urls: Iterable[str] = (),
    **fields: Any,
) -> Project:
    """Register a project. A person who registers it becomes its first owner."""
    require_allowed(actor is None or permissions.can_create_project(actor))
    project = Project()
    clean_runbook_url(fields)
    clean_busy_hours(fields)
    assign_fields(project, fields, PROJECT_FIELDS)
    alias_list, url_list = clean_aliases(aliases), clean_urls(urls)

    def change() -> None:
        save_validated(project)
        _replace_aliases_and_urls(project, alias_list, url_list)
        name_lookalikes_flag(actor, project, previous_name=None)
        creator = person_for_account(actor) if actor is not None else None
        if creator is not None:
            ProjectRole.objects.create(project=project, person=creator, role=ProjectRole.Role.OWNER)

    return audited_change(actor, project, change)


def project_update(
    *,
    actor: Actor,
    project: Project,
    aliases: Iterable[str] | None = None,
    urls: Iterable[str] | None = None,
    **fields: Any,
) -> Project:
    require_allowed(actor is None or permissions.can_edit_project(actor, project))
    previous_name = project.name
    clean_runbook_url(fields)
    clean_busy_hours(fields)
    assign_fields(project, fields, PROJECT_FIELDS)
    alias_list = None if aliases is None else clean_aliases(aliases)
    url_list = None if urls is None else clean_urls(urls)

    def change() -> None:
        save_validated(project)
        _replace_aliases_and_urls(project, alias_list, url_list)
        name_lookalikes_flag(actor, project, previous_name=previous_name)

    return audited_change(actor, project, change)


def project_delete(*, actor: Actor, project: Project) -> None:
    require_allowed(actor is None or permissions.can_edit_project(actor, project))
    with transaction.atomic():
        # Its edges and closure rows go by cascade; the lock keeps a closure refresh of the
        # same moment from writing rows for it meanwhile.
        dependency_graph_lock()
        audited_delete(actor, project)


def project_mark_reviewed(*, actor: Actor, project: Project, on: dt.date) -> Project:
    """Record that the project's entry was confirmed accurate on `on` (its owners' "still
    accurate" from the project page or a review nudge's link). Audited like any other edit;
    confirming again the same day changes nothing and records nothing."""
    require_allowed(
        actor is None or permissions.can_edit_project(actor, project),
        "Only the project's owners and maintainers can confirm its entry.",
    )

    def change() -> None:
        project.last_reviewed_on = on
        project.save(update_fields=["last_reviewed_on", "updated_at"])

    return audited_change(actor, project, change)


def project_role_set(
    *, actor: Actor, project: Project, person: Person, role: str, order: int | None = None
) -> ProjectRole:
    """Give a person a role on a project (or change it). The last owner cannot be demoted."""
    require_allowed(actor is None or permissions.can_edit_project(actor, project))
    if role not in ProjectRole.Role.values:
        raise ValidationError(
            {"role": f"“{role}” is not one of {', '.join(ProjectRole.Role.values)}."}
        )
    result: dict[str, ProjectRole] = {}

    def change() -> None:
        existing = (
            ProjectRole.objects.select_for_update().filter(project=project, person=person).first()
        )
        if existing and existing.role == ProjectRole.Role.OWNER and role != ProjectRole.Role.OWNER:
            _ensure_another_owner(project, person)
        item = existing or ProjectRole(project=project, person=person)
        item.role = role
        item.order = (
            order if order is not None else (item.order if existing else project.roles.count())
        )
        save_validated(item)
        result["role"] = item
        if role == ProjectRole.Role.OWNER and project.orphaned_at and person.deactivated_at is None:
            # An active owner again: the project is no longer orphaned (as when adopted).
            project.orphaned_at = None
            project.save(update_fields=["orphaned_at", "updated_at"])

    audited_change(actor, project, change)
    return result["role"]


def project_role_remove(*, actor: Actor, project: Project, person: Person) -> None:
    require_allowed(actor is None or permissions.can_edit_project(actor, project))

    def change() -> None:
        existing = (
            ProjectRole.objects.select_for_update().filter(project=project, person=person).first()
        )
        if existing is None:
            raise ValidationError({"person": f"{person} has no role on {project}."})
        if existing.role == ProjectRole.Role.OWNER:
            _ensure_another_owner(project, person)
        existing.delete()

    audited_change(actor, project, change)


def _ensure_another_owner(project: Project, person: Person) -> None:
    others = project.roles.filter(role=ProjectRole.Role.OWNER).exclude(person=person)
    if not others.exists():
        raise ValidationError({"role": f"{project} must keep at least one owner."})


# --- IT systems ---------------------------------------------------------------------------------

SYSTEM_FIELDS = ("name", "slug", "kind", "description", "team")


def system_create(*, actor: Actor, contacts: Iterable[Person] = (), **fields: Any) -> ITSystem:
    require_allowed(actor is None or permissions.can_manage_systems(actor))
    system = ITSystem()
    assign_fields(system, fields, SYSTEM_FIELDS)

    def change() -> None:
        save_validated(system)
        system.contacts.set(list(contacts))
        name_lookalikes_flag(actor, system, previous_name=None)

    return audited_change(actor, system, change)


def system_update(
    *, actor: Actor, system: ITSystem, contacts: Iterable[Person] | None = None, **fields: Any
) -> ITSystem:
    require_allowed(actor is None or permissions.can_edit_system(actor, system))
    previous_name = system.name
    assign_fields(system, fields, SYSTEM_FIELDS)

    def change() -> None:
        save_validated(system)
        if contacts is not None:
            system.contacts.set(list(contacts))
        name_lookalikes_flag(actor, system, previous_name=previous_name)

    return audited_change(actor, system, change)


def system_delete(*, actor: Actor, system: ITSystem) -> None:
    """Deletes the system and, by cascade, its edges; the closure follows in the same
    transaction."""
    require_allowed(actor is None or permissions.can_edit_system(actor, system))
    with transaction.atomic():
        dependency_graph_lock()
        change = reach_affected(systems=[system.pk])
        audited_delete(actor, system)
        reach_refresh(change)


# --- dependencies -------------------------------------------------------------------------------


def dependency_graph_lock() -> None:
    """Serialise edge writes between systems, so two concurrent edges cannot close a cycle."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('steward.dependency_graph'))")


def cycle_message(cycle: list[int]) -> str:
    names = dict(ITSystem.objects.filter(pk__in=cycle).values_list("pk", "name"))
    return "This dependency would close a cycle: " + " → ".join(names[i] for i in cycle) + "."


def dependency_add(
    *,
    actor: Actor,
    target_system: ITSystem,
    source_project: Project | None = None,
    source_system: ITSystem | None = None,
    criticality: str = Dependency.Criticality.HARD,
    note: str = "",
) -> Dependency:
    if (source_project is None) == (source_system is None):
        raise ValidationError(
            {"source_project": "Name exactly one source: a project or an IT system."}
        )
    require_allowed(
        actor is None
        or permissions.can_edit_dependency(
            actor, source_project=source_project, source_system=source_system
        )
    )
    edge = Dependency(
        source_project=source_project,
        source_system=source_system,
        target_system=target_system,
        criticality=criticality,
        note=note,
    )
    with transaction.atomic():
        dependency_graph_lock()
        _edge_ends_present(edge)
        if source_system is not None:
            cycle = dependency_cycle(
                source_system_id=source_system.pk, target_system_id=target_system.pk
            )
            if cycle:
                raise ValidationError({"target_system": cycle_message(cycle)})
        _ensure_new_edge(edge)
        save_validated(edge)
        reach_refresh(reach_affected_by_edges([edge]))
        audit_record(
            actor=actor,
            action=AuditEntry.Action.CREATE,
            instance=edge,
            before=None,
            after=audit_snapshot(edge),
        )
    return edge


def _edge_ends_present(edge: Dependency) -> None:
    """Under the graph lock: each end of `edge` still exists, and stays until commit (FOR KEY
    SHARE). The ends were read before the lock was taken, and another writer may have deleted
    one meanwhile: that is a ValidationError naming the field, not a lookup of a row that is gone
    (the cycle check's names) nor a foreign key refused by the INSERT."""
    ends = (
        ("target_system", ITSystem, edge.target_system_id),
        ("source_system", ITSystem, edge.source_system_id),
        ("source_project", Project, edge.source_project_id),
    )
    with connection.cursor() as cursor:
        for field, model, pk in ends:
            if pk is None:
                continue
            # The table's name from the model's metadata; the id is a parameter.
            cursor.execute(
                f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR KEY SHARE",  # noqa: S608  # nosec B608
                [pk],
            )
            if cursor.fetchone() is None:
                raise ValidationError(
                    {field: f"This {model._meta.verbose_name} was deleted meanwhile."}
                )


def _ensure_new_edge(edge: Dependency) -> None:
    duplicate = Dependency.objects.filter(
        source_project=edge.source_project,
        source_system=edge.source_system,
        target_system=edge.target_system,
    )
    if duplicate.exists():
        raise ValidationError(
            {"target_system": f"{edge.source} already depends on {edge.target_system}."}
        )


def dependency_update(
    *, actor: Actor, dependency: Dependency, criticality: str | None = None, note: str | None = None
) -> Dependency:
    require_allowed(
        actor is None
        or permissions.can_edit_dependency(
            actor, source_project=dependency.source_project, source_system=dependency.source_system
        )
    )
    fields = {k: v for k, v in {"criticality": criticality, "note": note}.items() if v is not None}
    assign_fields(dependency, fields, ("criticality", "note"))

    def change() -> None:
        dependency_graph_lock()
        # Read before the lock: removed meanwhile (or with a system or project it joined), it
        # must not be saved again, which would write it back.
        if not Dependency.objects.filter(pk=dependency.pk).exists():
            raise ValidationError("This dependency was removed meanwhile.")
        save_validated(dependency)
        reach_refresh(reach_affected_by_edges([dependency]))

    return audited_change(actor, dependency, change)


def dependency_remove(*, actor: Actor, dependency: Dependency) -> None:
    require_allowed(
        actor is None
        or permissions.can_edit_dependency(
            actor, source_project=dependency.source_project, source_system=dependency.source_system
        )
    )
    with transaction.atomic():
        dependency_graph_lock()
        audited_delete(actor, dependency)
        reach_refresh(reach_affected_by_edges([dependency]))
