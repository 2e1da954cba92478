"""`registry/hygiene/`: the hygiene page's lists for IT's own tools (the CSVs have every row)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.permissions import is_it_staff

from . import selectors


class HygieneProjectOut(serializers.Serializer):
    slug = serializers.CharField(source="project.slug")
    name = serializers.CharField(source="project.name")
    owners = serializers.ListField(
        child=serializers.CharField(), help_text="Its active owners' names, in order."
    )
    last_reviewed_on = serializers.DateField(source="project.last_reviewed_on", allow_null=True)
    time_zones = serializers.ListField(
        child=serializers.CharField(),
        help_text="One-zone list: its supporters' IANA zones (one UTC offset now); else empty.",
    )
    supporters = serializers.IntegerField(
        allow_null=True, help_text="One-zone list: how many active supporters it has."
    )


class HygieneListOut(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    count = serializers.IntegerField(help_text="Every project on the list.")
    projects = HygieneProjectOut(many=True, help_text="The first 1000, by name (stale: oldest).")


class HygieneOut(serializers.Serializer):
    review_after_days = serializers.IntegerField()
    lists = HygieneListOut(many=True)


def _project_out(row) -> dict:
    if isinstance(row, selectors.OneZoneProject):
        return {
            "project": row.project,
            "owners": [],
            "time_zones": list(row.zones),
            "supporters": row.supporters,
        }
    return {
        "project": row,
        "owners": [o.display_name for o in selectors.active_owners(row)],
        "time_zones": [],
        "supporters": None,
    }


class HygieneView(APIView):
    @extend_schema(
        responses=HygieneOut,
        summary="Registry hygiene",
        description="IT staff only: projects with one active owner, projects whose supporters "
        "all keep one UTC offset, projects not reviewed lately; each with its count.",
        tags=["registry"],
    )
    def get(self, request: Request) -> Response:
        if not is_it_staff(request.user):
            raise PermissionDenied("Registry hygiene is for IT staff.")
        lists = selectors.hygiene_report(at=timezone.now(), limit=selectors.LIST_ROWS)
        data = {
            "review_after_days": selectors.review_after_days(),
            "lists": [
                {
                    "kind": item.kind,
                    "title": item.title,
                    "count": item.count,
                    "projects": [_project_out(row) for row in item.rows],
                }
                for item in lists
            ],
        }
        return Response(HygieneOut(data).data)
