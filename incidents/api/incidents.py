"""The portal API: `incidents/` (with `updates/`, `resolve/`, `cause/`, `suspects/`) and
`status/`.

Every signed-in user reads incidents; the project's owners and maintainers, IT staff and admins
write them. A permission class refuses other roles per object before the body is parsed (for
`create`, the services refuse once the project is known). `status/` answers anonymous clients
too when `STEWARD_STATUS_PUBLIC` is true. Domain errors become 400 (naming the field) or 409
(e.g. an update to a resolved incident) in `steward.api`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from changes.models import Change, ImpactedProject, Release
from registry.models import Project
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, parse_input

from ..models import (
    PLANNED_CHANGE_SUMMARY,
    PUBLIC_SUMMARY_DEFAULT,
    PUBLIC_SUMMARY_HELP,
    Incident,
    IncidentUpdate,
    Outage,
)
from ..services import incidents as services
from ..status import OpenItem, project_status, status_overview, suspects_for


class IncidentWrites(permissions.BasePermission):
    """Signed-in users read; writes on an incident need the right to run its project's."""

    message = "Only the project's owners and maintainers or IT staff run its incidents."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request: Request, view: Any, obj: Incident) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return services.may_run_incidents(request.user, obj.project)


class StatusReaders(permissions.BasePermission):
    message = "Status pages are for signed-in people here."

    def has_permission(self, request: Request, view: Any) -> bool:
        return settings.STEWARD_STATUS_PUBLIC or bool(
            request.user and request.user.is_authenticated
        )


# --- serializers ---------------------------------------------------------------------------------


class IncidentUpdateOut(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IncidentUpdate
        fields = ("id", "status", "message", "author", "created_at")
        read_only_fields = fields


class IncidentOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    cause_change = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    cause_outage = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    cause_release = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    updates = IncidentUpdateOut(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = (
            "id",
            "project",
            "project_name",
            "title",
            "public_summary",
            "impact",
            "status",
            "started_at",
            "acknowledged_at",
            "resolved_at",
            "cause_change",
            "cause_outage",
            "cause_release",
            "opened_by",
            "created_at",
            "updated_at",
            "updates",
        )
        read_only_fields = fields


class IncidentIn(serializers.Serializer):
    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), help_text="Slug of the project."
    )
    title = serializers.CharField(max_length=services.MAX_TITLE, help_text="Internal wording.")
    public_summary = serializers.CharField(
        max_length=services.MAX_TITLE,
        allow_blank=True,
        required=False,
        help_text=PUBLIC_SUMMARY_HELP,
    )
    impact = serializers.ChoiceField(choices=Incident.Impact.choices, required=False)
    message = serializers.CharField(
        max_length=services.MAX_MESSAGE,
        allow_blank=True,
        required=False,
        help_text="The first public update; default “We are investigating.”",
    )
    started_at = serializers.DateTimeField(
        required=False, help_text="When the trouble began; default now, at most 30 days ago."
    )


class IncidentEditIn(serializers.Serializer):
    title = serializers.CharField(max_length=services.MAX_TITLE, required=False)
    public_summary = serializers.CharField(
        max_length=services.MAX_TITLE,
        allow_blank=True,
        required=False,
        help_text=PUBLIC_SUMMARY_HELP,
    )
    impact = serializers.ChoiceField(choices=Incident.Impact.choices, required=False)


class IncidentUpdateIn(serializers.Serializer):
    message = serializers.CharField(max_length=services.MAX_MESSAGE)
    status = serializers.ChoiceField(
        choices=Incident.Status.choices,
        required=False,
        help_text="The new status; `resolved` resolves the incident.",
    )
    impact = serializers.ChoiceField(choices=Incident.Impact.choices, required=False)


class IncidentResolveIn(serializers.Serializer):
    message = serializers.CharField(
        max_length=services.MAX_MESSAGE, allow_blank=True, required=False
    )


class IncidentCauseIn(serializers.Serializer):
    change = serializers.PrimaryKeyRelatedField(
        queryset=Change.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of the IT change that caused it.",
    )
    outage = serializers.PrimaryKeyRelatedField(
        queryset=Outage.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of the IT outage that caused it.",
    )
    release = serializers.PrimaryKeyRelatedField(
        queryset=Release.objects.all(),
        required=False,
        allow_null=True,
        help_text="Id of the release that caused it. Give none of the three to clear the cause.",
    )


class InternalTitleField(serializers.CharField):
    """IT's or the owners' own title: for signed-in readers; null for anonymous ones (the
    serializer's context says `public`), who get the public wording only."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault(
            "help_text", "Internal wording: null unless signed in; show `summary` to the public."
        )
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        return None if self.context.get("public") else super().to_representation(value)


class OpenItemOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[("incident", "incident"), ("outage", "outage")])
    id = serializers.IntegerField(source="pk")
    title = InternalTitleField()
    summary = serializers.CharField(
        source="public_title",
        help_text=f"Public wording: the public summary, else “{PUBLIC_SUMMARY_DEFAULT}”.",
    )
    state = serializers.CharField(help_text="What it does to the project: degraded, partial…")
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    acknowledged = serializers.SerializerMethodField(help_text="Someone is on it.")
    acknowledged_at = serializers.DateTimeField(
        allow_null=True, help_text="When someone first acknowledged it (no names here)."
    )

    def get_acknowledged(self, item: OpenItem) -> bool:
        return item.acknowledged_at is not None


class StatusSummaryOut(serializers.Serializer):
    project = serializers.SlugField(source="project.slug")
    project_name = serializers.CharField(source="project.name")
    state = serializers.CharField(
        source="issues.state", help_text="operational, degraded, partial or major."
    )
    open = OpenItemOut(many=True, source="issues.items")


class DayOut(serializers.Serializer):
    day = serializers.DateField()
    state = serializers.CharField()
    uptime = serializers.FloatField(help_text="Percent of the day not in a partial/major outage.")


class ChangeAheadOut(serializers.Serializer):
    id = serializers.IntegerField(source="change.pk")
    title = InternalTitleField(source="change.title")
    summary = serializers.SerializerMethodField(help_text="Public wording.")
    state = serializers.CharField(source="change.state")
    planned_start_at = serializers.DateTimeField(source="change.planned_start_at")
    planned_end_at = serializers.DateTimeField(source="change.planned_end_at")

    def get_summary(self, impact: ImpactedProject) -> str:
        return PLANNED_CHANGE_SUMMARY


class ProjectStatusOut(serializers.Serializer):
    project = serializers.SlugField(source="project.slug")
    project_name = serializers.CharField(source="project.name")
    at = serializers.DateTimeField()
    state = serializers.CharField(help_text="operational, degraded, partial or major.")
    open = OpenItemOut(many=True, source="issues.items")
    changes_ahead = ChangeAheadOut(many=True)
    uptime_90 = serializers.FloatField(
        help_text="Percent of the last 90 days' minutes not in a partial or major outage."
    )
    uptime_30 = serializers.FloatField()
    uptime_7 = serializers.FloatField()
    days = DayOut(many=True, help_text="The last 90 UTC days, oldest first.")


# --- viewsets ------------------------------------------------------------------------------------


def _incidents() -> QuerySet[Incident]:
    return Incident.objects.select_related("project", "opened_by").prefetch_related(
        Prefetch(
            "updates",
            queryset=IncidentUpdate.objects.select_related("author").order_by("created_at", "id"),
        )
    )


WRITE_RESPONSES = {400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT}


class SuspectOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["change", "outage", "release"])
    id = serializers.IntegerField(source="event.pk")
    title = serializers.CharField(source="event.title")
    url = serializers.SerializerMethodField(
        help_text="The change's or outage's page; a release's own link, or empty."
    )
    started_at = serializers.DateTimeField()
    hours_before = serializers.FloatField()
    system = serializers.CharField(
        source="system.slug",
        read_only=True,
        allow_null=True,
        help_text="The slug of the IT system it happened on; null for a project's own release.",
    )
    depth = serializers.IntegerField(help_text="Hops from the project; 0 for its own release.")
    path = serializers.ListField(child=serializers.CharField())
    path_display = serializers.CharField()
    is_cause = serializers.BooleanField()

    def get_url(self, suspect: Any) -> str:
        if suspect.kind == "release":
            return suspect.event.url
        return self.context["request"].build_absolute_uri(suspect.event.get_absolute_url())


@extend_schema_view(
    list=extend_schema(summary="Incidents, newest first (filter by project slug, status)"),
    retrieve=extend_schema(summary="One incident with its public updates"),
    create=extend_schema(
        request=IncidentIn,
        responses={201: IncidentOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Open an incident: its subscribers and owners are told",
    ),
    partial_update=extend_schema(
        request=IncidentEditIn,
        responses={200: IncidentOut, **WRITE_RESPONSES},
        summary="Fix an incident's title or impact (nobody is messaged)",
    ),
)
class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Project incidents with their public updates and cause."""

    serializer_class = IncidentOut
    permission_classes = [IncidentWrites]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_fields = {"project__slug": ["exact"], "status": ["exact"], "impact": ["exact"]}
    ordering_fields = ("started_at", "id")
    ordering = ("-started_at", "-id")

    def get_queryset(self) -> QuerySet[Incident]:
        return _incidents()

    def _render(self, incident: Incident, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(IncidentOut(_incidents().get(pk=incident.pk)).data, status=status_code)

    def create(self, request: Request) -> Response:
        incident = services.incident_open(actor=request.user, **parse_input(IncidentIn, request))
        return self._render(incident, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        services.incident_edit(
            actor=request.user, incident=incident, **parse_input(IncidentEditIn, request)
        )
        return self._render(incident)

    @extend_schema(
        methods=["GET"],
        responses=IncidentUpdateOut(many=True),
        summary="The incident's public updates, oldest first",
    )
    @extend_schema(
        methods=["POST"],
        request=IncidentUpdateIn,
        responses={201: IncidentUpdateOut, **WRITE_RESPONSES},
        summary="Post a public update; a resolved incident answers 409",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def updates(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        if request.method == "GET":
            return Response(IncidentUpdateOut(incident.updates.all(), many=True).data)
        update = services.incident_update_post(
            actor=request.user, incident=incident, **parse_input(IncidentUpdateIn, request)
        )
        return Response(IncidentUpdateOut(update).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=IncidentResolveIn,
        responses={200: IncidentOut, **WRITE_RESPONSES},
        summary="Resolve: subscribers and owners are told",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resolve(self, request: Request, pk: str) -> Response:
        incident = services.incident_resolve(
            actor=request.user,
            incident=self.get_object(),
            **parse_input(IncidentResolveIn, request),
        )
        return self._render(incident)

    @extend_schema(
        responses=SuspectOut(many=True),
        summary="Suspect changes, most suspect first",
        description="Releases of the project, and IT changes, outages and releases on the "
        "systems it depends on (transitively), that started in the 72 hours before it began.",
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def suspects(self, request: Request, pk: str) -> Response:
        suspects = suspects_for(self.get_object())
        return Response(SuspectOut(suspects, many=True, context={"request": request}).data)

    @extend_schema(
        request=IncidentCauseIn,
        responses={200: IncidentOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Name the IT change, outage or release that caused it (at most one), or clear it",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cause(self, request: Request, pk: str) -> Response:
        incident = self.get_object()
        data = parse_input(IncidentCauseIn, request)
        services.incident_cause_set(
            actor=request.user,
            incident=incident,
            change=data.get("change"),
            outage=data.get("outage"),
            release=data.get("release"),
        )
        return self._render(incident)


@extend_schema_view(
    list=extend_schema(
        responses=StatusSummaryOut(many=True),
        summary="Every project's current state and what is open on it",
    ),
    retrieve=extend_schema(
        responses=ProjectStatusOut,
        summary="One project's status: open items, changes ahead, 90 days, uptime",
    ),
)
class StatusViewSet(viewsets.GenericViewSet):
    """Project status as JSON (public when `STEWARD_STATUS_PUBLIC`)."""

    permission_classes = [StatusReaders]
    lookup_field = "slug"
    filter_backends: list = []
    serializer_class = ProjectStatusOut

    def get_queryset(self) -> QuerySet[Project]:
        # Retired apps keep their own status (by slug) but leave the overview, as on the page.
        if self.action == "list":
            return Project.objects.exclude(support_tier="retired").order_by("name", "id")
        return Project.objects.order_by("name", "id")

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        overview = status_overview(list(page))
        return self.get_paginated_response(
            StatusSummaryOut(
                [{"project": p, "issues": i} for p, i in overview.rows],
                many=True,
                context=self._wording(),
            ).data
        )

    def retrieve(self, request: Request, slug: str) -> Response:
        public = self._wording()["public"]
        status = project_status(self.get_object(), public=public)
        return Response(ProjectStatusOut(status, context=self._wording()).data)

    def _wording(self) -> dict[str, bool]:
        """Anonymous readers get public wording only: no internal titles, no names."""
        return {"public": not self.request.user.is_authenticated}
