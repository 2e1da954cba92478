"""Server-rendered pages for IT changes and outages (htmx for the live impact preview).

Each view parses a form, calls one service or selector, and renders or redirects. Datetimes are
read and shown in the signed-in person's own time zone. Service errors show inline on the form.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry.errors import Conflict
from registry.permissions import is_it_staff

from . import selectors, services
from .forms import ChangeForm, ChangeResponseForm, OutageForm, OutageUpdateForm
from .models import Change, Outage

DELIVERY_LOG = "notifications/_delivery_log.html"


def _time_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    person = getattr(request.user, "person", None)
    try:
        return zoneinfo.ZoneInfo(person.time_zone if person else "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@contextmanager
def _in_users_time_zone(request: HttpRequest):
    with timezone.override(_time_zone(request)):
        yield


def _in_time_zone(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Forms read and templates show datetimes in the signed-in person's time zone."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with _in_users_time_zone(request):
            return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _require_it_staff(request: HttpRequest) -> None:
    if not is_it_staff(request.user):
        raise PermissionDenied("Only IT staff register changes and outages.")


def _domain_errors_to_form(form: Any, exc: ValidationError | Conflict) -> None:
    """A service's ValidationError lands on the field it names (or on top); a Conflict on top."""
    if isinstance(exc, Conflict):
        form.add_error(None, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _delivery_log_template() -> str | None:
    """The notifications app's delivery log fragment, when it exists."""
    try:
        get_template(DELIVERY_LOG)
    except TemplateDoesNotExist:
        return None
    return DELIVERY_LOG


def _get(loader: Callable[[int], Model], pk: int) -> Any:
    try:
        return loader(pk)
    except (Change.DoesNotExist, Outage.DoesNotExist) as exc:
        raise Http404("No such IT event.") from exc


def _preview_response(request: HttpRequest, form: ChangeForm | OutageForm) -> HttpResponse:
    """The impact preview fragment for whatever systems and start the form holds so far."""
    form.is_valid()  # errors of other fields do not matter for the preview
    systems = form.cleaned_data.get("systems") or []
    at = form.cleaned_data.get("planned_start_at") or timezone.now()
    preview = selectors.impact_preview(systems=systems, at=at)
    return render(request, "incidents/_impact_preview.html", {"preview": preview})


def _wants_preview(request: HttpRequest) -> bool:
    return bool(request.htmx) and request.htmx.target == "impact-preview"


# --- changes -----------------------------------------------------------------------------------


@login_required
@_in_time_zone
def change_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in Change.State.values:
        state = ""
    changes = selectors.changes_for_list(state=state)[:200]
    return render(
        request,
        "incidents/change_list.html",
        {"changes": changes, "state": state, "states": Change.State.choices},
    )


@login_required
@_in_time_zone
@require_http_methods(["GET", "POST"])
def change_create(request: HttpRequest) -> HttpResponse:
    """GET with the form's fields from htmx renders only the impact preview."""
    _require_it_staff(request)
    if request.method == "GET" and _wants_preview(request):
        return _preview_response(request, ChangeForm(request.GET))
    form = ChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change = services.change_create(actor=request.user, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            _domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Draft saved. Schedule it to tell the owners.")
            return redirect(change)
    return render(request, "incidents/change_form.html", {"form": form, "change": None})


@login_required
@_in_time_zone
@require_http_methods(["GET", "POST"])
def change_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require_it_staff(request)
    change = _get(selectors.change_for_page, pk)
    if request.method == "GET" and _wants_preview(request):
        return _preview_response(request, ChangeForm(request.GET))
    if request.method == "POST":
        form = ChangeForm(request.POST)
        if form.is_valid():
            try:
                services.change_update(actor=request.user, change=change, **form.cleaned_data)
            except (ValidationError, Conflict) as exc:
                _domain_errors_to_form(form, exc)
            else:
                messages.success(request, "Change saved.")
                return redirect(change)
    else:
        form = ChangeForm(initial=ChangeForm.initial_for(change))
    return render(request, "incidents/change_form.html", {"form": form, "change": change})


@login_required
@_in_time_zone
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = _get(selectors.change_for_page, pk)
    person = getattr(request.user, "person", None)
    answerable = (
        selectors.projects_a_person_answers_for(change=change, person=person) if person else []
    )
    preview = None
    if change.state == Change.State.DRAFT:
        preview = selectors.impact_preview(systems=change.systems.all(), at=change.planned_start_at)
    return render(
        request,
        "incidents/change_detail.html",
        {
            "change": change,
            "preview": preview,
            "answerable": answerable,
            "delivery_log": _delivery_log_template(),
        },
    )


CHANGE_TRANSITIONS: dict[str, tuple[Callable[..., Change], str]] = {
    "schedule": (services.change_schedule, "Scheduled: the touched owners are being told."),
    "start": (services.change_start, "Started."),
    "complete": (services.change_complete, "Completed: the touched owners are being told."),
    "cancel": (services.change_cancel, "Cancelled."),
}


@login_required
@require_POST
def change_transition(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in CHANGE_TRANSITIONS:
        raise Http404("No such transition.")
    change = get_object_or_404(Change, pk=pk)
    service, done = CHANGE_TRANSITIONS[action]
    try:
        service(actor=request.user, change=change)
    except (ValidationError, Conflict) as exc:
        messages.error(
            request, exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
        )
    else:
        messages.success(request, done)
    return redirect(change)


@login_required
@_in_time_zone
@require_http_methods(["GET", "POST"])
def change_respond(request: HttpRequest, pk: int) -> HttpResponse:
    """The page the notice's link opens: a touched project's people answer fine or concern."""
    change = _get(selectors.change_for_page, pk)
    person = getattr(request.user, "person", None)
    touched = (
        selectors.projects_a_person_answers_for(change=change, person=person) if person else []
    )
    if not touched:
        raise PermissionDenied("Only people with a role on a touched project answer a change.")
    mine = {
        (r.project_id, r.answer, r.comment) for r in change.responses.all() if r.person == person
    }
    initial: dict[str, Any] = {}
    wanted = request.GET.get("project")
    for item in touched:
        if item.project.slug == wanted:
            initial["project"] = item.project_id
    form = ChangeResponseForm(request.POST or None, touched=touched, initial=initial)
    if request.method == "POST" and form.is_valid():
        project = next(i.project for i in touched if i.project_id == form.cleaned_data["project"])
        try:
            services.change_respond(
                actor=request.user,
                change=change,
                project=project,
                answer=form.cleaned_data["answer"],
                comment=form.cleaned_data["comment"],
            )
        except (ValidationError, Conflict) as exc:
            _domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Thank you: IT sees your answer on the change.")
            return redirect(change)
    return render(
        request,
        "incidents/change_respond.html",
        {"change": change, "form": form, "touched": touched, "mine": mine},
    )


# --- outages -----------------------------------------------------------------------------------


@login_required
@_in_time_zone
def outage_list(request: HttpRequest) -> HttpResponse:
    open_only = request.GET.get("open") == "1"
    outages = selectors.outages_for_list(open_only=open_only)[:200]
    return render(
        request, "incidents/outage_list.html", {"outages": outages, "open_only": open_only}
    )


@login_required
@_in_time_zone
@require_http_methods(["GET", "POST"])
def outage_open(request: HttpRequest) -> HttpResponse:
    _require_it_staff(request)
    if request.method == "GET" and _wants_preview(request):
        return _preview_response(request, OutageForm(request.GET))
    form = OutageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            outage = services.outage_open(actor=request.user, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            _domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Outage opened: every touched project is being paged.")
            return redirect(outage)
    return render(request, "incidents/outage_form.html", {"form": form})


@login_required
@_in_time_zone
def outage_detail(request: HttpRequest, pk: int) -> HttpResponse:
    outage = _get(selectors.outage_for_page, pk)
    form = OutageUpdateForm(initial={"status": outage.status}) if outage.is_open else None
    return render(
        request,
        "incidents/outage_detail.html",
        {"outage": outage, "form": form, "delivery_log": _delivery_log_template()},
    )


@login_required
@_in_time_zone
@require_POST
def outage_update(request: HttpRequest, pk: int) -> HttpResponse:
    outage = _get(selectors.outage_for_page, pk)
    form = OutageUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.outage_update(actor=request.user, outage=outage, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            _domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Update posted: the touched owners are being told.")
            return redirect(outage)
    outage = selectors.outage_for_page(pk)
    return render(
        request,
        "incidents/outage_detail.html",
        {"outage": outage, "form": form, "delivery_log": _delivery_log_template()},
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
