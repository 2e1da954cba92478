"""HTML: the hygiene page for IT (and its CSV downloads), the owners' "still accurate" button on
the project page, and the signed link of a review nudge (no sign-in)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry.models import Project
from registry.permissions import is_it_staff
from steward.headers import content_disposition
from steward.web import render_page_or_fragment

from . import selectors, services

# A cell starting with one of these is a formula to a spreadsheet: it gets a leading quote (as
# the registry's CSV export does, imports/csv/format.py, which this app may not import).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _require_it(request: HttpRequest) -> None:
    if not is_it_staff(request.user):
        raise PermissionDenied("Registry hygiene is for IT staff.")


@login_required
def hygiene_page(request: HttpRequest) -> HttpResponse:
    """Every list with its count at the top; `?list=<kind>` shows one list, longer (the
    fragment of an htmx swap, from the same URL)."""
    _require_it(request)
    kind = request.GET.get("list", "")
    now = timezone.now()
    if kind:
        if kind not in selectors.LIST_TITLES:
            raise Http404("No such list.")
        lists = [selectors.hygiene_list(kind, at=now, limit=selectors.LIST_ROWS)]
    else:
        lists = selectors.hygiene_report(at=now)
    context = {
        "lists": lists,
        "single": bool(kind),
        "review_after_days": selectors.review_after_days(),
    }
    return render_page_or_fragment(request, "hygiene/page.html", "hygiene/_lists.html", context)


def _guard(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def hygiene_csv(request: HttpRequest, kind: str) -> StreamingHttpResponse:
    _require_it(request)
    if kind not in selectors.CSV_COLUMNS:
        raise Http404("No such list.")
    writer = csv.writer(_Echo())
    rows = selectors.hygiene_csv_rows(kind, at=timezone.now())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # spreadsheets read UTF-8 names right with the BOM
        for row in rows:
            yield writer.writerow([_guard(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition(f"registry-{kind}.csv")
    return response


@login_required
@require_POST
def project_reviewed(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    project = services.project_confirm(actor=request.user, project=project)
    messages.success(request, f"Thank you: {project.name}'s entry is confirmed as accurate.")
    return redirect("registry:project_detail", slug=project.slug)


@require_http_methods(["GET", "POST"])
def review_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the entry's owner what they confirm and a button; only POST confirms, so that
    mail scanners that follow links confirm nothing."""
    try:
        project, person = services.review_link_resolve(token)
        if request.method == "POST":
            project = services.review_link_use(token=token)
    except services.ReviewLinkError as exc:
        return render(
            request, "hygiene/review_refused.html", {"reason": exc.message}, status=exc.status
        )
    template = "hygiene/review_done.html" if request.method == "POST" else "hygiene/review.html"
    return render(request, template, {"project": project, "person": person})
