"""`webhooks/`: outgoing webhook endpoints of the projects and IT systems the caller manages,
their delivery log, redelivery, a test ping and secret rotation. Endpoint URLs may hold
credentials, so the list holds only endpoints the caller may manage (IT staff: all)."""

from __future__ import annotations

import json

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.api import DeliveryAttemptSerializer
from notifications.models import DeliveryAttempt, Notification
from registry import permissions
from registry.models import ITSystem, Project
from steward.api import BAD_REQUEST, FORBIDDEN, METHODS

from . import services
from .models import WebhookEndpoint


class WebhookEndpointOut(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    system = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "project",
            "system",
            "url",
            "description",
            "events",
            "is_active",
            "secret",
            "created_at",
            "updated_at",
        ]


class WebhookEndpointUpdate(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Event.choices),
        required=False,
        max_length=len(WebhookEndpoint.Event.values),
    )
    is_active = serializers.BooleanField(required=False)


class WebhookEndpointIn(WebhookEndpointUpdate):
    """A new endpoint: the URL, and the project or the IT system it belongs to."""

    project = serializers.SlugRelatedField(
        slug_field="slug", queryset=Project.objects.all(), required=False, allow_null=True
    )
    system = serializers.SlugRelatedField(
        slug_field="slug", queryset=ITSystem.objects.all(), required=False, allow_null=True
    )
    url = serializers.CharField(max_length=500)


class WebhookDeliveryOut(serializers.ModelSerializer):
    attempts_log = DeliveryAttemptSerializer(source="attempts_made", many=True, read_only=True)
    event_type = serializers.CharField(source="subject", read_only=True)
    document = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "event_type",
            "state",
            "attempts",
            "created_at",
            "sent_at",
            "last_error",
            "redelivery_of",
            "document",
            "attempts_log",
        ]

    def get_document(self, instance: Notification) -> dict | None:
        """The JSON document sent (the same on every attempt and redelivery)."""
        return json.loads(instance.body) if instance.body else None


def _managed(user) -> QuerySet[WebhookEndpoint]:
    endpoints = WebhookEndpoint.objects.select_related("project", "system")
    if not user.is_authenticated:
        return endpoints.none()
    if permissions.is_it_staff(user):
        return endpoints
    return endpoints.filter(
        project__roles__person__user=user, project__roles__role__in=permissions.EDITING_ROLES
    ).distinct()


@extend_schema_view(
    create=extend_schema(
        request=WebhookEndpointIn,
        responses={201: WebhookEndpointOut, 400: BAD_REQUEST, 403: FORBIDDEN},
        summary="Add a webhook to a project or an IT system",
    ),
    partial_update=extend_schema(
        request=WebhookEndpointUpdate,
        responses={200: WebhookEndpointOut, 400: BAD_REQUEST, 403: FORBIDDEN},
    ),
    destroy=extend_schema(responses={204: None, 403: FORBIDDEN}),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = WebhookEndpointOut
    http_method_names = METHODS
    filterset_fields = ["is_active"]

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return _managed(self.request.user).order_by("id")

    def create(self, request: Request) -> Response:
        data = WebhookEndpointIn(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(actor=request.user, **data.validated_data)
        return Response(WebhookEndpointOut(endpoint).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = WebhookEndpointUpdate(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(
            actor=request.user, endpoint=self.get_object(), **data.validated_data
        )
        return Response(WebhookEndpointOut(endpoint).data)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        services.webhook_endpoint_delete(actor=request.user, endpoint=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: WebhookDeliveryOut(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """The endpoint's last 100 deliveries, newest first, each with its attempts."""
        endpoint = self.get_object()
        rows = (
            endpoint.deliveries.order_by("-created_at", "-id")
            .prefetch_related(
                Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at"))
            )
            .all()[:100]
        )
        return Response(WebhookDeliveryOut(rows, many=True).data)

    @extend_schema(request=None, responses={201: WebhookDeliveryOut, 403: FORBIDDEN})
    @action(detail=True, methods=["post"], filter_backends=[])
    def ping(self, request: Request, pk: str | None = None) -> Response:
        """Queue a `ping` delivery to the endpoint."""
        row = services.webhook_ping(actor=request.user, endpoint=self.get_object())
        return Response(WebhookDeliveryOut(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: WebhookEndpointOut, 403: FORBIDDEN})
    @action(detail=True, methods=["post"], url_path="rotate-secret", filter_backends=[])
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """Replace the signing secret; the response holds the new one."""
        endpoint = services.webhook_secret_rotate(actor=request.user, endpoint=self.get_object())
        return Response(WebhookEndpointOut(endpoint).data)

    @extend_schema(request=None, responses={201: WebhookDeliveryOut, 403: FORBIDDEN, 409: None})
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]+)/redeliver",
        filter_backends=[],
    )
    def redeliver(self, request: Request, pk: str | None = None, delivery_id: str = "") -> Response:
        """Send a finished delivery's document again (same `webhook-id`)."""
        endpoint = self.get_object()
        row = get_object_or_404(endpoint.deliveries.all(), pk=int(delivery_id))
        copy = services.webhook_redeliver(actor=request.user, notification=row)
        return Response(WebhookDeliveryOut(copy).data, status=status.HTTP_201_CREATED)
