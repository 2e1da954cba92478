"""The IT outages API: `outages/`, their updates, resolution and impact previews.

Every signed-in user reads; IT staff write (the services decide, and a permission class refuses
other roles before the body is even parsed, so a reader gets 403 whatever they send). Systems are
addressed by slug. Domain errors become 400 (naming the field) or 409 (naming the transition) in
`steward.api`.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from changes.api import (
    MAX_TEXT,
    ImpactedSnapshotOut,
    ITStaffWrites,
    PreviewIn,
    PreviewOut,
    impact_preview_answer,
    systems_field,
)
from changes.models import Change, ImpactedProject
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, parse_input

from ..models import PUBLIC_SUMMARY_HELP, Outage, OutageUpdate
from ..services import outages as services


class OutageUpdateOut(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = OutageUpdate
        fields = ("id", "status", "message", "author", "created_at")
        read_only_fields = fields


class OutageOut(serializers.ModelSerializer):
    systems = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    impacted = ImpactedSnapshotOut(many=True, read_only=True)
    updates = OutageUpdateOut(many=True, read_only=True)

    class Meta:
        model = Outage
        fields = (
            "id",
            "title",
            "public_summary",
            "description",
            "severity",
            "status",
            "systems",
            "started_at",
            "resolved_at",
            "opened_by",
            "dedup_key",
            "cause_change",
            "created_at",
            "updated_at",
            "impacted",
            "updates",
        )
        read_only_fields = fields


class OutageIn(serializers.Serializer):
    title = serializers.CharField(max_length=200, help_text="Internal: IT's own wording.")
    public_summary = serializers.CharField(
        max_length=200, allow_blank=True, required=False, help_text=PUBLIC_SUMMARY_HELP
    )
    description = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)
    severity = serializers.ChoiceField(choices=Outage.Severity.choices, required=False)
    systems = systems_field(allow_empty=True)
    started_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    dedup_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="One open outage per key (inbound alerts).",
    )


class OutageUpdateIn(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Outage.Status.choices,
        required=False,
        help_text="The new status; `resolved` resolves the outage.",
    )
    message = serializers.CharField(max_length=MAX_TEXT)
    public_summary = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        help_text=f"{PUBLIC_SUMMARY_HELP} Left out: unchanged.",
    )


class OutageCauseIn(serializers.Serializer):
    change = serializers.PrimaryKeyRelatedField(
        queryset=Change.objects.all(),
        allow_null=True,
        help_text="The id of the IT change that caused the outage; null clears it.",
    )


class OutageResolveIn(serializers.Serializer):
    message = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)


def _outages() -> QuerySet[Outage]:
    return Outage.objects.select_related("opened_by").prefetch_related(
        "systems",
        Prefetch(
            "impacted",
            queryset=ImpactedProject.objects.select_related("project").order_by(
                "depth", "project__name"
            ),
        ),
        Prefetch(
            "updates",
            queryset=OutageUpdate.objects.select_related("author").order_by("created_at", "id"),
        ),
    )


@extend_schema_view(
    create=extend_schema(
        request=OutageIn,
        responses={201: OutageOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Open an outage: pages every touched project's responders at once",
    ),
)
class OutageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Unplanned IT outages, their timeline of updates and the projects they touch."""

    serializer_class = OutageOut
    permission_classes = [ITStaffWrites]
    filterset_fields = ("status", "severity")
    ordering_fields = ("started_at", "id")
    ordering = ("-started_at", "-id")
    # `updates` answers GET (everyone) and POST (IT staff).
    it_staff_actions = ("create", "updates:POST", "resolve", "cause")

    def get_queryset(self) -> QuerySet[Outage]:
        return _outages()

    def _render(self, outage: Outage, *, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(OutageOut(self.get_queryset().get(pk=outage.pk)).data, status=status_code)

    def create(self, request: Request) -> Response:
        outage = services.outage_open(actor=request.user, **parse_input(OutageIn, request))
        return self._render(outage, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"], responses=OutageUpdateOut(many=True), summary="The outage's timeline"
    )
    @extend_schema(
        methods=["POST"],
        request=OutageUpdateIn,
        responses={201: OutageUpdateOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Post an update (owners get a notice, not a page)",
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def updates(self, request: Request, pk: str) -> Response:
        outage = self.get_object()
        if request.method == "GET":
            return Response(OutageUpdateOut(outage.updates.all(), many=True).data)
        update = services.outage_update(
            actor=request.user, outage=outage, **parse_input(OutageUpdateIn, request)
        )
        return Response(OutageUpdateOut(update).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=OutageResolveIn,
        responses={200: OutageOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Resolve: stops every page's escalation and tells the owners",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resolve(self, request: Request, pk: str) -> Response:
        outage = services.outage_resolve(
            actor=request.user, outage=self.get_object(), **parse_input(OutageResolveIn, request)
        )
        return self._render(outage)

    @extend_schema(
        request=OutageCauseIn,
        responses={200: OutageOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Name the IT change that caused the outage (null clears it)",
        description="Counted in the history shown on later changes to the same systems.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cause(self, request: Request, pk: str) -> Response:
        outage = services.outage_cause_set(
            actor=request.user, outage=self.get_object(), **parse_input(OutageCauseIn, request)
        )
        return self._render(outage)

    @extend_schema(
        request=PreviewIn,
        responses={200: PreviewOut, 400: BAD_REQUEST},
        summary="Preview the impact of an outage on these systems",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def preview(self, request: Request) -> Response:
        return impact_preview_answer(request)
