"""`notifications/`: the signed-in person's notifications (filter by state and kind), each with
its delivery attempts, and `notifications/{id}/ack/` to acknowledge the page it belongs to."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
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


class NotificationSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    page = PageSerializer(read_only=True, allow_null=True)
    attempts_log = DeliveryAttemptSerializer(source="attempt_log", many=True, read_only=True)

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
            "attempts_log",
        ]


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
            200: PageSerializer,
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="You may not acknowledge it."),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="A notice, not a page."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def ack(self, request: Request, pk: str | None = None) -> Response:
        """Acknowledge the page this notification belongs to: stops its escalation. Twice is
        harmless (200, the page as it is)."""
        page = services.notification_ack(actor=request.user, notification=self.get_object())
        return Response(PageSerializer(page).data)
