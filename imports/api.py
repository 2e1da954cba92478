"""The import and export API, for both formats (the formats: imports/backstage, imports/csv).

Backstage catalog: `POST /api/v1/catalog/import/` takes the YAML as the body
(`Content-Type: application/yaml` or `text/plain`) or JSON `{"text": "...", "dry_run": false}`;
`?dry_run=1` also checks without writing. 200 with the summary, 400 with every problem, 403 for
anyone but IT staff. `GET /api/v1/catalog/export/` answers the whole registry as
`application/yaml`.

CSV: `POST /api/v1/registry/import/` takes the file as the body (`Content-Type: text/csv`) or as
a multipart upload named `file`; `?dry_run=1` checks and answers the plan without writing. Every
problem comes back at once, each with its row, column, value and reason: 400, or 403 when any of
them is a row the caller may not change (then nothing was written either).
`GET /api/v1/registry/export/` answers every project as CSV.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from imports.backstage.apply import catalog_import
from imports.backstage.export import catalog_export
from imports.backstage.format import MAX_BYTES as CATALOG_MAX_BYTES
from imports.backstage.format import CatalogProblem, CatalogRejected, catalog_text_from_bytes
from imports.csv.apply import registry_csv_import
from imports.csv.export import registry_csv_export
from imports.csv.format import MAX_BYTES as CSV_MAX_BYTES
from imports.csv.format import CsvProblem, CsvRejected, csv_text_from_bytes
from imports.engine import ImportRejected, Problem
from registry import permissions
from steward.parsers import StrictJSONParser

from .text_bodies import TextRenderer, attachment, raw_body_parser

_TRUE = {"1", "true", "yes", "on"}


def _dry_run_asked(request: Request) -> bool:
    return request.query_params.get("dry_run", "").lower() in _TRUE


def _problems_response(problems: Sequence[Problem]) -> Response:
    return Response(
        {"problems": [problem.as_dict() for problem in problems]},
        status=status.HTTP_400_BAD_REQUEST,
    )


def _rejected_response(exc: ImportRejected) -> Response:
    """Every problem, 400; 403 when some record is one the caller may not change."""
    if exc.forbidden:
        return Response(
            {
                "detail": exc.forbidden_detail,
                "problems": [problem.as_dict() for problem in exc.listed()],
            },
            status=status.HTTP_403_FORBIDDEN,
        )
    return _problems_response(exc.listed())


# --- Backstage catalog -------------------------------------------------------------------------


YAML_PARSERS = [
    raw_body_parser(media_type, limit=CATALOG_MAX_BYTES)
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
    parser_classes = [*YAML_PARSERS, StrictJSONParser]
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
            return _problems_response(problems)
        dry_run = body_dry_run or _dry_run_asked(request)
        try:
            summary = catalog_import(actor=request.user, text=text, dry_run=dry_run)
        except CatalogRejected as exc:
            return _rejected_response(exc)
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
        return attachment(
            catalog_export(), content_type="application/yaml", filename="catalog-info.yaml"
        )


# --- CSV ---------------------------------------------------------------------------------------


CSV_PARSERS = [
    raw_body_parser(media_type, limit=CSV_MAX_BYTES) for media_type in ("text/csv", "text/plain")
]


class CsvRenderer(TextRenderer):
    media_type = "text/csv"
    format = "csv"


class CsvProblemOut(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True,
        help_text="As a spreadsheet numbers it (the header is row 1); null: the file.",
    )
    column = serializers.CharField(allow_blank=True)
    value = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class CsvProblemsOut(serializers.Serializer):
    problems = CsvProblemOut(many=True)


class CsvForbiddenOut(serializers.Serializer):
    detail = serializers.CharField()
    problems = CsvProblemOut(many=True, required=False)


class CsvRowOut(serializers.Serializer):
    row = serializers.IntegerField()
    slug = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "unchanged"])
    changes = serializers.ListField(child=serializers.CharField())


class CsvImportOut(serializers.Serializer):
    dry_run = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rows = CsvRowOut(many=True)


def _uploaded_bytes(request: Request) -> bytes | None:
    data = request.data
    if isinstance(data, bytes):
        return data
    upload = request.FILES.get("file")
    if upload is None:
        return None
    return upload.read(CSV_MAX_BYTES + 1)


class RegistryImportView(APIView):
    parser_classes = [*CSV_PARSERS, MultiPartParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Import projects from CSV (all rows or none)",
        description="The format is in the README (CSV import and export). Send the file as the "
        "body with `Content-Type: text/csv`, or as a multipart upload named `file`.",
        request={
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
        },
        parameters=[
            OpenApiParameter(
                "dry_run",
                OpenApiTypes.BOOL,
                description="Check every row and answer the plan; write nothing.",
            )
        ],
        responses={
            200: CsvImportOut,
            400: OpenApiResponse(CsvProblemsOut, description="Every problem; nothing written."),
            403: OpenApiResponse(
                CsvForbiddenOut,
                description="Rows the caller may not change (listed, with every other problem); "
                "nothing written.",
            ),
        },
        tags=["registry"],
    )
    def post(self, request: Request) -> Response:
        dry_run = _dry_run_asked(request)
        data = _uploaded_bytes(request)
        if data is None:
            problem = CsvProblem(
                None,
                "",
                "",
                "Send the CSV as the body (Content-Type: text/csv) or as a multipart file "
                "named “file”.",
            )
            return _problems_response([problem])
        try:
            summary = registry_csv_import(
                actor=request.user, text=csv_text_from_bytes(data), dry_run=dry_run
            )
        except CsvRejected as exc:
            return _rejected_response(exc)
        except PermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        return Response(summary)


class RegistryExportView(APIView):
    # CsvRenderer lets `Accept: text/csv` through content negotiation; refusals are JSON.
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        summary="Export every project as CSV",
        description="The import's format: an export imports back unchanged.",
        responses={(200, "text/csv"): OpenApiTypes.STR},
        # The body is CSV whatever is asked; the JSON renderer is there for refusals.
        parameters=[OpenApiParameter("format", exclude=True)],
        tags=["registry"],
    )
    def get(self, request: Request) -> HttpResponse:
        return attachment(registry_csv_export(), content_type="text/csv", filename="registry.csv")
