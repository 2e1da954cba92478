"""Endpoints of the registry API. Each one parses, calls one service or selector, and renders.

Who may write is decided by the services (they raise PermissionDenied → 403); reading needs a
signed-in user (the default permission). Updates are PATCH only: a partial change is what every
client here sends, and the services take exactly the fields that are given.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from steward import login_throttle
from steward.api import (
    BAD_REQUEST,
    FORBIDDEN,
    ID,
    SLUG,
    WriteViewSet,
    parse_input,
    with_warnings,
    write_schemas,
)

from .. import permissions, selectors, services
from ..filters import (
    AuditFilter,
    DependencyFilter,
    PersonFilter,
    ProjectFilter,
    SystemFilter,
    TeamFilter,
)
from ..models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    Team,
)
from .serializers import (
    AuditEntryOut,
    ContactMethodIn,
    ContactMethodOut,
    DependencyIn,
    DependencyOut,
    DependencyUpdateIn,
    ImpactOut,
    PersonAddIn,
    PersonIn,
    PersonOut,
    ProjectIn,
    ProjectOut,
    ProjectRoleIn,
    ProjectRoleOut,
    SystemIn,
    SystemOut,
    TeamIn,
    TeamOut,
    TokenOut,
)

# --- auth -------------------------------------------------------------------------------------


class TokenView(ObtainAuthToken):
    """Exchange a username and password for an API token (the same token every time)."""

    # ObtainAuthToken names DRF's own parsers; these are the API's (JSON read strictly).
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: TokenOut,
            400: BAD_REQUEST,
            429: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="Too many failed attempts for this username or address; "
                "`Retry-After` says when to try again.",
            ),
        },
        auth=[],
        summary="Get an API token",
        tags=["auth"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The same failure counters as the sign-in page (steward/login_throttle.py).
        data = request.data if hasattr(request.data, "get") else {}
        username = str(data.get("username") or "")
        address = login_throttle.client_address(request)
        throttle = login_throttle.login_attempt_check(username=username, client_address=address)
        if not throttle.allowed:
            return Response(
                {"detail": throttle.message},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(throttle.retry_after)},
            )
        try:
            response = super().post(request, *args, **kwargs)
        except serializers.ValidationError:
            login_throttle.login_failure_record(username=username, client_address=address)
            raise
        login_throttle.login_success_record(username=username, client_address=address)
        return response


# --- people -------------------------------------------------------------------------------------


def _people() -> QuerySet[Person]:
    return Person.objects.select_related("user").prefetch_related(
        Prefetch("contact_methods", queryset=ContactMethod.objects.order_by("order", "id"))
    )


@extend_schema_view(
    create=extend_schema(
        request=PersonAddIn,
        responses={201: PersonOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Add someone before they sign in (IT staff)",
    ),
    partial_update=extend_schema(
        request=PersonIn,
        responses={200: PersonOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Change your own record",
    ),
)
class PersonViewSet(WriteViewSet):
    serializer_class = PersonOut
    filterset_class = PersonFilter
    ordering_fields = ("display_name", "id")
    lookup_value_regex = ID

    def get_queryset(self) -> QuerySet[Person]:
        return _people()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "at": timezone.now()}

    def create(self, request: Request) -> Response:
        services.require_allowed(permissions.is_it_staff(request.user))  # before reading the body
        person = services.person_add(actor=request.user, **parse_input(PersonAddIn, request))
        return self.render(person, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        person = self.get_object()
        services.person_update(
            actor=request.user, person=person, **parse_input(PersonIn, request, partial=True)
        )
        return self.render(person)


@extend_schema(parameters=[OpenApiParameter("person_pk", int, OpenApiParameter.PATH)])
@extend_schema_view(
    **write_schemas(request=ContactMethodIn, response=ContactMethodOut, noun="contact")
)
class ContactMethodViewSet(WriteViewSet):
    """A person's ways of being reached. Everyone signed in reads; the person (or admin) writes."""

    serializer_class = ContactMethodOut
    lookup_value_regex = ID
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[ContactMethod]:
        if getattr(self, "swagger_fake_view", False):
            return ContactMethod.objects.none()
        return ContactMethod.objects.filter(person_id=self.kwargs["person_pk"]).order_by(
            "order", "id"
        )

    def list(self, request: Request, person_pk: str) -> Response:
        get_object_or_404(Person, pk=person_pk)  # an unknown person is a 404, not an empty list
        return super().list(request, person_pk=person_pk)

    def create(self, request: Request, person_pk: str) -> Response:
        person = get_object_or_404(Person, pk=person_pk)
        method = services.contact_method_add(
            actor=request.user, person=person, **parse_input(ContactMethodIn, request)
        )
        return self.render(method, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, person_pk: str, pk: str) -> Response:
        method = self.get_object()
        services.contact_method_update(
            actor=request.user, method=method, **parse_input(ContactMethodIn, request, partial=True)
        )
        return self.render(method)

    def destroy(self, request: Request, person_pk: str, pk: str) -> Response:
        services.contact_method_remove(actor=request.user, method=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _renamed_warnings(instance: Project | ITSystem | Team, previous_name: str) -> list[str]:
    """The look-alike warnings of a write that renamed `instance` (none when it kept its name)."""
    return [] if instance.name == previous_name else selectors.lookalike_warnings(instance)


# --- teams --------------------------------------------------------------------------------------


@extend_schema_view(**write_schemas(request=TeamIn, response=with_warnings(TeamOut), noun="team"))
class TeamViewSet(WriteViewSet):
    """Teams. IT staff write."""

    queryset = Team.objects.prefetch_related("members")
    serializer_class = TeamOut
    filterset_class = TeamFilter
    ordering_fields = ("name", "slug")
    lookup_field = "slug"
    lookup_value_regex = SLUG

    def create(self, request: Request) -> Response:
        team = services.team_create(actor=request.user, **parse_input(TeamIn, request))
        return self.render(
            team, status_code=status.HTTP_201_CREATED, warnings=selectors.lookalike_warnings(team)
        )

    def partial_update(self, request: Request, slug: str) -> Response:
        team = self.get_object()
        previous_name = team.name
        services.team_update(
            actor=request.user, team=team, **parse_input(TeamIn, request, partial=True)
        )
        return self.render(team, warnings=_renamed_warnings(team, previous_name))

    def destroy(self, request: Request, slug: str) -> Response:
        services.team_delete(actor=request.user, team=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- projects -----------------------------------------------------------------------------------

HISTORY = extend_schema(
    responses=AuditEntryOut(many=True), summary="Audit trail, newest first (50 entries)"
)


@extend_schema_view(
    **write_schemas(request=ProjectIn, response=with_warnings(ProjectOut), noun="project")
)
class ProjectViewSet(WriteViewSet):
    """Projects. Any signed-in person registers one (and becomes its owner); its owners and
    maintainers edit it."""

    serializer_class = ProjectOut
    filterset_class = ProjectFilter
    ordering_fields = ("name", "slug", "support_tier", "last_reviewed_on", "created_at")
    lookup_field = "slug"
    lookup_value_regex = SLUG

    def get_queryset(self) -> QuerySet[Project]:
        roles = Prefetch(
            "roles", queryset=ProjectRole.objects.select_related("person").order_by("order", "id")
        )
        if self.action in {"history", "roles", "remove_role", "destroy"}:
            return Project.objects.all()  # these do not render the project itself
        return Project.objects.select_related("team").prefetch_related("aliases", "urls", roles)

    def create(self, request: Request) -> Response:
        project = services.project_create(actor=request.user, **parse_input(ProjectIn, request))
        return self.render(
            project,
            status_code=status.HTTP_201_CREATED,
            warnings=selectors.lookalike_warnings(project),
        )

    def partial_update(self, request: Request, slug: str) -> Response:
        project = self.get_object()
        previous_name = project.name
        services.project_update(
            actor=request.user, project=project, **parse_input(ProjectIn, request, partial=True)
        )
        return self.render(project, warnings=_renamed_warnings(project, previous_name))

    def destroy(self, request: Request, slug: str) -> Response:
        services.project_delete(actor=request.user, project=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=ProjectRoleIn,
        responses={201: ProjectRoleOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Give a person a role on the project (or change it)",
    )
    @action(detail=True, methods=["post"], url_path="roles", filter_backends=[])
    def roles(self, request: Request, slug: str) -> Response:
        role = services.project_role_set(
            actor=request.user, project=self.get_object(), **parse_input(ProjectRoleIn, request)
        )
        return Response(ProjectRoleOut(role).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("person_id", int, OpenApiParameter.PATH)],
        request=None,
        responses={204: None, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Take a person's role on the project away",
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"roles/(?P<person_id>{ID})",
        filter_backends=[],
    )
    def remove_role(self, request: Request, slug: str, person_id: str) -> Response:
        services.project_role_remove(
            actor=request.user,
            project=self.get_object(),
            person=get_object_or_404(Person, pk=person_id),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @HISTORY
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request: Request, slug: str) -> Response:
        entries = selectors.history_for(self.get_object())
        return Response(AuditEntryOut(entries, many=True).data)


# --- IT systems ---------------------------------------------------------------------------------


@extend_schema_view(
    **write_schemas(request=SystemIn, response=with_warnings(SystemOut), noun="IT system")
)
class SystemViewSet(WriteViewSet):
    """IT systems. IT staff write; only they see the integration key."""

    queryset = ITSystem.objects.select_related("team").prefetch_related("contacts")
    serializer_class = SystemOut
    filterset_class = SystemFilter
    ordering_fields = ("name", "slug", "kind")
    lookup_field = "slug"
    lookup_value_regex = SLUG

    def get_serializer_context(self) -> dict[str, Any]:
        return {
            **super().get_serializer_context(),
            "show_integration_key": permissions.is_it_staff(self.request.user),
        }

    def create(self, request: Request) -> Response:
        system = services.system_create(actor=request.user, **parse_input(SystemIn, request))
        return self.render(
            system,
            status_code=status.HTTP_201_CREATED,
            warnings=selectors.lookalike_warnings(system),
        )

    def partial_update(self, request: Request, slug: str) -> Response:
        system = self.get_object()
        previous_name = system.name
        services.system_update(
            actor=request.user, system=system, **parse_input(SystemIn, request, partial=True)
        )
        return self.render(system, warnings=_renamed_warnings(system, previous_name))

    def destroy(self, request: Request, slug: str) -> Response:
        services.system_delete(actor=request.user, system=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses=ImpactOut,
        summary="Projects this system holds up, transitively",
        description="Each project once, by its shortest path (ties: the all-hard one).",
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def impact(self, request: Request, slug: str) -> Response:
        system = self.get_object()
        impacted = selectors.impacted_projects_for([system])
        return Response(
            ImpactOut({"system": system.slug, "count": len(impacted), "projects": impacted}).data
        )

    @HISTORY
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def history(self, request: Request, slug: str) -> Response:
        entries = selectors.history_for(self.get_object())
        return Response(AuditEntryOut(entries, many=True).data)


# --- dependencies -------------------------------------------------------------------------------


@extend_schema_view(
    **{
        **write_schemas(request=DependencyIn, response=DependencyOut, noun="dependency"),
        "partial_update": extend_schema(
            request=DependencyUpdateIn,
            responses={200: DependencyOut, 400: BAD_REQUEST, 403: FORBIDDEN},
            summary="Change a dependency's criticality or note",
        ),
    }
)
class DependencyViewSet(WriteViewSet):
    """Edges from a project or an IT system to an IT system. IT staff write any edge; a
    project's editors write the edges that start at their project."""

    queryset = Dependency.objects.select_related(
        "source_project", "source_system", "target_system"
    ).order_by("id")
    serializer_class = DependencyOut
    filterset_class = DependencyFilter
    ordering_fields = ("id", "created_at", "criticality")
    lookup_value_regex = ID

    def create(self, request: Request) -> Response:
        edge = services.dependency_add(actor=request.user, **parse_input(DependencyIn, request))
        return self.render(edge, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        edge = self.get_object()
        services.dependency_update(
            actor=request.user,
            dependency=edge,
            **parse_input(DependencyUpdateIn, request, partial=True),
        )
        return self.render(edge)

    def destroy(self, request: Request, pk: str) -> Response:
        services.dependency_remove(actor=request.user, dependency=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- audit --------------------------------------------------------------------------------------


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Who changed which registry object, when, with each field before and after."""

    queryset = AuditEntry.objects.select_related("actor")
    serializer_class = AuditEntryOut
    filterset_class = AuditFilter
    ordering_fields = ("recorded_at", "id")
    lookup_value_regex = ID
