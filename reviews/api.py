"""`reviews/` and `action-items/`: incident reviews and their action items. Signed-in people read
them; writes are authorised by the services (a project incident's review: its owners and
maintainers and IT staff; an outage's: IT staff)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from incidents.models import Incident, Outage
from registry.models import Person
from steward.api import BAD_REQUEST, CONFLICT, FORBIDDEN, METHODS, parse_input

from . import services
from .models import MAX_SECTION, ActionItem, Review
from .selectors import reviews_queryset
from .timeline import timeline_for


class ActionItemOut(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    tracker_url = serializers.CharField(read_only=True)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "review",
            "project",
            "title",
            "owner",
            "owner_name",
            "due_on",
            "tracker_url",
            "done_at",
            "reminded_at",
            "created_at",
        ]


class TimelineEntryOut(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    text = serializers.CharField()
    who = serializers.CharField()


class ReviewOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    action_items = ActionItemOut(many=True, read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "outage",
            "incident",
            "project",
            "title",
            "impact",
            "what_happened",
            "went_well",
            "to_change",
            "action_items",
            "created_at",
            "updated_at",
        ]


class ReviewDetailOut(ReviewOut):
    timeline = serializers.SerializerMethodField()

    class Meta(ReviewOut.Meta):
        fields = [*ReviewOut.Meta.fields, "timeline"]

    @extend_schema_field(TimelineEntryOut(many=True))
    def get_timeline(self, review: Review) -> list[dict]:
        return TimelineEntryOut(timeline_for(review.subject).entries, many=True).data


class ReviewIn(serializers.Serializer):
    """Start the review of a resolved outage (IT staff) or project incident (its editors)."""

    outage = serializers.PrimaryKeyRelatedField(
        queryset=Outage.objects.all(), required=False, allow_null=True
    )
    incident = serializers.PrimaryKeyRelatedField(
        queryset=Incident.objects.select_related("project"), required=False, allow_null=True
    )

    def validate(self, attrs: dict) -> dict:
        if (attrs.get("outage") is None) == (attrs.get("incident") is None):
            raise serializers.ValidationError("Give one of `outage` and `incident`.")
        return attrs


class ReviewUpdate(serializers.Serializer):
    impact = serializers.CharField(max_length=MAX_SECTION, required=False, allow_blank=True)
    what_happened = serializers.CharField(max_length=MAX_SECTION, required=False, allow_blank=True)
    went_well = serializers.CharField(max_length=MAX_SECTION, required=False, allow_blank=True)
    to_change = serializers.CharField(max_length=MAX_SECTION, required=False, allow_blank=True)


class ActionItemIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    owner = serializers.PrimaryKeyRelatedField(queryset=Person.objects.select_related("user"))
    due_on = serializers.DateField()
    tracker_url = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ActionItemUpdate(serializers.Serializer):
    done = serializers.BooleanField(required=False)
    due_on = serializers.DateField(required=False)
    tracker_url = serializers.CharField(max_length=500, required=False, allow_blank=True)


@extend_schema_view(
    create=extend_schema(
        request=ReviewIn,
        responses={201: ReviewDetailOut, 400: BAD_REQUEST, 403: FORBIDDEN, 409: CONFLICT},
        summary="Start the review of a resolved outage or incident (or get the one there is)",
    ),
    partial_update=extend_schema(
        request=ReviewUpdate,
        responses={200: ReviewDetailOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Change some sections of a review (Markdown)",
    ),
    retrieve=extend_schema(responses={200: ReviewDetailOut}),
)
class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReviewOut
    http_method_names = METHODS
    filterset_fields = ["project__slug"]

    def get_queryset(self) -> QuerySet[Review]:
        return reviews_queryset().order_by("-created_at", "-id")

    def get_serializer_class(self):
        return ReviewDetailOut if self.action != "list" else ReviewOut

    def _render(self, review: Review, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=review.pk)
        return Response(ReviewDetailOut(fresh).data, status=code)

    def create(self, request: Request) -> Response:
        data = parse_input(ReviewIn, request)
        review = services.review_start(
            actor=request.user, outage=data.get("outage"), incident=data.get("incident")
        )
        return self._render(review, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        if not services.may_edit(request.user, review):
            raise PermissionDenied("Only the review's editors change it.")
        data = parse_input(ReviewUpdate, request)
        services.review_edit(actor=request.user, review=review, **data)
        return self._render(review)

    @extend_schema(
        request=ActionItemIn,
        responses={201: ActionItemOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Add an action item to a review",
    )
    @action(detail=True, methods=["post"], url_path="action-items", filter_backends=[])
    def action_items(self, request: Request, pk: str | None = None) -> Response:
        review = self.get_object()
        if not services.may_edit(request.user, review):
            raise PermissionDenied("Only the review's editors add action items.")
        data = parse_input(ActionItemIn, request)
        item = services.action_item_add(actor=request.user, review=review, **data)
        return Response(ActionItemOut(item).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    partial_update=extend_schema(
        request=ActionItemUpdate,
        responses={200: ActionItemOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Mark an action item done (or open), move its day, change its tracker link",
    ),
)
class ActionItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ActionItemOut
    http_method_names = METHODS
    filterset_fields = ["project__slug"]

    def get_queryset(self) -> QuerySet[ActionItem]:
        return ActionItem.objects.select_related("owner", "project").order_by("due_on", "id")

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        item = get_object_or_404(
            ActionItem.objects.select_related("review__project", "review__outage", "owner"),
            pk=self.get_object().pk,
        )
        data = parse_input(ActionItemUpdate, request)
        item = services.action_item_update(actor=request.user, item=item, **data)
        return Response(ActionItemOut(self.get_queryset().get(pk=item.pk)).data)
