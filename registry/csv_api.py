"""API for the CSV import and export of the registry (format: registry/csv_io.py).

`POST /api/v1/registry/import/` takes the file as the body (`Content-Type: text/csv`) or as a
multipart upload named `file`; `?dry_run=1` checks and answers the plan without writing. Every
problem comes back at once, each with its row, column, value and reason: 400, or 403 when any of
them is a row the caller may not change (then nothing was written either).
`GET /api/v1/registry/export/` answers every project as CSV.
"""

from __future__ import annotations

from typing import Any

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

from .api.text_bodies import TextRenderer, raw_body_parser
from .csv_io import (
    MAX_BYTES,
    CsvProblem,
    CsvRejected,
    csv_text_from_bytes,
    registry_csv_export,
    registry_csv_import,
)

CSV_PARSERS = [
    raw_body_parser(media_type, limit=MAX_BYTES) for media_type in ("text/csv", "text/plain")
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


def _problems(problems: list[CsvProblem]) -> list[dict[str, Any]]:
    return [problem.as_dict() for problem in problems]


def _uploaded_bytes(request: Request) -> bytes | None:
    data = request.data
    if isinstance(data, bytes):
        return data
    upload = request.FILES.get("file")
    if upload is None:
        return None
    return upload.read(MAX_BYTES + 1)


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
        dry_run = request.query_params.get("dry_run", "").lower() in {"1", "true", "yes", "on"}
        data = _uploaded_bytes(request)
        if data is None:
            problem = CsvProblem(
                None,
                "",
                "",
                "Send the CSV as the body (Content-Type: text/csv) or as a multipart file "
                "named “file”.",
            )
            return Response({"problems": _problems([problem])}, status=400)
        try:
            summary = registry_csv_import(
                actor=request.user, text=csv_text_from_bytes(data), dry_run=dry_run
            )
        except CsvRejected as exc:
            if exc.forbidden:
                return Response(
                    {
                        "detail": "You may not change some of these projects; nothing was written.",
                        "problems": _problems(exc.problems),
                    },
                    status=status.HTTP_403_FORBIDDEN,
                )
            return Response({"problems": _problems(exc.problems)}, status=400)
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
        response = HttpResponse(registry_csv_export(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="registry.csv"'
        return response
