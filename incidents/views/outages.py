"""Server-rendered pages for IT outages (htmx for the live impact preview).

Each view parses a form, calls one service or selector, and renders or redirects. Datetimes are
read and shown in the signed-in person's own time zone. Service errors show inline on the form.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from changes.web import (
    delivery_log_template,
    domain_errors_to_form,
    event_or_404,
    impact_preview_response,
    require_it_staff,
    wants_impact_preview,
)
from steward.errors import Conflict

from .. import selectors
from ..forms import OutageForm, OutageUpdateForm
from ..models import Outage
from ..services import outages as services


@login_required
def outage_list(request: HttpRequest) -> HttpResponse:
    open_only = request.GET.get("open") == "1"
    outages = selectors.outages_for_list(open_only=open_only)[:200]
    return render(
        request, "incidents/outage_list.html", {"outages": outages, "open_only": open_only}
    )


@login_required
@require_http_methods(["GET", "POST"])
def outage_open(request: HttpRequest) -> HttpResponse:
    require_it_staff(request)
    if request.method == "GET" and wants_impact_preview(request):
        return impact_preview_response(request, OutageForm(request.GET))
    form = OutageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            outage = services.outage_open(actor=request.user, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Outage opened: every touched project is being paged.")
            return redirect(outage)
    return render(request, "incidents/outage_form.html", {"form": form})


@login_required
def outage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    outage = event_or_404(selectors.outage_for_page, pk)
    form = (
        OutageUpdateForm(initial={"status": outage.status, "public_summary": outage.public_summary})
        if outage.is_open
        else None
    )
    return render(
        request,
        "incidents/outage_detail.html",
        {"outage": outage, "form": form, "delivery_log": delivery_log_template()},
    )


@login_required
@require_POST
def outage_update(request: HttpRequest, pk: int) -> HttpResponse:
    outage = event_or_404(selectors.outage_for_page, pk)
    form = OutageUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.outage_update(actor=request.user, outage=outage, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Update posted: the touched owners are being told.")
            return redirect(outage)
    outage = selectors.outage_for_page(pk)
    return render(
        request,
        "incidents/outage_detail.html",
        {"outage": outage, "form": form, "delivery_log": delivery_log_template()},
        status=400,
    )


@login_required
@require_POST
def outage_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    outage = get_object_or_404(Outage, pk=pk)
    try:
        services.outage_resolve(
            actor=request.user, outage=outage, message=request.POST.get("message", "")
        )
    except (ValidationError, Conflict) as exc:
        messages.error(
            request, exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
        )
    else:
        messages.success(request, "Resolved: escalation stopped, the owners are being told.")
    return redirect(outage)
