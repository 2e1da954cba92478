"""SCIM 2.0 provisioning (RFC 7643/7644) at /scim/v2/: the company's identity provider (Okta,
Entra ID, …) creates, updates and deactivates Steward's people, and its groups become Steward's
teams (and, for the groups named in STEWARD_SCIM_IT_GROUPS, IT staff).

Messages are read and written with scim2-models, the models the scim2-tester conformance checker
is built on. The schemas published at /Schemas declare exactly what Steward keeps (a user's
userName, displayName, primary email and active flag; a group's displayName and members): the
other attributes of RFC 7643's User that identity providers send as a matter of course (name,
title, locale, phoneNumbers, the enterprise extension…) are accepted and ignored; an attribute no
schema defines is a SCIM error (400 invalidSyntax; invalidPath in a PATCH), as is a filter that
does not parse or names an attribute Steward does not keep (400 invalidFilter).

Every request carries `Authorization: Bearer <STEWARD_SCIM_TOKEN>`, compared in constant time;
with no token configured SCIM is off (404). A user's `active: false` (or DELETE) goes through
`directory.services.person_deactivate`; nothing is deleted.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Annotated, Any

import pydantic
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as DjangoGroup
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from pydantic import Field
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Context,
    Error,
    ETag,
    Filter,
    InvalidFilterException,
    ListResponse,
    Meta,
    Mutability,
    Patch,
    PatchOp,
    Reference,
    Required,
    Resource,
    ResourceType,
    SearchRequest,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import User as CoreUser
from scim2_models.resources.enterprise_user import EnterpriseUser

from registry.models import Person, Team
from registry.names import name_problem
from registry.services import person_create, team_create, team_update

from . import services
from .models import ScimGroup, ScimUser

SCIM_CONTENT_TYPE = "application/scim+json"
MAX_COUNT = 200


class UserEmail(ComplexAttribute):
    value: Annotated[str | None, Required.true] = None


class StewardUser(Resource[Any]):
    """A person, as much of RFC 7643's User as Steward keeps."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    # Required as Steward always has them; a request without them gets the userName, and
    # active (RFC 7643's default).
    display_name: Annotated[str | None, Required.true] = None
    active: Annotated[bool | None, Required.true] = None
    emails: list[UserEmail] | None = None


class GroupMember(ComplexAttribute):
    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: F821, UP037 (scim2-models reads the name)
        None, serialization_alias="$ref", validation_alias="$ref"
    )


class StewardGroup(Resource[Any]):
    """A team: its name and its members (users only)."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


RESOURCES = {"Users": StewardUser, "Groups": StewardGroup}
# Attributes of RFC 7643's User that identity providers send and Steward does not keep.
_IGNORED_USER_ATTRIBUTES = {
    (field.serialization_alias or field.alias or name).lower()
    for name, field in CoreUser.model_fields.items()
} - {"schemas", "id", "externalid", "meta", "username", "displayname", "active", "emails"}
_IGNORED_SCHEMAS = {str(EnterpriseUser.__schema__).lower()}


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def _json(data: dict, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=SCIM_CONTENT_TYPE)
    if location:
        response["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    error = Error(status=status, detail=detail, scim_type=scim_type)
    return _json(error.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE), status=status)


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/scim/v2").rstrip("/")


def token_ok(request: HttpRequest) -> bool:
    expected = settings.STEWARD_SCIM_TOKEN
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def scim_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Bearer token, SCIM errors for every failure (never an HTML page), no CSRF: the caller is
    a server holding the token, not a browser with a session."""

    @csrf_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.STEWARD_SCIM_TOKEN:
            return _error(404, "SCIM provisioning is not enabled (STEWARD_SCIM_TOKEN).")
        if not token_ok(request):
            response = _error(401, "A valid bearer token is required.")
            response["WWW-Authenticate"] = 'Bearer realm="steward-scim"'
            return response
        try:
            return view(request, *args, **kwargs)
        except ScimError as exc:
            return _error(exc.status, exc.detail, exc.scim_type)
        except PermissionDenied as exc:
            return _error(403, str(exc) or "Not allowed.")
        except ValidationError as exc:
            return _error(400, "; ".join(exc.messages), "invalidValue")

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ScimError(400, "The body is not JSON.", "invalidSyntax") from None
    if not isinstance(data, dict):
        raise ScimError(400, "The body must be a JSON object.", "invalidSyntax")
    return data


def _validation_error(exc: pydantic.ValidationError, *, patch: bool = False) -> ScimError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") == "extra_forbidden":
        kind = "invalidPath" if patch else "invalidSyntax"
        return ScimError(400, f"Unknown attribute “{where}”.", kind)
    return ScimError(400, f"{where}: {first.get('msg')}", "invalidValue")


def _read(model: type[Resource], data: dict, context: Context) -> Resource:
    if model is StewardUser:
        data = {
            key: value
            for key, value in data.items()
            if key.lower() not in _IGNORED_USER_ATTRIBUTES and key.lower() not in _IGNORED_SCHEMAS
        }
        # An email's type, display and primary flag are sent by every provider; the primary
        # address (else the first) is what Steward keeps.
        for key in [k for k in data if k.lower() == "emails"]:
            if isinstance(data[key], list) and all(isinstance(e, dict) for e in data[key]):
                emails = sorted(data[key], key=lambda e: not e.get("primary"))
                data[key] = [
                    {k: v for k, v in e.items() if k.lower() not in {"type", "display", "primary"}}
                    for e in emails[:1]
                ]
        lowered = {k.lower() for k in data}
        if "displayname" not in lowered and "username" in lowered:
            data["displayName"] = next(v for k, v in data.items() if k.lower() == "username")
        if "active" not in lowered:
            data["active"] = True
        if isinstance(data.get("schemas"), list):
            data["schemas"] = [s for s in data["schemas"] if s.lower() not in _IGNORED_SCHEMAS]
    try:
        return model.model_validate(data, scim_ctx=context)
    except pydantic.ValidationError as exc:
        raise _validation_error(exc) from None


def _dump(resource: Resource, context: Context, parameters: Any = None) -> dict:
    return resource.model_dump(scim_ctx=context, response_parameters=parameters)


# --- people ↔ SCIM users ------------------------------------------------------------------------


def _user_out(request: HttpRequest, person: Person) -> StewardUser:
    location = f"{_base_url(request)}/Users/{person.pk}"
    link = getattr(person, "scim", None)
    return StewardUser(
        id=str(person.pk),
        external_id=(link.external_id or None) if link else None,
        user_name=person.user.get_username(),
        display_name=person.display_name,
        active=person.deactivated_at is None and person.user.is_active,
        emails=[UserEmail(value=person.email)] if person.email else None,
        meta=Meta(
            resource_type="User",
            created=person.created_at,
            last_modified=person.updated_at,
            location=location,
            version=f'W/"{int(person.updated_at.timestamp() * 1_000_000)}"',
        ),
    )


def _people():
    return Person.objects.select_related("user", "scim").filter(scim__isnull=False)


def _person(pk: str) -> Person:
    person = _people().filter(pk=pk).first() if pk.isdigit() else None
    if person is None:
        raise ScimError(404, f"No user {pk}.")
    return person


def _primary_email(user: StewardUser) -> str:
    emails = user.emails or []
    return (emails[0].value or "").strip() if emails else ""


def _display_name(user: StewardUser) -> str:
    name = (user.display_name or "").strip() or (user.user_name or "").strip()
    problem = name_problem(name)
    if problem:
        raise ScimError(400, f"displayName: {problem}", "invalidValue")
    return name[:200]


def _user_name(user: StewardUser) -> str:
    name = (user.user_name or "").strip()
    if not name or len(name) > 150:
        raise ScimError(400, "userName is required (150 characters at most).", "invalidValue")
    return name


def _user_apply(person: Person, user: StewardUser, *, new: bool = False) -> Person:
    """Write a SCIM user's attributes into the person and their account, then their state
    (`active`) through the leaver services."""
    account = person.user
    username = _user_name(user)
    others = get_user_model().objects.filter(username__iexact=username).exclude(pk=account.pk)
    if others.exists():
        raise ScimError(409, f"userName “{username}” is taken.", "uniqueness")
    email = _primary_email(user)
    account.username, account.email = username, email
    account.save(update_fields=["username", "email"])
    person.display_name, person.email = _display_name(user), email
    person.full_clean(exclude=["user"])
    person.save()
    ScimUser.objects.update_or_create(
        person=person, defaults={"external_id": (user.external_id or "")[:255]}
    )
    if user.active is False:
        services.person_deactivate(actor=None, person=person, source=services.Source.SCIM)
    elif user.active is True and not new:
        services.person_reactivate(actor=None, person=person, source=services.Source.SCIM)
    return _people().get(pk=person.pk)


def _user_create(user: StewardUser) -> Person:
    """A new person, or a link to the account that already has this userName (or this email):
    an identity provider taking over accounts Steward made itself."""
    username = _user_name(user)
    email = _primary_email(user)
    existing = Person.objects.select_related("user").filter(user__username__iexact=username)
    if not existing.exists() and email:
        existing = Person.objects.select_related("user").filter(email__iexact=email)
    person = existing.first()
    if person is not None:
        if ScimUser.objects.filter(person=person).exists():
            raise ScimError(409, f"userName “{username}” exists already.", "uniqueness")
    else:
        account = get_user_model()(username=username, email=email)
        account.set_unusable_password()
        account.save()
        person = person_create(
            actor=None, user=account, display_name=_display_name(user), email=email
        )
    return _user_apply(person, user, new=True)


# --- teams ↔ SCIM groups ------------------------------------------------------------------------


def _teams():
    return (
        Team.objects.select_related("scim")
        .prefetch_related("members__user")
        .filter(scim__isnull=False)
    )


def _team(pk: str) -> Team:
    team = _teams().filter(pk=pk).first() if pk.isdigit() else None
    if team is None:
        raise ScimError(404, f"No group {pk}.")
    return team


def _group_out(request: HttpRequest, team: Team) -> StewardGroup:
    base = _base_url(request)
    members = [
        GroupMember(value=str(p.pk), ref=f"{base}/Users/{p.pk}")
        for p in sorted(team.members.all(), key=lambda p: p.pk)
    ]
    return StewardGroup(
        id=str(team.pk),
        external_id=(team.scim.external_id or None),
        display_name=team.name,
        members=members or None,
        meta=Meta(
            resource_type="Group",
            location=f"{base}/Groups/{team.pk}",
        ),
    )


def _member_people(group: StewardGroup) -> list[Person]:
    ids = []
    for member in group.members or []:
        value = member.value or (
            str(member.ref).rstrip("/").rsplit("/", 1)[-1] if member.ref else ""
        )
        if not value.isdigit():
            raise ScimError(400, f"No user {value} to be a member.", "invalidValue")
        ids.append(int(value))
    people = list(Person.objects.select_related("user").filter(pk__in=ids))
    if len({p.pk for p in people}) != len(set(ids)):
        raise ScimError(400, "A member is not a known user.", "invalidValue")
    return people


def _it_group_sync(team: Team, people: list[Person]) -> None:
    """The members of a group named in STEWARD_SCIM_IT_GROUPS are IT staff, exactly."""
    if team.name not in settings.STEWARD_SCIM_IT_GROUPS:
        return
    it_group, _ = DjangoGroup.objects.get_or_create(name=settings.STEWARD_IT_GROUP)
    wanted = {p.user_id for p in people}
    current = set(it_group.user_set.values_list("pk", flat=True))
    it_group.user_set.remove(*(current - wanted))
    it_group.user_set.add(*(wanted - current))


def _group_name(group: StewardGroup) -> str:
    name = (group.display_name or "").strip()
    problem = name_problem(name) if name else "displayName is required."
    if problem:
        raise ScimError(400, f"displayName: {problem}", "invalidValue")
    return name[:200]


def _free_slug(name: str, team: Team | None) -> str:
    base = (slugify(name) or "team")[:90]
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exclude(pk=getattr(team, "pk", None)).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _group_write(group: StewardGroup, team: Team | None) -> Team:
    name = _group_name(group)
    people = _member_people(group)
    clash = Team.objects.filter(name__iexact=name).exclude(pk=getattr(team, "pk", None)).first()
    if team is None and clash is not None:
        if ScimGroup.objects.filter(team=clash).exists():
            raise ScimError(409, f"Group “{name}” exists already.", "uniqueness")
        team = clash  # a team Steward made: the identity provider takes it over
    elif clash is not None:
        raise ScimError(409, f"Group “{name}” exists already.", "uniqueness")
    if team is None:
        team = team_create(actor=None, members=people, name=name, slug=_free_slug(name, None))
    else:
        team = team_update(actor=None, team=team, members=people, name=name)
    ScimGroup.objects.update_or_create(
        team=team, defaults={"external_id": (group.external_id or "")[:255]}
    )
    _it_group_sync(team, people)
    return _teams().get(pk=team.pk)


# --- endpoints ----------------------------------------------------------------------------------


def _search(request: HttpRequest, model: type[Resource]) -> SearchRequest:
    if request.method == "POST":  # /.search: the same parameters, in a SearchRequest body
        params = {k: v for k, v in _body(request).items() if k != "schemas"}
    else:
        params = {key: request.GET.get(key) for key in request.GET}
    try:
        return SearchRequest[model].model_validate(params, scim_ctx=Context.SEARCH_REQUEST)
    except pydantic.ValidationError as exc:
        text = str(exc)
        kind = "invalidFilter" if "filter" in text.lower() else "invalidValue"
        raise ScimError(400, text.splitlines()[-1].strip()[:300], kind) from None
    except InvalidFilterException as exc:
        raise ScimError(400, str(exc), "invalidFilter") from None


def _matching(request: HttpRequest, search: SearchRequest, rows, out, *, strict: bool) -> list:
    resources = [out(request, row) for row in rows]
    if search.filter is None:
        return resources
    try:
        return [r for r in resources if search.filter.match(r, strict=strict)]
    except InvalidFilterException as exc:
        raise ScimError(400, str(exc), "invalidFilter") from None


def _listing(request: HttpRequest, model: type[Resource], rows, out) -> HttpResponse:
    search = _search(request, model)
    resources = _matching(request, search, rows, out, strict=True)
    return _page(model, search, resources)


def _page(model: Any, search: SearchRequest, resources: list) -> HttpResponse:
    start = max(search.start_index or 1, 1)
    count = MAX_COUNT if search.count is None else max(min(search.count, MAX_COUNT), 0)
    page = resources[start - 1 : start - 1 + count]
    response = ListResponse[model](
        total_results=len(resources), start_index=start, items_per_page=len(page), resources=page
    )
    return _json(response.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search))


def _one(request: HttpRequest, model: type[Resource]):
    return _search(request, model)  # attributes / excludedAttributes on a single resource


@scim_view
def users(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _listing(request, StewardUser, _people().order_by("pk"), _user_out)
    if request.method != "POST":
        raise ScimError(405, f"{request.method} is not allowed here.")
    user = _read(StewardUser, _body(request), Context.RESOURCE_CREATION_REQUEST)
    with transaction.atomic():
        person = _user_create(user)
    out = _user_out(request, person)
    return _json(_dump(out, Context.RESOURCE_CREATION_RESPONSE), 201, out.meta.location)


def _user_operations(data: dict) -> dict:
    """A user PATCH as the big providers send it, read as RFC 7644 means it: Entra ID writes
    `"op": "Replace"`, `"value": "False"` for `active`, and `emails[type eq "work"].value` for the
    address; attributes Steward ignores on POST are ignored here too."""
    operations = data.get("Operations")
    if not isinstance(operations, list):
        return data
    kept = []
    for operation in operations:
        if not isinstance(operation, dict):
            kept.append(operation)
            continue
        operation = dict(operation)
        if isinstance(operation.get("op"), str):
            operation["op"] = operation["op"].lower()
        path = operation.get("path")
        lowered = path.lower() if isinstance(path, str) else ""
        value = operation.get("value")
        if lowered == "active" and isinstance(value, str) and value.lower() in {"true", "false"}:
            operation["value"] = value.lower() == "true"
        elif lowered.startswith("emails[") and lowered.endswith("].value"):
            operation["path"] = "emails"
            if operation["op"] != "remove":
                operation["value"] = [{"value": value}]
        elif lowered:
            head = lowered.split("[", 1)[0].split(".", 1)[0]
            if head in _IGNORED_USER_ATTRIBUTES or any(
                lowered.startswith(urn) for urn in _IGNORED_SCHEMAS
            ):
                continue
        elif isinstance(value, dict):
            operation["value"] = {
                k: v
                for k, v in value.items()
                if k.lower().split(".", 1)[0] not in _IGNORED_USER_ATTRIBUTES
                and not any(k.lower().startswith(urn) for urn in _IGNORED_SCHEMAS)
            }
            if isinstance(operation["value"].get("active"), str):
                operation["value"]["active"] = operation["value"]["active"].lower() == "true"
        kept.append(operation)
    return {**data, "Operations": kept}


def _patch(model: type[Resource], current: Resource, data: dict) -> Resource:
    if model is StewardUser:
        data = _user_operations(data)
    try:
        patch = PatchOp[model].model_validate(data, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        patch.patch(current)
        return model.model_validate(
            current.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST),
            scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST,
        )
    except pydantic.ValidationError as exc:
        raise _validation_error(exc, patch=True) from None
    except (ValueError, LookupError) as exc:
        raise ScimError(400, str(exc)[:300], "invalidPath") from None


@scim_view
def user_detail(request: HttpRequest, pk: str) -> HttpResponse:
    person = _person(pk)
    if request.method == "GET":
        search = _one(request, StewardUser)
        return _json(_dump(_user_out(request, person), Context.RESOURCE_QUERY_RESPONSE, search))
    if request.method == "DELETE":
        with transaction.atomic():
            services.person_deactivate(actor=None, person=person, source=services.Source.SCIM)
            ScimUser.objects.filter(person=person).delete()
        return HttpResponse(status=204)
    if request.method == "PUT":
        user = _read(StewardUser, _body(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    elif request.method == "PATCH":
        user = _patch(StewardUser, _user_out(request, person), _body(request))
    else:
        raise ScimError(405, f"{request.method} is not allowed here.")
    with transaction.atomic():
        person = _user_apply(person, user)
    out = _user_out(request, person)
    return _json(_dump(out, Context.RESOURCE_REPLACEMENT_RESPONSE), 200, out.meta.location)


@scim_view
def groups(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _listing(request, StewardGroup, _teams().order_by("pk"), _group_out)
    if request.method != "POST":
        raise ScimError(405, f"{request.method} is not allowed here.")
    group = _read(StewardGroup, _body(request), Context.RESOURCE_CREATION_REQUEST)
    try:
        with transaction.atomic():
            team = _group_write(group, None)
    except IntegrityError:
        raise ScimError(409, "That group exists already.", "uniqueness") from None
    out = _group_out(request, team)
    return _json(_dump(out, Context.RESOURCE_CREATION_RESPONSE), 201, out.meta.location)


@scim_view
def group_detail(request: HttpRequest, pk: str) -> HttpResponse:
    team = _team(pk)
    if request.method == "GET":
        search = _one(request, StewardGroup)
        return _json(_dump(_group_out(request, team), Context.RESOURCE_QUERY_RESPONSE, search))
    if request.method == "DELETE":
        # The team stays (projects name it); it is no longer the identity provider's, and IT
        # staff status it gave is taken back.
        with transaction.atomic():
            _it_group_sync(team, [])
            ScimGroup.objects.filter(team=team).delete()
        return HttpResponse(status=204)
    if request.method == "PUT":
        group = _read(StewardGroup, _body(request), Context.RESOURCE_REPLACEMENT_REQUEST)
    elif request.method == "PATCH":
        group = _patch(StewardGroup, _group_out(request, team), _body(request))
    else:
        raise ScimError(405, f"{request.method} is not allowed here.")
    with transaction.atomic():
        team = _group_write(group, team)
    out = _group_out(request, team)
    return _json(_dump(out, Context.RESOURCE_REPLACEMENT_RESPONSE), 200, out.meta.location)


# --- discovery ----------------------------------------------------------------------------------


def _only_get(request: HttpRequest) -> None:
    if request.method != "GET":
        raise ScimError(405, f"{request.method} is not allowed on a discovery endpoint.")


@scim_view
def service_provider_config(request: HttpRequest) -> HttpResponse:
    _only_get(request)
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="Authorization: Bearer <STEWARD_SCIM_TOKEN>",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig",
            location=f"{_base_url(request)}/ServiceProviderConfig",
        ),
    )
    return _json(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


def _resource_type(request: HttpRequest, endpoint: str) -> ResourceType:
    kind = ResourceType.from_resource(RESOURCES[endpoint])
    kind.meta = Meta(
        resource_type="ResourceType", location=f"{_base_url(request)}/ResourceTypes/{kind.id}"
    )
    return kind


def _schema(request: HttpRequest, model: type[Resource]):
    schema = model.to_schema()
    schema.name = {"StewardUser": "User", "StewardGroup": "Group"}[schema.name]
    schema.description = f"Steward's {schema.name.lower()}s: what Steward keeps of them"
    schema.meta = Meta(resource_type="Schema", location=f"{_base_url(request)}/Schemas/{schema.id}")
    return schema


def _discovery_list(items: list, model: type) -> HttpResponse:
    response = ListResponse[model](
        total_results=len(items), start_index=1, items_per_page=len(items), resources=items
    )
    return _json(response.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@scim_view
def resource_types(request: HttpRequest, name: str | None = None) -> HttpResponse:
    _only_get(request)
    kinds = {k.id: k for k in (_resource_type(request, e) for e in RESOURCES)}
    if name is None:
        return _discovery_list(list(kinds.values()), ResourceType)
    if name not in kinds:
        raise ScimError(404, f"No resource type {name}.")
    return _json(kinds[name].model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@scim_view
def schemas(request: HttpRequest, urn: str | None = None) -> HttpResponse:
    _only_get(request)
    found = {s.id: s for s in (_schema(request, m) for m in RESOURCES.values())}
    if urn is None:
        from scim2_models import Schema

        return _discovery_list(list(found.values()), Schema)
    if urn not in found:
        raise ScimError(404, f"No schema {urn}.")
    return _json(found[urn].model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@scim_view
def search(request: HttpRequest, endpoint: str | None = None) -> HttpResponse:
    """POST …/.search (RFC 7644 §3.4.3): a query whose parameters are in the body."""
    if request.method != "POST":
        raise ScimError(405, "Searches are POSTed.")
    if endpoint == "Groups":
        return _listing(request, StewardGroup, _teams().order_by("pk"), _group_out)
    if endpoint == "Users":
        return _listing(request, StewardUser, _people().order_by("pk"), _user_out)
    # At the root: users and groups, an attribute only one of them has matching none of the
    # other (RFC 7644 §3.4.2.1).
    resources, searches, refusals = [], [], []
    for model, rows, out in (
        (StewardUser, _people().order_by("pk"), _user_out),
        (StewardGroup, _teams().order_by("pk"), _group_out),
    ):
        try:
            search = _search(request, model)
        except ScimError as exc:  # a filter on an attribute this type does not have
            refusals.append(exc)
            continue
        searches.append(search)
        resources += _matching(request, search, rows, out, strict=False)
    if not searches:
        raise refusals[0]
    return _page(StewardUser | StewardGroup, searches[0], resources)


@scim_view
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    raise ScimError(404, f"No SCIM endpoint /{rest}.")
