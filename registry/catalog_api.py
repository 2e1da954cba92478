"""API for the Backstage catalog import and export (format and mapping: registry/catalog.py).

`POST /api/v1/catalog/import/` takes the YAML as the body (`Content-Type: application/yaml` or
`text/plain`) or JSON `{"text": "...", "dry_run": false}`; `?dry_run=1` also checks without
writing. 200 with the summary, 400 with every problem, 403 for anyone but IT staff.
`GET /api/v1/catalog/export/` answers the whole registry as `application/yaml`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import permissions
from .api.text_bodies import TextRenderer, raw_body_parser
from .catalog import (
    MAX_BYTES,
    CatalogProblem,
    CatalogRejected,
    catalog_export,
    catalog_import,
    catalog_text_from_bytes,
)

_TRUE = {"1", "true", "yes", "on"}


YAML_PARSERS = [
    raw_body_parser(media_type, limit=MAX_BYTES)
    for media_type in ("application/yaml", "text/yaml", "text/plain")
]


class YamlRenderer(TextRenderer):
    media_type = "application/yaml"
    format = "yaml"


class CatalogImportIn(serializers.Serializer):
    text = serializers.CharField(help_text="The catalog-info.yaml text.")
    dry_run = serializers.BooleanField(required=False, default=False)


class CatalogProblemOut(serializers.Serializer):
    document = serializers.IntegerField(
        allow_null=True, help_text="1-based YAML document; null: the whole file."
    )
    line = serializers.IntegerField(allow_null=True)
    entity = serializers.CharField(allow_blank=True, help_text="kind:namespace/name")
    field = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class CatalogProblemsOut(serializers.Serializer):
    problems = CatalogProblemOut(many=True)


class CatalogCountsOut(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    removed = serializers.IntegerField()


class CatalogCountsByKindOut(serializers.Serializer):
    User = CatalogCountsOut()
    Group = CatalogCountsOut()
    Resource = CatalogCountsOut()
    Component = CatalogCountsOut()
    Dependency = CatalogCountsOut()


class CatalogImportOut(serializers.Serializer):
    dry_run = serializers.BooleanField()
    counts = CatalogCountsByKindOut()
    warnings = CatalogProblemOut(many=True, help_text="What was skipped (other kinds, ...).")


def _problem_response(problems: list[CatalogProblem]) -> Response:
    return Response(
        {"problems": [problem.as_dict() for problem in problems]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _body(request: Request) -> tuple[str | None, bool, list[CatalogProblem]]:
    """(text, dry_run from the body, problems)."""
    data = request.data
    if isinstance(data, bytes):
        text, problems = catalog_text_from_bytes(data)
        return (None if problems else text), False, problems
    serializer = CatalogImportIn(data=data)
    if not serializer.is_valid():
        return (
            None,
            False,
            [
                CatalogProblem(None, "", name, " ".join(str(e) for e in errors))
                for name, errors in serializer.errors.items()
            ],
        )
    return serializer.validated_data["text"], serializer.validated_data["dry_run"], []


class CatalogImportView(APIView):
    parser_classes = [*YAML_PARSERS, JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Import a Backstage catalog (every entity or none)",
        description="Users, Groups, Resources and Components of a `catalog-info.yaml` (several "
        "documents separated by `---`). The mapping is in the README (Backstage catalog). "
        "Only IT staff may import.",
        request={
            "application/yaml": OpenApiTypes.STR,
            "text/plain": OpenApiTypes.STR,
            "application/json": CatalogImportIn,
        },
        parameters=[
            OpenApiParameter(
                "dry_run",
                OpenApiTypes.BOOL,
                description="Check everything and answer what an import would do; write nothing.",
            )
        ],
        responses={
            200: CatalogImportOut,
            400: OpenApiResponse(CatalogProblemsOut, description="Every problem; nothing written."),
        },
        tags=["registry"],
    )
    def post(self, request: Request) -> Response:
        if not permissions.can_manage_systems(request.user):
            raise PermissionDenied("Only IT staff import a catalog.")
        text, body_dry_run, problems = _body(request)
        if problems or text is None:
            return _problem_response(problems)
        dry_run = body_dry_run or request.query_params.get("dry_run", "").lower() in _TRUE
        try:
            summary = catalog_import(actor=request.user, text=text, dry_run=dry_run)
        except CatalogRejected as exc:
            return _problem_response(exc.problems)
        return Response(summary)


class CatalogExportView(APIView):
    renderer_classes = [JSONRenderer, YamlRenderer]

    @extend_schema(
        summary="Export the registry as a Backstage catalog",
        description="Users, Groups, Resources and Components as multi-document YAML, in the "
        "import's shapes: an export imports back unchanged.",
        responses={(200, "application/yaml"): OpenApiTypes.STR},
        tags=["registry"],
    )
    def get(self, request: Request) -> HttpResponse:
        response = HttpResponse(catalog_export(), content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
        return response
