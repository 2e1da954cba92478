"""`notifications/`: the signed-in person's notifications (filter by state and kind), each with
its delivery attempts and the pages it lists, and `notifications/{id}/ack/` to acknowledge every
page it lists."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from . import services
from .models import DeliveryAttempt, Notification, Page


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "latency_ms", "outcome", "status_code", "error"]


class PageSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Page
        fields = [
            "id",
            "project",
            "subject",
            "state",
            "level",
            "round",
            "next_escalation_at",
            "opened_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_via",
        ]


class ListedPageSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Page
        fields = ["id", "project", "state", "acknowledged_at", "acknowledged_via"]


class NotificationListSerializer(serializers.ListSerializer):
    """Loads the pages every listed notification covers in one query."""

    def to_representation(self, data):
        notifications = list(data.all() if isinstance(data, QuerySet) else data)
        _load_listed_pages(notifications)
        return super().to_representation(notifications)


def _load_listed_pages(notifications: list[Notification]) -> None:
    pages = Page.objects.select_related("project").in_bulk(
        {pk for n in notifications for pk in n.page_ids}
    )
    for n in notifications:
        n.listed_pages = [pages[pk] for pk in n.page_ids if pk in pages]


class NotificationSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    page = PageSerializer(read_only=True, allow_null=True)
    pages = serializers.SerializerMethodField(
        help_text="Every page this message lists; acknowledging it acknowledges them all."
    )
    attempts_log = DeliveryAttemptSerializer(source="attempts_made", many=True, read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "topic",
            "project",
            "channel",
            "address",
            "subject",
            "body",
            "link",
            "state",
            "deliver_after",
            "attempts",
            "sent_at",
            "created_at",
            "page",
            "pages",
            "attempts_log",
        ]
        list_serializer_class = NotificationListSerializer

    @extend_schema_field(ListedPageSerializer(many=True))
    def get_pages(self, notification: Notification) -> list:
        if not hasattr(notification, "listed_pages"):
            _load_listed_pages([notification])
        return ListedPageSerializer(notification.listed_pages, many=True).data


class AckSerializer(PageSerializer):
    """The notification's page as it is now, and every page the acknowledgement covered."""

    pages = ListedPageSerializer(many=True, read_only=True)

    class Meta(PageSerializer.Meta):
        fields = [*PageSerializer.Meta.fields, "pages"]


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = NotificationSerializer
    filterset_fields = ["state", "kind"]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Notification]:
        person = getattr(self.request.user, "person", None)
        if person is None:
            return Notification.objects.none()
        return (
            Notification.objects.filter(recipient=person)
            .select_related("project", "page__project")
            .prefetch_related(
                Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at"))
            )
        )

    @extend_schema(
        request=None,
        responses={
            200: AckSerializer,
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="You may not acknowledge it."),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="A notice, not a page."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def ack(self, request: Request, pk: str | None = None) -> Response:
        """Acknowledge every page this notification lists (one message may list several
        projects of one event): stops their escalation. Twice is harmless (200, the pages as they
        are). The answer is the notification's page, with `pages`: all it listed."""
        notification = self.get_object()
        page = services.notification_ack(actor=request.user, notification=notification)
        _load_listed_pages([notification])
        page.pages = notification.listed_pages
        return Response(AckSerializer(page).data)
