"""Server-rendered pages for IT changes (htmx for the live impact preview).

Each view parses a form, calls one service or selector, and renders or redirects. Datetimes are
read and shown in the signed-in person's own time zone. Service errors show inline on the form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from steward.errors import Conflict

from . import selectors, services, slots
from .forms import ChangeForm, ChangeResponseForm, SlotBookForm, SlotSearchForm
from .models import Change
from .web import (
    conflicts_context,
    delivery_log_template,
    domain_errors_to_form,
    event_or_404,
    impact_preview_response,
    require_it_staff,
    wants_impact_preview,
)


@login_required
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
@require_http_methods(["GET", "POST"])
def change_create(request: HttpRequest) -> HttpResponse:
    """GET with the form's fields from htmx renders only the impact preview."""
    require_it_staff(request)
    if request.method == "GET" and wants_impact_preview(request):
        return impact_preview_response(request, ChangeForm(request.GET))
    form = ChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change = services.change_create(actor=request.user, **form.cleaned_data)
        except (ValidationError, Conflict) as exc:
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Draft saved. Schedule it to tell the owners.")
            return redirect(change)
    return render(
        request,
        "incidents/change_form.html",
        {"form": form, "change": None, **_form_conflicts(form)},
    )


def _form_conflicts(form: ChangeForm, change: Change | None = None) -> dict[str, Any]:
    data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else form.initial
    return conflicts_context(
        systems=data.get("systems"),
        start_at=data.get("planned_start_at"),
        end_at=data.get("planned_end_at"),
        exclude_change_id=change.pk if change else None,
    )


@login_required
@require_http_methods(["GET", "POST"])
def change_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_it_staff(request)
    change = event_or_404(selectors.change_for_page, pk)
    if request.method == "GET" and wants_impact_preview(request):
        return impact_preview_response(
            request, ChangeForm(request.GET), exclude_change_id=change.pk
        )
    if request.method == "POST":
        form = ChangeForm(request.POST)
        if form.is_valid():
            try:
                services.change_update(actor=request.user, change=change, **form.cleaned_data)
            except (ValidationError, Conflict) as exc:
                domain_errors_to_form(form, exc)
            else:
                messages.success(request, "Change saved.")
                return redirect(change)
    else:
        form = ChangeForm(initial=ChangeForm.initial_for(change))
    return render(
        request,
        "incidents/change_form.html",
        {"form": form, "change": change, **_form_conflicts(form, change)},
    )


@login_required
def change_detail(request: HttpRequest, pk: int) -> HttpResponse:
    change = event_or_404(selectors.change_for_page, pk)
    person = getattr(request.user, "person", None)
    answerable = (
        selectors.projects_a_person_answers_for(change=change, person=person) if person else []
    )
    preview = None
    history = selectors.history_of(change)
    if change.state == Change.State.DRAFT:
        preview = selectors.impact_preview(systems=change.systems.all(), at=change.planned_start_at)
    planned = change.state in (Change.State.DRAFT, Change.State.SCHEDULED)
    conflicts = (
        conflicts_context(
            systems=change.systems.all(),
            start_at=change.planned_start_at,
            end_at=change.planned_end_at,
            exclude_change_id=change.pk,
        )
        if planned
        else {"conflicts": [], "conflicts_checked": False}
    )
    return render(
        request,
        "incidents/change_detail.html",
        {
            "change": change,
            "window": getattr(change, "maintenance", None),
            **conflicts,
            "preview": preview,
            "history": history,
            "answerable": answerable,
            "delivery_log": delivery_log_template(),
        },
    )


CHANGE_TRANSITIONS: dict[str, tuple[Callable[..., Change], str]] = {
    "schedule": (services.change_schedule, "Scheduled: the touched owners are being told."),
    "start": (services.change_start, "Started."),
    "complete": (services.change_complete, "Completed: the touched owners are being told."),
    "cancel": (services.change_cancel, "Cancelled."),
    "rollback": (services.change_roll_back, "Rolled back: the touched owners are being told."),
}


@login_required
@require_POST
def change_transition(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in CHANGE_TRANSITIONS:
        raise Http404("No such transition.")
    change = get_object_or_404(Change, pk=pk)
    service, done = CHANGE_TRANSITIONS[action]
    extra: dict[str, Any] = {}
    if action == "schedule" and request.POST.get("conflict_justification", "").strip():
        extra["conflict_justification"] = request.POST["conflict_justification"][:5000]
    try:
        service(actor=request.user, change=change, **extra)
    except (ValidationError, Conflict) as exc:
        messages.error(
            request, exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
        )
    else:
        messages.success(request, done)
    return redirect(change)


@login_required
@require_http_methods(["GET", "POST"])
def change_respond(request: HttpRequest, pk: int) -> HttpResponse:
    """The page the notice's link opens: a touched project's people answer fine or concern."""
    change = event_or_404(selectors.change_for_page, pk)
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
            domain_errors_to_form(form, exc)
        else:
            messages.success(request, "Thank you: IT sees your answer on the change.")
            return redirect(change)
    return render(
        request,
        "incidents/change_respond.html",
        {"change": change, "form": form, "touched": touched, "mine": mine},
    )


@login_required
def change_slots(request: HttpRequest) -> HttpResponse:
    """The quietest-slot search: the form, and with its fields in the query string the slots
    (only the list for htmx). Each slot books in one click when the form has a title."""
    require_it_staff(request)
    form = SlotSearchForm(request.GET or None)
    search = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            search = slots.quietest_slots(
                systems=data["systems"],
                duration_minutes=data["duration_minutes"],
                range_start=data["range_start"],
                range_end=data["range_end"],
            )
        except ValidationError as exc:
            domain_errors_to_form(form, exc)
    context = {"form": form, "search": search}
    if request.htmx and request.htmx.target == "slot-results":
        return render(request, "incidents/_slot_results.html", context)
    return render(request, "incidents/change_slots.html", context)


@login_required
@require_POST
def change_slot_book(request: HttpRequest) -> HttpResponse:
    """Book one suggested slot: the change is created and scheduled (owners are told)."""
    require_it_staff(request)
    form = SlotBookForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"Not booked: {problems}")
        return redirect("incidents:change-slots")
    data = form.cleaned_data
    try:
        change = services.change_book(
            actor=request.user,
            title=data["title"],
            systems=data["systems"],
            planned_start_at=data["planned_start_at"],
            duration=timedelta(minutes=data["duration_minutes"]),
        )
    except (ValidationError, Conflict) as exc:
        messages.error(
            request,
            f"Not booked: {exc.message if isinstance(exc, Conflict) else ' '.join(exc.messages)}",
        )
        return redirect("incidents:change-slots")
    messages.success(request, "Booked and scheduled: the touched owners are being told.")
    return redirect(change)
