"""The Backstage catalog page (IT staff): upload or paste `catalog-info.yaml`, check, import;
and the export, for any signed-in person. Format and mapping: registry/catalog.py."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from . import permissions
from .catalog import (
    MAX_BYTES,
    MAX_ENTITIES,
    CatalogProblem,
    CatalogRejected,
    catalog_export,
    catalog_import,
    catalog_text_from_bytes,
)

COUNTED_LABELS = {
    "User": "people",
    "Group": "teams",
    "Resource": "IT systems",
    "Component": "projects",
    "Dependency": "dependencies",
}


def _posted_text(request: HttpRequest) -> tuple[str, list[CatalogProblem]]:
    upload = request.FILES.get("file")
    if upload is None:
        return request.POST.get("text", ""), []
    return catalog_text_from_bytes(upload.read(MAX_BYTES + 1))


def _rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"kind": kind, "label": COUNTED_LABELS[kind], **counts}
        for kind, counts in summary["counts"].items()
    ]


@login_required
def catalog_import_page(request: HttpRequest) -> HttpResponse:
    if not permissions.can_manage_systems(request.user):
        raise PermissionDenied("Only IT staff import a catalog.")
    context: dict[str, Any] = {
        "text": "",
        "max_mb": MAX_BYTES // (1024 * 1024),
        "max_entities": MAX_ENTITIES,
    }
    if request.method == "POST":
        text, problems = _posted_text(request)
        dry_run = request.POST.get("action") != "import"
        context["text"] = text if len(text) <= 200_000 else ""
        if not problems and not text.strip():
            problems = [CatalogProblem(None, "", "", "Upload a file or paste the catalog.")]
        if not problems:
            try:
                summary = catalog_import(actor=request.user, text=text, dry_run=dry_run)
            except CatalogRejected as exc:
                problems = exc.problems
            else:
                if not dry_run:
                    changed = sum(
                        c["created"] + c["updated"] + c["removed"]
                        for c in summary["counts"].values()
                    )
                    messages.success(
                        request, f"Catalog imported: {changed} change{'s' if changed != 1 else ''}."
                    )
                    return redirect("registry:catalog_import")
                context["summary"] = summary
                context["rows"] = _rows(summary)
        context["problems"] = problems
    return render(request, "registry/catalog.html", context)


@login_required
def catalog_export_file(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(catalog_export(), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
    return response
