"""The IT changes API: `changes/`, their transitions, owners' answers and impact previews, and
what the outages API of `incidents` shares with it.

Every signed-in user reads; IT staff write (the services decide, and a permission class refuses
other roles before the body is even parsed, so a reader gets 403 whatever they send). Owners
answer changes through `changes/{id}/respond/`. Systems are addressed by slug. Domain errors
become 400 (naming the field) or 409 (naming the transition) in `steward.api`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry.models import ITSystem, Project
from registry.permissions import can_edit_project, is_it_staff
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, LocalDateTimeField, parse_input

from . import selectors, services, slots
from .conflicts import conflicts_for
from .models import Change, ChangeResponse, HeldAlert, ImpactedProject, MaintenanceWindow, Release

MAX_TEXT = 10000


class ITStaffWrites(permissions.BasePermission):
    """Reads for everyone signed in; the listed actions (or `action:METHOD`) for IT staff."""

    message = "Only IT staff register changes and outages."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        action = getattr(view, "action", None)
        guarded = getattr(view, "it_staff_actions", ())
        if action in guarded or f"{action}:{request.method}" in guarded:
            return is_it_staff(request.user)
        return True


def systems_field(**kwargs: Any) -> serializers.SlugRelatedField:
    kwargs.setdefault("help_text", "Slugs of the affected IT systems.")
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=ITSystem.objects.all(), many=True, **kwargs
    )


# --- shared output -----------------------------------------------------------------------------


class ImpactedSnapshotOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project_name = serializers.CharField(source="project.name", read_only=True)
    path = serializers.ListField(child=serializers.CharField(), read_only=True)
    path_display = serializers.CharField(read_only=True)

    class Meta:
        model = ImpactedProject
        fields = ("project", "project_name", "path", "path_display", "all_hard", "depth")
        read_only_fields = fields


class PreviewIn(serializers.Serializer):
    systems = systems_field(allow_empty=True)
    planned_start_at = serializers.DateTimeField(
        required=False, help_text="When to judge working hours; default now."
    )


class PreviewOwnerOut(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    display_name = serializers.CharField(source="person.display_name")
    role = serializers.CharField()
    local_time = LocalDateTimeField()
    in_working_hours = serializers.BooleanField()


class PreviewProjectOut(serializers.Serializer):
    project = serializers.SlugField(source="impact.project_slug")
    project_name = serializers.CharField(source="impact.project_name")
    path = serializers.ListField(child=serializers.CharField(), source="impact.path")
    path_display = serializers.CharField(source="impact.path_display")
    all_hard = serializers.BooleanField(source="impact.all_hard")
    depth = serializers.IntegerField(source="impact.depth")
    owners = PreviewOwnerOut(many=True)


class PreviewOut(serializers.Serializer):
    at = serializers.DateTimeField()
    project_count = serializers.IntegerField()
    owner_count = serializers.IntegerField()
    owners_outside_hours = serializers.IntegerField(
        help_text="Owners (and maintainers) outside their working hours at `at`."
    )
    projects = PreviewProjectOut(many=True)


def impact_preview_answer(request: Request) -> Response:
    data = parse_input(PreviewIn, request)
    preview = selectors.impact_preview(systems=data["systems"], at=data.get("planned_start_at"))
    return Response(PreviewOut(preview).data)


# --- changes -----------------------------------------------------------------------------------


class ChangeResponseOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    person_name = serializers.CharField(source="person.display_name", read_only=True)

    class Meta:
        model = ChangeResponse
        fields = (
            "id",
            "project",
            "person",
            "person_name",
            "answer",
            "comment",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ConflictOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["change", "blackout"])
    relation = serializers.ChoiceField(
        choices=["same_system", "upstream", "downstream", "company_wide"],
        help_text="How the other work relates: on the same system, on a system ours depend on "
        "(upstream), on one that depends on ours (downstream), or a company-wide blackout.",
    )
    reason = serializers.CharField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    system = serializers.CharField(help_text="Our system it concerns; empty when company-wide.")
    other_system = serializers.CharField()
    path = serializers.ListField(child=serializers.CharField())
    change = serializers.IntegerField(source="change_id", allow_null=True)
    change_title = serializers.CharField()
    blackout = serializers.IntegerField(source="blackout_id", allow_null=True)
    blackout_title = serializers.CharField()


class HeldAlertOut(serializers.ModelSerializer):
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    firing = serializers.BooleanField(read_only=True)
    outage = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = HeldAlert
        fields = (
            "id",
            "system",
            "source",
            "title",
            "description",
            "severity",
            "started_at",
            "last_seen_at",
            "events",
            "firing",
            "cleared_at",
            "released_at",
            "outage",
        )
        read_only_fields = fields


class MaintenanceWindowOut(serializers.ModelSerializer):
    systems = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    held = HeldAlertOut(many=True, read_only=True)

    class Meta:
        model = MaintenanceWindow
        fields = ("id", "title", "change", "starts_at", "ends_at", "systems", "released_at", "held")
        read_only_fields = fields


class ChangeOut(serializers.ModelSerializer):
    systems = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    impacted = ImpactedSnapshotOut(many=True, read_only=True)
    responses = ChangeResponseOut(many=True, read_only=True)
    maintenance = serializers.SerializerMethodField(
        help_text="The change's maintenance window: its systems, and the alerts it held."
    )
    conflicts_noted = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The conflicts it was scheduled through, as they were then.",
    )

    @extend_schema_field(MaintenanceWindowOut(allow_null=True))
    def get_maintenance(self, change: Change) -> dict | None:
        window = getattr(change, "maintenance", None)
        return MaintenanceWindowOut(window).data if window is not None else None

    class Meta:
        model = Change
        fields = (
            "id",
            "title",
            "description",
            "type",
            "risk",
            "state",
            "planned_start_at",
            "planned_end_at",
            "systems",
            "rollback_plan",
            "reminder_lead_minutes",
            "revision",
            "author",
            "scheduled_at",
            "started_at",
            "completed_at",
            "cancelled_at",
            "rolled_back_at",
            "created_at",
            "updated_at",
            "impacted",
            "responses",
            "maintenance",
            "conflict_justification",
            "conflicts_noted",
        )
        read_only_fields = fields


class ConflictsIn(serializers.Serializer):
    systems = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ITSystem.objects.all(),
        many=True,
        help_text="Slugs of the IT systems the work is on (repeat the parameter).",
    )
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    exclude_change = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="A change not to count (the one being edited).",
    )

    def validate(self, data: dict) -> dict:
        if data["end_at"] <= data["start_at"]:
            raise serializers.ValidationError({"end_at": "The window must end after it starts."})
        return data


class ConflictsOut(serializers.Serializer):
    conflicts = ConflictOut(many=True)


class ScheduleIn(serializers.Serializer):
    conflict_justification = serializers.CharField(
        max_length=5000,
        allow_blank=True,
        required=False,
        help_text="Why it goes ahead through its conflicts; required when it has any.",
    )


class ChangeIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)
    type = serializers.ChoiceField(choices=Change.Type.choices, required=False)
    risk = serializers.ChoiceField(choices=Change.Risk.choices, required=False)
    planned_start_at = serializers.DateTimeField()
    planned_end_at = serializers.DateTimeField()
    systems = systems_field(allow_empty=True)
    rollback_plan = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)
    reminder_lead_minutes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=services.MAX_REMINDER_LEAD_MINUTES),
        max_length=10,
        required=False,
        help_text="Minutes before the start at which owners are reminded; default [1440, 60].",
    )
    maintenance_systems = systems_field(
        allow_empty=True,
        required=False,
        help_text="Systems that depend on the affected ones and are in maintenance too: "
        "their alerts are held during the window as well.",
    )
    conflict_justification = serializers.CharField(
        max_length=5000,
        allow_blank=True,
        required=False,
        help_text="Why it goes ahead through its conflicts; required to schedule when it has any.",
    )


class ChangeRespondIn(serializers.Serializer):
    answer = serializers.ChoiceField(choices=ChangeResponse.Answer.choices)
    comment = serializers.CharField(max_length=5000, allow_blank=True, required=False)
    project = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Project.objects.all(),
        required=False,
        help_text="Needed only when you are on several touched projects.",
    )


class HistoryOut(serializers.Serializer):
    earlier = serializers.IntegerField(
        help_text="Earlier changes that happened (started) on any of the same systems."
    )
    caused_incident = serializers.IntegerField(help_text="Of those, named as an incident's cause.")
    caused_outage = serializers.IntegerField(help_text="Of those, named as an outage's cause.")
    rolled_back = serializers.IntegerField(help_text="Of those, rolled back.")
    went_wrong = serializers.IntegerField(help_text="Of those, any of the three.")
    level = serializers.ChoiceField(choices=["unknown", "low", "medium", "high"])
    hint = serializers.CharField(help_text="The plain risk hint IT and the owners read.")


class ChangeDetailOut(ChangeOut):
    """One change: also what its window runs into now, and the record of its systems."""

    conflicts = serializers.SerializerMethodField(
        help_text="What its window runs into now (other changes on related systems, blackouts)."
    )
    history = serializers.SerializerMethodField()

    class Meta(ChangeOut.Meta):
        fields = (*ChangeOut.Meta.fields, "conflicts", "history")
        read_only_fields = fields

    @extend_schema_field(ConflictOut(many=True))
    def get_conflicts(self, change: Change) -> list[dict]:
        found = conflicts_for(
            system_ids=[s.pk for s in change.systems.all()],
            start_at=change.planned_start_at,
            end_at=change.planned_end_at,
            exclude_change_id=change.pk,
        )
        return ConflictOut(found, many=True).data

    @extend_schema_field(HistoryOut)
    def get_history(self, change: Change) -> dict:
        return HistoryOut(selectors.history_of(change)).data


class SlotsIn(serializers.Serializer):
    systems = systems_field(allow_empty=True)
    duration_minutes = serializers.IntegerField(
        help_text=f"How long the change takes, {slots.MIN_DURATION_MINUTES} minutes to "
        f"{slots.MAX_DURATION_MINUTES // 1440} days."
    )
    range_start = serializers.DateTimeField(required=False, help_text="Default: now.")
    range_end = serializers.DateTimeField(
        required=False,
        help_text=f"Default: 14 days after the start; at most {slots.MAX_RANGE.days} days after.",
    )
    count = serializers.IntegerField(
        required=False, default=slots.DEFAULT_COUNT, help_text="How many slots, 1 to 20."
    )


class SlotOut(serializers.Serializer):
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    score = serializers.FloatField(help_text="0–100, higher is quieter (see the README).")
    project_count = serializers.IntegerField(help_text="Projects the change touches.")
    projects_with_responder = serializers.IntegerField(
        help_text="Touched projects with an owner, maintainer or on-call person in working hours "
        "all through the window."
    )
    responders_at_start = serializers.IntegerField(
        help_text="Their people in working hours at the start."
    )
    busy_projects = serializers.IntegerField(
        help_text="Touched projects whose declared busy hours overlap the window."
    )
    reports_in_window = serializers.IntegerField(
        help_text="Problem reports on the touched projects in these hours of the week, last 8 "
        "weeks."
    )
    traffic_level = serializers.FloatField(
        allow_null=True, help_text="0–1 against the busiest window; null without reports."
    )


class SlotSearchOut(serializers.Serializer):
    range_start = serializers.DateTimeField()
    range_end = serializers.DateTimeField()
    project_count = serializers.IntegerField()
    people_count = serializers.IntegerField()
    has_traffic = serializers.BooleanField()
    blocked = serializers.ListField(
        child=serializers.ListField(child=serializers.DateTimeField(), min_length=2, max_length=2),
        help_text="[start, end] of the windows left out: other changes on the same systems.",
    )
    slots = SlotOut(many=True)


class BookIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    systems = systems_field(allow_empty=True)
    planned_start_at = serializers.DateTimeField(help_text="The slot's start.")
    duration_minutes = serializers.IntegerField(
        min_value=slots.MIN_DURATION_MINUTES, max_value=slots.MAX_DURATION_MINUTES
    )
    description = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)
    type = serializers.ChoiceField(choices=Change.Type.choices, required=False)
    risk = serializers.ChoiceField(choices=Change.Risk.choices, required=False)
    rollback_plan = serializers.CharField(max_length=MAX_TEXT, allow_blank=True, required=False)


def _changes() -> QuerySet[Change]:
    return Change.objects.select_related("author", "maintenance").prefetch_related(
        "systems",
        "maintenance__systems",
        Prefetch("maintenance__held", queryset=HeldAlert.objects.select_related("system")),
        Prefetch(
            "impacted",
            queryset=ImpactedProject.objects.select_related("project").order_by(
                "depth", "project__name"
            ),
        ),
        Prefetch(
            "responses",
            queryset=ChangeResponse.objects.select_related("person", "project").order_by(
                "project__name", "id"
            ),
        ),
    )


def _transition_schema(summary: str) -> Any:
    return extend_schema(
        request=None,
        responses={200: ChangeDetailOut, 403: FORBIDDEN, 409: CONFLICT},
        summary=summary,
    )


@extend_schema_view(
    retrieve=extend_schema(responses=ChangeDetailOut, summary="A change, with its conflicts now"),
    create=extend_schema(
        request=ChangeIn,
        responses={201: ChangeDetailOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Register a change (a draft: nobody is told yet)",
    ),
    partial_update=extend_schema(
        request=ChangeIn,
        responses={200: ChangeDetailOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Edit a draft or scheduled change",
        description="Moving a scheduled change's window or systems tells the owners of every "
        "project touched before or after.",
    ),
    destroy=extend_schema(
        responses={204: None, 403: FORBIDDEN, 409: CONFLICT}, summary="Delete a draft change"
    ),
)
class ChangeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Planned IT changes, their impact snapshot and the owners' answers."""

    queryset = _changes()
    serializer_class = ChangeOut
    permission_classes = [ITStaffWrites]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_fields = ("state", "type", "risk")
    ordering_fields = ("planned_start_at", "created_at", "id")
    ordering = ("-planned_start_at", "-id")
    it_staff_actions = (
        "create",
        "partial_update",
        "destroy",
        "schedule",
        "start",
        "complete",
        "cancel",
        "rollback",
        "book",
    )

    def get_queryset(self) -> QuerySet[Change]:
        return _changes()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # Conflicts and history are computed per change: on one change, not on the list.
        return ChangeOut if self.action == "list" else ChangeDetailOut

    def _render(self, change: Change, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=change.pk)
        return Response(ChangeDetailOut(fresh).data, status=status_code)

    def create(self, request: Request) -> Response:
        change = services.change_create(actor=request.user, **parse_input(ChangeIn, request))
        return self._render(change, status_code=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str) -> Response:
        change = self.get_object()
        services.change_update(
            actor=request.user, change=change, **parse_input(ChangeIn, request, partial=True)
        )
        return self._render(change)

    def destroy(self, request: Request, pk: str) -> Response:
        services.change_delete(actor=request.user, change=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=ScheduleIn,
        responses={200: ChangeDetailOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Schedule: snapshot the impact and tell every touched project's owners",
        description="A change whose window has conflicts (see `conflicts`) is scheduled only "
        "with a `conflict_justification` (here or saved on the change): a 400 names the field "
        "otherwise. The justification is audited and shown to the owners with the conflicts.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def schedule(self, request: Request, pk: str) -> Response:
        change = self.get_object()
        data = parse_input(ScheduleIn, request)
        return self._render(
            services.change_schedule(
                actor=request.user,
                change=change,
                conflict_justification=data.get("conflict_justification"),
            )
        )

    @extend_schema(
        parameters=[ConflictsIn],
        request=None,
        responses={200: ConflictsOut, 400: BAD_REQUEST},
        summary="Check proposed work for conflicts: systems and a window",
        description="Other scheduled or in-progress changes overlapping the window on the same "
        "systems, on systems they depend on or on systems depending on them (transitively), and "
        "blackouts (company-wide or on those systems), each with the reason.",
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def conflicts(self, request: Request) -> Response:
        query = ConflictsIn(
            data={
                "systems": request.query_params.getlist("systems"),
                **{
                    key: request.query_params[key]
                    for key in ("start_at", "end_at", "exclude_change")
                    if key in request.query_params
                },
            }
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        found = conflicts_for(
            system_ids=[s.pk for s in data["systems"]],
            start_at=data["start_at"],
            end_at=data["end_at"],
            exclude_change_id=data.get("exclude_change"),
        )
        return Response(ConflictsOut({"conflicts": found}).data)

    @_transition_schema("Start a scheduled change")
    @action(detail=True, methods=["post"], filter_backends=[])
    def start(self, request: Request, pk: str) -> Response:
        return self._render(services.change_start(actor=request.user, change=self.get_object()))

    @_transition_schema("Complete a change in progress; owners are told")
    @action(detail=True, methods=["post"], filter_backends=[])
    def complete(self, request: Request, pk: str) -> Response:
        return self._render(services.change_complete(actor=request.user, change=self.get_object()))

    @_transition_schema("Roll back a change in progress: completed, counted as rolled back")
    @action(detail=True, methods=["post"], filter_backends=[])
    def rollback(self, request: Request, pk: str) -> Response:
        return self._render(services.change_roll_back(actor=request.user, change=self.get_object()))

    @extend_schema(
        request=SlotsIn,
        responses={200: SlotSearchOut, 400: BAD_REQUEST},
        summary="The quietest slots for a change on these systems",
        description="The best start times in the range (default the next 14 days, at most 90), "
        "each with its score broken down: who can respond, which apps are busy, report traffic. "
        "Windows of other scheduled changes on the same systems are left out.",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def slots(self, request: Request) -> Response:
        data = parse_input(SlotsIn, request)
        return Response(SlotSearchOut(slots.quietest_slots(**data)).data)

    @extend_schema(
        request=BookIn,
        responses={201: ChangeOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Book a slot: create and schedule a change at that start (owners are told)",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def book(self, request: Request) -> Response:
        data = parse_input(BookIn, request)
        duration = timedelta(minutes=data.pop("duration_minutes"))
        change = services.change_book(actor=request.user, duration=duration, **data)
        return self._render(change, status_code=status.HTTP_201_CREATED)

    @_transition_schema("Cancel a draft or scheduled change; owners who were told hear it is off")
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str) -> Response:
        return self._render(services.change_cancel(actor=request.user, change=self.get_object()))

    @extend_schema(
        request=ChangeRespondIn,
        responses={200: ChangeResponseOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Answer a change for your project: fine, or concern with a comment",
        description="Only people with a role on a touched project. Answering again updates.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def respond(self, request: Request, pk: str) -> Response:
        response = services.change_respond(
            actor=request.user, change=self.get_object(), **parse_input(ChangeRespondIn, request)
        )
        return Response(ChangeResponseOut(response).data)

    @extend_schema(
        request=PreviewIn,
        responses={200: PreviewOut, 400: BAD_REQUEST},
        summary="Preview the impact of a change on these systems at its planned start",
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def preview(self, request: Request) -> Response:
        return impact_preview_answer(request)


# --- releases ----------------------------------------------------------------------------------


class ProjectEditorsWrite(permissions.BasePermission):
    """Everyone signed in reads a project's releases; its owners and maintainers (and admins)
    record them, refused before the body is read."""

    message = "Only the project's owners and maintainers record its releases."

    def has_object_permission(self, request: Request, view: Any, obj: Project) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return can_edit_project(request.user, obj)


class ReleaseOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    recorded_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Release
        fields = (
            "id",
            "project",
            "summary",
            "url",
            "happened_at",
            "source",
            "recorded_by",
            "via",
            "recorded_at",
        )
        read_only_fields = fields


class ReleaseIn(serializers.Serializer):
    summary = serializers.CharField(max_length=1024, help_text="The version, or what changed.")
    url = serializers.URLField(
        max_length=1000,
        required=False,
        allow_blank=True,
        help_text="The release notes, tag or commit.",
    )
    happened_at = serializers.DateTimeField(required=False, help_text="Default now.")


@extend_schema_view(
    get=extend_schema(
        responses=ReleaseOut(many=True), summary="A project's releases, latest first"
    ),
    post=extend_schema(
        request=ReleaseIn,
        responses={201: ReleaseOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Record a release or deployment of the project",
        description="Its owners and maintainers (session or token). A release is a suspect for "
        "the project's incidents in the 72 hours after it. CI can also send PagerDuty change "
        "events to `/v2/change/enqueue` with the project's integration key.",
    ),
)
class ProjectReleasesView(generics.ListCreateAPIView):
    """`projects/{slug}/releases/`: the registry's project, with the releases of `changes`."""

    queryset = Project.objects.all()
    lookup_field = "slug"
    serializer_class = ReleaseOut
    permission_classes = [permissions.IsAuthenticated, ProjectEditorsWrite]
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False) or "slug" not in self.kwargs:
            return Release.objects.none()
        return selectors.releases_of(self.project)

    @property
    def project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project, slug=self.kwargs["slug"])
            self.check_object_permissions(self.request, self._project)
        return self._project

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.project
        release = services.release_record(
            actor=request.user, project=project, **parse_input(ReleaseIn, request)
        )
        return Response(ReleaseOut(release).data, status=status.HTTP_201_CREATED)
