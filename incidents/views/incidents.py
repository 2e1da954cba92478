"""Pages of the portal: project incidents (with suspect changes), status pages, insights.

Each view parses, calls one service or selector, renders or redirects. Status pages (and an
incident's public part) are open to anonymous visitors when `STEWARD_STATUS_PUBLIC` is true;
everything else needs a signed-in user, and writes are authorised per project by the services.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from changes.models import Change, Release
from changes.web import domain_errors_to_form
from registry.models import ITSystem, Project
from registry.permissions import is_it_staff
from steward.errors import Conflict
from steward.headers import content_disposition

from ..forms import IncidentCauseForm, IncidentOpenForm, IncidentUpdateForm, PeriodForm
from ..insights import insights_csv, period_bounds, project_insights, system_insights
from ..models import PLANNED_CHANGE_SUMMARY, Incident, IncidentUpdate, Outage
from ..services import incidents as services
from ..status import (
    STATE_LABELS,
    project_status,
    status_overview,
    suspects_for,
)

STATUS_PAGE_SIZE = 100


def status_visible(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anyone when status pages are public; otherwise signed-in people only."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.STEWARD_STATUS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


# --- incidents -----------------------------------------------------------------------------------


def _incident(pk: int) -> Incident:
    try:
        return (
            Incident.objects.select_related(
                "project",
                "cause_change",
                "cause_outage",
                "cause_release__system",
                "opened_by__person",
            )
            .prefetch_related(
                Prefetch(
                    "updates",
                    queryset=IncidentUpdate.objects.select_related("author__person").order_by(
                        "-created_at", "-id"
                    ),
                )
            )
            .get(pk=pk)
        )
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


def _detail_context(request: HttpRequest, incident: Incident, **extra: Any) -> dict[str, Any]:
    signed_in = request.user.is_authenticated
    may_write = signed_in and services.may_run_incidents(request.user, incident.project)
    context = {
        "incident": incident,
        "may_write": may_write,
        # Suspects name internal IT systems: signed-in people only.
        "suspects": suspects_for(incident) if signed_in else None,
        "update_form": (
            IncidentUpdateForm(initial={"status": incident.status, "impact": incident.impact})
            if may_write and incident.is_open
            else None
        ),
    }
    context.update(extra)
    return context


@status_visible
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(pk)
    return render(request, "portal/incident_detail.html", _detail_context(request, incident))


@login_required
@require_http_methods(["GET", "POST"])
def incident_open(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    if not services.may_run_incidents(request.user, project):
        raise PermissionDenied(
            "Only the project's owners and maintainers or IT staff run its incidents."
        )
    form = IncidentOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = services.incident_open(
                actor=request.user, project=project, **form.cleaned_data
            )
        except (ValidationError, Conflict) as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Incident opened: subscribers and owners are being told.")
            return redirect("incident_portal:incident-detail", pk=incident.pk)
    return render(
        request,
        "portal/incident_open.html",
        {"project": project, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def incident_update(request: HttpRequest, pk: int) -> HttpResponse:
    incident = _incident(pk)
    form = IncidentUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.incident_update_post(
                actor=request.user, incident=incident, **form.cleaned_data
            )
        except Conflict as exc:
            messages.error(request, exc.message)
            return render(
                request,
                "portal/incident_detail.html",
                _detail_context(request, _incident(pk)),
                status=409,
            )
        except ValidationError as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Update posted: subscribers and owners are being told.")
            return redirect("incident_portal:incident-detail", pk=incident.pk)
    return render(
        request,
        "portal/incident_detail.html",
        _detail_context(request, _incident(pk), update_form=form),
        status=400,
    )


@login_required
@require_POST
def incident_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("project"), pk=pk)
    try:
        services.incident_resolve(
            actor=request.user, incident=incident, message=request.POST.get("message", "")
        )
    except Conflict as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Resolved: subscribers and owners are being told.")
    return redirect("incident_portal:incident-detail", pk=incident.pk)


@login_required
@require_POST
def incident_cause(request: HttpRequest, pk: int) -> HttpResponse:
    """Name a suspect as the cause (or clear it). From htmx, answers the refreshed suspects."""
    incident = _incident(pk)
    form = IncidentCauseForm(request.POST)
    error = ""
    if form.is_valid():
        kind, event_id = form.cleaned_data.get("kind"), form.cleaned_data.get("event")
        model = {"change": Change, "outage": Outage, "release": Release}.get(kind)
        event = model.objects.filter(pk=event_id).first() if model else None
        if model and event is None:
            error = f"No such {'release' if kind == 'release' else f'IT {kind}'}."
        else:
            try:
                services.incident_cause_set(
                    actor=request.user,
                    incident=incident,
                    change=event if kind == "change" else None,
                    outage=event if kind == "outage" else None,
                    release=event if kind == "release" else None,
                )
            except (ValidationError, Conflict) as exc:
                error = exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
    else:
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    incident = _incident(pk)
    if request.htmx:
        context = _detail_context(request, incident, cause_error=error)
        return render(request, "portal/_suspects.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Cause saved.")
    return redirect(reverse("incident_portal:incident-detail", args=[pk]) + "#suspects")


# --- status --------------------------------------------------------------------------------------


@status_visible
def status_index(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.exclude(support_tier="retired").order_by("name")
    page = Paginator(projects, STATUS_PAGE_SIZE).get_page(request.GET.get("page"))
    overview = status_overview(list(page.object_list))
    rows = sorted(overview.rows, key=lambda r: (-r[1].level, r[0].name.lower()))
    response = render(
        request,
        "portal/status_index.html",
        {"overview": overview, "rows": rows, "page": page, "state_labels": STATE_LABELS},
    )
    patch_vary_headers(response, ("Cookie",))
    return response


@status_visible
def status_project(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    status = project_status(project, public=not request.user.is_authenticated)
    return render(
        request,
        "portal/status_project.html",
        {
            "project": project,
            "status": status,
            "may_write": request.user.is_authenticated
            and services.may_run_incidents(request.user, project),
            "state_labels": STATE_LABELS,
            "planned_change_summary": PLANNED_CHANGE_SUMMARY,
        },
    )


# --- insights ------------------------------------------------------------------------------------


def _insights_response(
    request: HttpRequest, *, subject: Project | ITSystem, kind: str, compute: Callable
) -> HttpResponse:
    form = PeriodForm(request.GET or None)
    first, last = form.period()
    start, end = period_bounds(first, last)
    insights = compute(subject, start=start, end=end)
    if request.GET.get("format") == "csv":
        response = HttpResponse(insights_csv(insights), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition(
            f"steward-{kind}-{subject.slug}-{first}-{last}.csv"
        )
        return response
    return render(
        request,
        "portal/insights.html",
        {
            "subject": subject,
            "kind": kind,
            "form": form,
            "first": first,
            "last": last,
            "insights": insights,
            "chart": _chart(insights),
            "generated_at": timezone.now(),
        },
    )


def _chart(insights) -> dict[str, Any]:
    """Geometry of the server-side SVG charts: incidents per week, and the timing bars."""
    weeks = insights.per_week
    peak = max((n for _w, n in weeks), default=0) or 1
    width = max(1, len(weeks))
    bar_w = 600 / width
    bars = [
        {
            "x": round(i * bar_w + 1, 2),
            "w": round(max(bar_w - 2, 1), 2),
            "h": round(n / peak * 120, 2),
            "y": round(130 - n / peak * 120, 2),
            "label": f"Week of {monday:%d %b}: {n}",
            "n": n,
        }
        for i, (monday, n) in enumerate(weeks)
    ]
    timings = [
        ("Acknowledge, median", insights.acknowledge.median),
        ("Acknowledge, 90th pct", insights.acknowledge.p90),
        ("Resolve, median", insights.resolve.median),
        ("Resolve, 90th pct", insights.resolve.p90),
        ("Page ack, median", insights.page_ack_minutes.median),
        ("Page ack, 90th pct", insights.page_ack_minutes.p90),
    ]
    longest = max((v for _l, v in timings if v is not None), default=0) or 1
    return {
        "bars": bars,
        "peak": peak,
        "timings": [
            {
                "label": label,
                "value": value,
                "w": 0 if value is None else round(value / longest * 380, 2),
                "tx": (0 if value is None else round(value / longest * 380, 2)) + 166,
                "y": i * 26 + 16,
                "bar_y": i * 26 + 4,
            }
            for i, (label, value) in enumerate(timings)
        ],
    }


@login_required
def insights_project(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    if not services.may_run_incidents(request.user, project):
        raise PermissionDenied("Insights are for the project's owners and maintainers and IT.")
    return _insights_response(request, subject=project, kind="project", compute=project_insights)


@login_required
def insights_system(request: HttpRequest, slug: str) -> HttpResponse:
    system = get_object_or_404(ITSystem, slug=slug)
    if not is_it_staff(request.user):
        raise PermissionDenied("Insights on IT systems are for IT staff.")
    return _insights_response(request, subject=system, kind="system", compute=system_insights)
