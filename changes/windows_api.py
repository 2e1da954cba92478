"""The API of maintenance windows and blackouts: `maintenance-windows/` (bare windows IT opens,
and changes' windows, read-only here) and `blackouts/` (change freezes).

Everyone signed in reads; IT staff write, refused before the body is read. Bad input is a 400
naming the field (an unknown time zone, an RRULE that does not parse, an end before the start).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.models import ITSystem
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, METHODS, parse_input

from . import windows
from .api import ITStaffWrites, MaintenanceWindowOut, systems_field
from .models import Blackout, HeldAlert, MaintenanceWindow

# --- maintenance windows ---------------------------------------------------------------------


class MaintenanceWindowIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    systems = systems_field(help_text="Slugs of the IT systems in maintenance.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


def _windows() -> QuerySet[MaintenanceWindow]:
    return MaintenanceWindow.objects.prefetch_related(
        "systems", Prefetch("held", queryset=HeldAlert.objects.select_related("system"))
    ).order_by("-starts_at", "-id")


@extend_schema_view(
    create=extend_schema(
        request=MaintenanceWindowIn,
        responses={201: MaintenanceWindowOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Open a maintenance window without a change",
        description="Alerts from these systems during the window are held (stored, shown, "
        "paging nobody); what still fires when it ends pages as usual, once.",
    ),
)
class MaintenanceWindowViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Maintenance windows: changes' (follow their change) and bare ones, with held alerts."""

    serializer_class = MaintenanceWindowOut
    permission_classes = [ITStaffWrites]
    http_method_names = METHODS
    it_staff_actions = ("create", "end")
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[MaintenanceWindow]:
        return _windows()

    def create(self, request: Request) -> Response:
        window = windows.maintenance_window_open(
            actor=request.user, **parse_input(MaintenanceWindowIn, request)
        )
        fresh = self.get_queryset().get(pk=window.pk)
        return Response(MaintenanceWindowOut(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: MaintenanceWindowOut, 403: FORBIDDEN, 409: CONFLICT},
        summary="End a bare maintenance window now",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def end(self, request: Request, pk: str) -> Response:
        window = windows.maintenance_window_end(actor=request.user, window=self.get_object())
        return Response(MaintenanceWindowOut(self.get_queryset().get(pk=window.pk)).data)


# --- blackouts -------------------------------------------------------------------------------


class WallClockOut(serializers.CharField):
    """A local wall-clock time, `HH:MM`, without an offset (the blackout's zone gives it)."""

    def to_representation(self, value) -> str:
        return value.strftime("%H:%M")


class BlackoutOut(serializers.ModelSerializer):
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    start_time = WallClockOut(read_only=True, help_text="Local wall-clock start, HH:MM.")
    end_time = WallClockOut(read_only=True, help_text="Local wall-clock end, HH:MM.")

    class Meta:
        model = Blackout
        fields = ("id", *windows.BLACKOUT_FIELDS, "first_start_at", "last_end_at", "created_at")
        read_only_fields = fields


class BlackoutIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    reason = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    system = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ITSystem.objects.all(),
        allow_null=True,
        required=False,
        help_text="The IT system frozen; empty or null: company-wide.",
    )
    time_zone = serializers.CharField(max_length=64, help_text="IANA zone of the times below.")
    start_date = serializers.DateField(help_text="First occurrence's local start date.")
    start_time = serializers.TimeField(help_text="Local wall-clock start.")
    end_date = serializers.DateField(help_text="First occurrence's local end date.")
    end_time = serializers.TimeField(help_text="Local wall-clock end.")
    rrule = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        help_text="RFC 5545 RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=SA; empty: once. "
        "Each occurrence keeps its local times across DST changes.",
    )


@extend_schema_view(
    create=extend_schema(
        request=BlackoutIn,
        responses={201: BlackoutOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Set a blackout (change freeze): company-wide or on one system, once or repeating",
    ),
    partial_update=extend_schema(
        request=BlackoutIn,
        responses={200: BlackoutOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Change a blackout",
    ),
    destroy=extend_schema(responses={204: None, 403: FORBIDDEN}, summary="Remove a blackout"),
)
class BlackoutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Change freezes: scheduling a change into one needs a written justification."""

    serializer_class = BlackoutOut
    permission_classes = [ITStaffWrites]
    http_method_names = METHODS
    it_staff_actions = ("create", "partial_update", "destroy")
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Blackout]:
        return Blackout.objects.select_related("system").order_by("first_start_at", "id")

    def create(self, request: Request) -> Response:
        blackout = windows.blackout_save(actor=request.user, **parse_input(BlackoutIn, request))
        return Response(BlackoutOut(blackout).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        blackout = windows.blackout_save(
            actor=request.user,
            blackout=self.get_object(),
            **parse_input(BlackoutIn, request, partial=True),
        )
        return Response(BlackoutOut(blackout).data)

    def destroy(self, request: Request, pk: str) -> Response:
        windows.blackout_delete(actor=request.user, blackout=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
