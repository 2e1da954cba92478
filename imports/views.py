"""The import and export pages, for both formats. Each import page checks, then imports: "Check
only" shows what would change (or every problem), "Import" applies it, and the page keeps what
the user sent (an uploaded file's text comes back in the text box beside the plan or the
problems, so "Import" after "Check" sends exactly what was checked).

The Backstage catalog page is for IT staff; the CSV page for anyone registered, each row then
authorised on its own. The exports are for any signed-in person. The pages keep the `registry:`
URL names they had before the imports app existed (see steward/urls.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from imports.backstage.apply import catalog_import
from imports.backstage.export import catalog_export
from imports.backstage.format import MAX_BYTES as CATALOG_MAX_BYTES
from imports.backstage.format import (
    MAX_ENTITIES,
    CatalogProblem,
    CatalogRejected,
    catalog_text_from_bytes,
)
from imports.csv.apply import registry_csv_import
from imports.csv.export import registry_csv_export
from imports.csv.format import COLUMNS, MAX_ROWS, REQUIRED, CsvRejected, csv_text_from_bytes
from imports.csv.format import MAX_BYTES as CSV_MAX_BYTES
from registry import permissions

from .text_bodies import attachment

# --- Backstage catalog -------------------------------------------------------------------------


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
    return catalog_text_from_bytes(upload.read(CATALOG_MAX_BYTES + 1))


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
        "max_mb": CATALOG_MAX_BYTES // (1024 * 1024),
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
                problems = exc.listed()
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
    return render(request, "imports/catalog.html", context)


@login_required
def catalog_export_file(request: HttpRequest) -> HttpResponse:
    return attachment(
        catalog_export(), content_type="application/yaml", filename="catalog-info.yaml"
    )


# --- CSV ---------------------------------------------------------------------------------------


@login_required
def csv_import(request: HttpRequest) -> HttpResponse:
    context = {
        "text": "",
        "summary": None,
        "problems": None,
        "columns": COLUMNS,
        "required": REQUIRED,
        "max_mb": CSV_MAX_BYTES // (1024 * 1024),
        "max_rows": MAX_ROWS,
    }
    if request.method != "POST":
        return render(request, "imports/csv_import.html", context)
    dry_run = request.POST.get("action") != "import"
    upload = request.FILES.get("file")
    status = 200
    try:
        if upload is not None:
            text = csv_text_from_bytes(upload.read(CSV_MAX_BYTES + 1))
        else:
            text = request.POST.get("text", "")
        context["text"] = text
        summary = registry_csv_import(actor=request.user, text=text, dry_run=dry_run)
    except CsvRejected as exc:
        context["problems"] = exc.listed()
        status = 403 if exc.forbidden else 200
    else:
        if not dry_run:
            messages.success(
                request,
                f"Imported: {summary['created']} created, {summary['updated']} updated, "
                f"{summary['unchanged']} unchanged.",
            )
            return redirect("registry:csv_import")
        context["summary"] = summary
    return render(request, "imports/csv_import.html", context, status=status)


@login_required
def csv_export(request: HttpRequest) -> HttpResponse:
    return attachment(registry_csv_export(), content_type="text/csv", filename="registry.csv")
