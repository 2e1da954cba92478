"""What every app's API needs, in one place: input parsing, the error answers its schema names,
the write viewset, and the one place where domain errors become HTTP responses."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import Conflict

SLUG = r"[-a-zA-Z0-9_]+"
ID = r"[0-9]+"
# Methods the write viewsets answer: no PUT. A partial change is what every client here sends,
# and the services take exactly the fields that are given.
METHODS = ["get", "post", "patch", "delete", "head", "options"]

BAD_REQUEST = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Invalid input: `{field: [messages]}`, each field named.",
)
FORBIDDEN = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description="You may not do this: `{detail: message}`."
)
CONFLICT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Not allowed in the current state: `{detail, code}`, e.g. "
    "“A draft change cannot be completed.”",
)
NOT_FOUND = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description="No such object, or not one you may see."
)


def parse_input(serializer_class: type[serializers.Serializer], request: Request, **kwargs) -> dict:
    """The request body checked by `serializer_class`: its validated data, or a 400 naming each
    field and the reason."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def write_schemas(
    *,
    request: type[serializers.Serializer],
    response: type[serializers.Serializer],
    noun: str,
) -> dict[str, Any]:
    """The schema of the create, partial_update and destroy actions of a viewset."""
    return {
        "create": extend_schema(
            request=request,
            responses={201: response, 400: BAD_REQUEST, 403: FORBIDDEN},
            summary=f"Create a {noun}",
        ),
        "partial_update": extend_schema(
            request=request,
            responses={200: response, 400: BAD_REQUEST, 403: FORBIDDEN},
            summary=f"Change some fields of a {noun}",
        ),
        "destroy": extend_schema(
            responses={204: None, 400: BAD_REQUEST, 403: FORBIDDEN}, summary=f"Delete a {noun}"
        ),
    }


class WriteViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List and retrieve through `serializer_class`; writes are defined per viewset."""

    http_method_names = METHODS

    def render(
        self,
        instance: Any,
        *,
        status_code: int = status.HTTP_200_OK,
        warnings: list[str] | None = None,
    ) -> Response:
        """The written object as `serializer_class` renders it; with `warnings` (what was saved
        but deserves a look, e.g. a name like another's), those too, as a list of messages."""
        # Load it again through the queryset: the prefetched relations changed with the write.
        fresh = self.get_queryset().get(pk=instance.pk)
        data = self.get_serializer(fresh).data
        if warnings is not None:
            data["warnings"] = warnings
        return Response(data, status=status_code)


def with_warnings(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """`serializer_class` plus the `warnings` list a write answers with (`WriteViewSet.render`)."""
    meta = type(
        "Meta", (serializer_class.Meta,), {"fields": (*serializer_class.Meta.fields, "warnings")}
    )
    return type(
        f"{serializer_class.__name__.removesuffix('Out')}WrittenOut",
        (serializer_class,),
        {
            "Meta": meta,
            "warnings": serializers.ListField(
                child=serializers.CharField(),
                read_only=True,
                help_text="What was saved but deserves a look: a name that looks like another "
                "record's (IT sees it in the audit trail too). Empty when none.",
            ),
        },
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            data = {field: list(messages) for field, messages in exc.message_dict.items()}
            if "__all__" in data:
                data["non_field_errors"] = data.pop("__all__")
        else:
            data = {"non_field_errors": exc.messages}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.message, "code": exc.code}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


class LocalDateTimeField(serializers.DateTimeField):
    """A datetime written with its own offset: a person's local time (`…T07:00:00-08:00`), never
    converted to the server's zone (DRF's DateTimeField writes every value in the current zone,
    `…Z` here)."""

    def to_representation(self, value):
        return value.isoformat() if value is not None else None
