"""API of on-call: `rotations/` (with layers, `oncall/?at=`, `overrides/`),
`escalation-policies/` and who supports a project now (`projects/{slug}/support/`). Each endpoint
parses, calls one service or selector, and renders; the services check permissions (403) and
validate (400 naming the field, nothing written)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from registry.api.serializers import LOCAL_TIME
from registry.models import ITSystem, Person, Project, ProjectRole, Team
from registry.selectors import Supporter
from registry.validators import WEEKDAYS
from steward import fragments
from steward.api import BAD_REQUEST, FORBIDDEN, ID, WriteViewSet, parse_input, write_schemas

from . import schedule, services
from .current import oncall_now, project_slugs
from .models import EscalationLevel, EscalationPolicy, Override, Rotation, RotationLayer
from .selectors import CONTACT_REASONS, support_for

# --- serializers ----------------------------------------------------------------------------------


class LayerOut(serializers.ModelSerializer):
    members = serializers.SerializerMethodField(help_text="Person ids, in turn order.")
    # Wall times in the layer's zone, without an offset: not JSON Schema's format "time",
    # which requires one.
    handoff_time = serializers.CharField(read_only=True, help_text="HH:MM:SS, local.")
    restrict_start = serializers.CharField(read_only=True, allow_null=True)
    restrict_end = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = RotationLayer
        fields = (
            "id",
            "order",
            "name",
            "time_zone",
            "start_date",
            "handoff_time",
            "length",
            "length_count",
            "restrict_start",
            "restrict_end",
            "restrict_days",
            "members",
        )

    def get_members(self, layer: RotationLayer) -> list[int]:
        return [m.person_id for m in layer.memberships.all()]


class OverrideOut(serializers.ModelSerializer):
    class Meta:
        model = Override
        fields = ("id", "person", "covered", "start_at", "end_at", "reason")


class RotationOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    layers = LayerOut(many=True, read_only=True)
    overrides = OverrideOut(many=True, read_only=True, help_text="Overrides not yet over.")

    class Meta:
        model = Rotation
        fields = ("id", "name", "project", "team", "system", "layers", "overrides")


class LayerIn(serializers.Serializer):
    order = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    # The service validates the zone, so that the error names it the same way everywhere.
    time_zone = serializers.CharField(max_length=64)
    start_date = serializers.DateField()
    handoff_time = serializers.TimeField()
    length = serializers.ChoiceField(choices=RotationLayer.Length.choices)
    length_count = serializers.IntegerField(min_value=1, max_value=744, required=False)
    restrict_start = serializers.TimeField(required=False, allow_null=True)
    restrict_end = serializers.TimeField(required=False, allow_null=True)
    restrict_days = serializers.ListField(
        child=serializers.ChoiceField(choices=WEEKDAYS), required=False, max_length=7
    )
    members = serializers.PrimaryKeyRelatedField(
        queryset=Person.objects.all(), many=True, allow_empty=True
    )


def _system_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ITSystem.objects.all(),
        required=False,
        allow_null=True,
        **kwargs,
    )


class RotationIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), required=False, allow_null=True
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), required=False, allow_null=True
    )
    system = _system_field(help_text="An IT system's own rotation (IT staff only).")
    layers = LayerIn(many=True, required=False, help_text="Replaces every layer when given.")


class OverrideIn(serializers.Serializer):
    person = serializers.PrimaryKeyRelatedField(queryset=Person.objects.all())
    covered = serializers.PrimaryKeyRelatedField(
        queryset=Person.objects.all(), required=False, allow_null=True
    )
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class OnCallPersonOut(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    name = serializers.CharField(source="person.display_name")
    time_zone = serializers.CharField(source="person.time_zone")
    layer = serializers.IntegerField(source="layer.pk", allow_null=True, default=None)
    override = serializers.IntegerField(source="override.pk", allow_null=True, default=None)


class ShiftOut(OnCallPersonOut):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class OnCallOut(serializers.Serializer):
    rotation = serializers.IntegerField()
    at = serializers.DateTimeField()
    on_call = OnCallPersonOut(allow_null=True, help_text="Null when nobody is on call.")
    next = ShiftOut(allow_null=True, help_text="Who takes over next, and when.")


class LevelOut(serializers.ModelSerializer):
    class Meta:
        model = EscalationLevel
        fields = ("order", "target", "rotation", "person", "team", "delay_minutes")


class PolicyOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    levels = LevelOut(many=True, read_only=True)

    class Meta:
        model = EscalationPolicy
        fields = ("id", "project", "system", "repeat_count", "levels")


class LevelIn(serializers.Serializer):
    target = serializers.ChoiceField(choices=EscalationLevel.Target.choices)
    rotation = serializers.PrimaryKeyRelatedField(
        queryset=Rotation.objects.all(), required=False, allow_null=True
    )
    person = serializers.PrimaryKeyRelatedField(
        queryset=Person.objects.all(), required=False, allow_null=True
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    delay_minutes = serializers.IntegerField(min_value=0, max_value=1440, default=10)


class PolicyIn(serializers.Serializer):
    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), required=False, allow_null=True
    )
    system = _system_field(help_text="An IT system's policy (IT staff only); else give project.")
    repeat_count = serializers.IntegerField(min_value=0, max_value=10, default=2)
    levels = LevelIn(many=True, allow_empty=True)


class PolicyUpdateIn(serializers.Serializer):
    repeat_count = serializers.IntegerField(min_value=0, max_value=10, required=False)
    levels = LevelIn(many=True, required=False, allow_empty=True)


# A supporter's role: a project role, or `on_call` / `on_call_next` for the rotations' entries (named in
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] so it does not collide with the project roles).
SUPPORTER_ROLES = [
    *ProjectRole.Role.choices,
    ("on_call", "On call"),
    ("on_call_next", "On call next"),
]


class SupporterOut(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    name = serializers.CharField(source="person.display_name")
    email = serializers.EmailField(source="person.email")
    # The rotations' entries say `on_call`; the others, the project role.
    role = serializers.ChoiceField(choices=SUPPORTER_ROLES)
    order = serializers.IntegerField()
    time_zone = serializers.CharField(source="person.time_zone")
    local_time = serializers.SerializerMethodField(
        help_text="The person's wall clock, ISO 8601 with its UTC offset."
    )
    in_working_hours = serializers.BooleanField()
    rotation = serializers.CharField(help_text="On-call entries: the rotation; else empty.")
    shift_start = serializers.DateTimeField(
        allow_null=True, help_text="On call next: when they take over."
    )
    shift_end = serializers.DateTimeField(
        allow_null=True, help_text="On-call entries: when someone else takes over, if known."
    )

    # Not a DateTimeField: that would convert to the server's zone, and the point is theirs.
    @extend_schema_field(LOCAL_TIME)
    def get_local_time(self, supporter: Supporter) -> str:
        return supporter.local_time.isoformat()


class ContactOut(SupporterOut):
    reason = serializers.ChoiceField(
        choices=CONTACT_REASONS,
        help_text="Why they are listed: on call now; the first other supporter in working hours; "
        "an owner.",
    )


class SupportOut(serializers.Serializer):
    project = serializers.SlugField(source="project.slug")
    at = serializers.DateTimeField(help_text="The moment this answer is for.")
    help_channel = serializers.CharField(source="project.help_channel")
    runbook_url = serializers.CharField(source="project.runbook_url")
    anyone_in_working_hours = serializers.BooleanField(source="anyone_awake")
    contact_now = ContactOut(
        many=True,
        help_text="Who to contact now, in order: on call now, then the first other supporter in "
        "working hours, then the owners not listed yet; each person once.",
    )
    on_call_now = SupporterOut(many=True, help_text="From the on-call rotations.")
    on_call_next = SupporterOut(many=True, help_text="From the on-call rotations.")
    owners = SupporterOut(many=True)
    maintainers = SupporterOut(many=True)
    backups = SupporterOut(many=True)


# --- rotations ------------------------------------------------------------------------------------


def _moment_asked(request: Request) -> datetime:
    """`?at=` (ISO 8601 with an offset; a `+` sent unescaped reads as a space), else now."""
    raw = request.query_params.get("at", "").replace(" ", "+")
    if not raw:
        return timezone.now()
    try:
        at = parse_datetime(raw)
    except ValueError:
        at = None
    if at is None or timezone.is_naive(at):
        raise ApiValidationError({"at": ["Give an ISO 8601 date-time with an offset."]})
    return at


AT = OpenApiParameter(
    "at",
    OpenApiTypes.DATETIME,
    description="The moment asked about, ISO 8601 with an offset (default: now).",
)


@extend_schema_view(
    **write_schemas(request=RotationIn, response=RotationOut, noun="rotation"),
    list=extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Only this project's (slug)."),
            OpenApiParameter("system", str, description="Only this IT system's (slug)."),
        ]
    ),
)
class RotationViewSet(WriteViewSet):
    """On-call rotations of projects, teams and IT systems. A project's owners and maintainers
    write its rotations; IT staff and a team's members write the team's; IT staff an IT
    system's."""

    serializer_class = RotationOut
    lookup_value_regex = ID
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Rotation]:
        queryset = (
            schedule.rotations_queryset(overrides_after=timezone.now())
            .select_related("project", "team", "system")
            .order_by("id")
        )
        if self.request and self.action == "list":
            for owner in ("project", "system"):
                slug = self.request.query_params.get(owner)
                if slug:
                    queryset = queryset.filter(**{f"{owner}__slug": slug})
        return queryset

    def create(self, request: Request) -> Response:
        data = parse_input(RotationIn, request)
        rotation = services.rotation_save(actor=request.user, **data)
        return self.render(rotation, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        rotation = self.get_object()
        # Refused before parsing: an empty PATCH from someone else must not answer 200.
        services._require_rotation(request.user, rotation)
        data = parse_input(RotationIn, request, partial=True)
        layers = data.pop("layers", None)
        if {"project", "team", "system"} & set(data):
            raise ApiValidationError({"project": ["A rotation cannot move to another owner."]})
        services.rotation_save(actor=request.user, rotation=rotation, layers=layers, **data)
        return self.render(rotation)

    def destroy(self, request: Request, pk: str) -> Response:
        services.rotation_delete(actor=request.user, rotation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[AT],
        responses={200: OnCallOut, 400: BAD_REQUEST},
        summary="Who is on call at a moment, and who is next",
    )
    @action(detail=True, methods=["get"])
    def oncall(self, request: Request, pk: str) -> Response:
        at = _moment_asked(request)
        rotation = schedule.rotations_queryset().get(pk=self.get_object().pk)
        current = schedule.oncall_at(rotation, at)
        upcoming = schedule.next_oncall(rotation, at)
        body = {"rotation": rotation.pk, "at": at, "on_call": current, "next": upcoming}
        return Response(OnCallOut(body).data)

    @extend_schema(
        request=OverrideIn,
        responses={201: OverrideOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Add an override: someone covers from start_at to end_at",
    )
    @action(detail=True, methods=["post"])
    def overrides(self, request: Request, pk: str) -> Response:
        rotation = self.get_object()
        override = services.override_create(
            actor=request.user, rotation=rotation, **parse_input(OverrideIn, request)
        )
        return Response(OverrideOut(override).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None, 403: FORBIDDEN}, summary="Remove an override of this rotation"
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"overrides/(?P<override_pk>[0-9]+)",
        url_name="override-detail",
    )
    def remove_override(self, request: Request, pk: str, override_pk: str) -> Response:
        override = get_object_or_404(Override, pk=override_pk, rotation_id=self.get_object().pk)
        services.override_delete(actor=request.user, override=override)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- escalation policies --------------------------------------------------------------------------


def _levels(data: list[dict]) -> list[dict]:
    return [dict(level) for level in data]


@extend_schema_view(
    **{
        **write_schemas(request=PolicyIn, response=PolicyOut, noun="escalation policy"),
        "partial_update": extend_schema(
            request=PolicyUpdateIn,
            responses={200: PolicyOut, 400: BAD_REQUEST, 403: FORBIDDEN},
            summary="Change the levels (replaced as a whole) or the repeat count",
        ),
    }
)
class EscalationPolicyViewSet(WriteViewSet):
    """A project's or an IT system's escalation policy: levels in order, each a target and a
    delay, then repeats. Pages already under way keep the levels they started with."""

    serializer_class = PolicyOut
    lookup_value_regex = ID
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        return (
            EscalationPolicy.objects.select_related("project", "system")
            .prefetch_related("levels")
            .order_by("id")
        )

    def create(self, request: Request) -> Response:
        data = parse_input(PolicyIn, request)
        policy = services.escalation_policy_create(
            actor=request.user,
            project=data.get("project"),
            system=data.get("system"),
            repeat_count=data["repeat_count"],
            levels=_levels(data["levels"]),
        )
        return self.render(policy, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        policy = self.get_object()
        data = parse_input(PolicyUpdateIn, request)
        services.escalation_policy_update(
            actor=request.user,
            policy=policy,
            repeat_count=data.get("repeat_count"),
            levels=_levels(data["levels"]) if "levels" in data else None,
        )
        return self.render(policy)

    def destroy(self, request: Request, pk: str) -> Response:
        services.escalation_policy_delete(actor=request.user, policy=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- who supports a project now -------------------------------------------------------------------


class ProjectSupportView(GenericAPIView):
    """`projects/{slug}/support/`: the registry's project, read with its on-call rotations."""

    queryset = Project.objects.prefetch_related(
        Prefetch(
            "roles", queryset=ProjectRole.objects.select_related("person").order_by("order", "id")
        )
    )
    lookup_field = "slug"
    filter_backends: list = []

    @extend_schema(
        responses=SupportOut,
        summary="Who supports it now",
        description="Who to contact now (`contact_now`), then owners, maintainers and backups "
        "in order, each with their local time and whether they are in working hours; "
        "`on_call_*` come from the rotations.",
    )
    def get(self, request: Request, slug: str) -> Response:
        # Kept between requests until the registry changes, for the minute (`steward.fragments`),
        # as the project page's: who is on call, local times and working hours are what they were
        # when `at` says. The same for every reader but for the zone its times are written in.
        # Reading the project and its people through the ORM was most of an answer's cost.
        now = timezone.now()

        def answer() -> tuple[str, bool]:
            support = support_for(self.get_object(), at=now)  # 404 for an unknown slug
            return json.dumps(_SUPPORT_OUT.to_representation(support)), True

        parts = (slug, timezone.get_current_timezone_name())
        return Response(json.loads(fragments.cached_fragment("support", parts, answer, now=now)))


# Its fields are bound once, not per answer: building them (a deep copy of some sixty fields
# through six nested lists) cost more than turning an answer into JSON. They keep nothing
# between answers, and none reads the request or a context.
_SUPPORT_OUT = SupportOut()


# --- who is on call now, everywhere ---------------------------------------------------------------


class NowPersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class OnCallNowOut(serializers.Serializer):
    """The shape `OnCallNowView` writes (by hand: ten thousand rows through serializer fields
    cost more than working out who is on call)."""

    project = serializers.SlugField(help_text="The project's slug.")
    rotation = serializers.IntegerField()
    person = NowPersonOut()
    layer = serializers.IntegerField(allow_null=True, help_text="The layer whose turn it is.")
    override = serializers.IntegerField(allow_null=True, help_text="The override that applies.")
    until = serializers.DateTimeField(
        help_text="The answer holds at least until then (the next handoff, window edge, "
        "override or time off); it may hold longer."
    )


class OnCallNowView(GenericAPIView):
    """`oncall/now/`: who is on call on every project's rotations, for a status board."""

    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        parameters=[AT],
        responses={200: OnCallNowOut(many=True), 400: BAD_REQUEST},
        summary="Who is on call now on every project",
        description="One entry per project rotation with someone on call, by project slug then "
        "the project's rotations in order. Projects with nobody on call are left out.",
    )
    def get(self, request: Request) -> Response:
        at = _moment_asked(request)
        answers = oncall_now(at=at)
        slugs = project_slugs(answers)
        body = [
            {
                "project": slugs[project_id],
                "rotation": call.rotation_id,
                "person": {"id": call.person.pk, "display_name": call.person.display_name},
                "layer": call.layer_id,
                "override": call.override_id,
                "until": call.until.isoformat().replace("+00:00", "Z"),
            }
            for project_id in sorted(answers, key=lambda pk: slugs.get(pk, ""))
            if project_id in slugs
            for call in answers[project_id]
        ]
        return Response(body)
