"""The CSV import page (check, then import) and the CSV download of the whole registry.

The page keeps what the user sent: an uploaded file's text comes back in the text box beside
the plan or the problems, so "Import" after "Check" sends exactly what was checked.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .csv_io import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    REQUIRED,
    CsvRejected,
    csv_text_from_bytes,
    registry_csv_export,
    registry_csv_import,
)


@login_required
def csv_import(request: HttpRequest) -> HttpResponse:
    context = {
        "text": "",
        "summary": None,
        "problems": None,
        "columns": COLUMNS,
        "required": REQUIRED,
        "max_mb": MAX_BYTES // (1024 * 1024),
        "max_rows": MAX_ROWS,
    }
    if request.method != "POST":
        return render(request, "registry/csv_import.html", context)
    dry_run = request.POST.get("action") != "import"
    upload = request.FILES.get("file")
    status = 200
    try:
        if upload is not None:
            text = csv_text_from_bytes(upload.read(MAX_BYTES + 1))
        else:
            text = request.POST.get("text", "")
        context["text"] = text
        summary = registry_csv_import(actor=request.user, text=text, dry_run=dry_run)
    except CsvRejected as exc:
        context["problems"] = exc.problems
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
    return render(request, "registry/csv_import.html", context, status=status)


@login_required
def csv_export(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(registry_csv_export(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="registry.csv"'
    return response
