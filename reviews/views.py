"""Pages of incident reviews. Each view parses, calls one service or selector, renders or
redirects; the services authorise every write. Reviews are internal: signed-in people read them,
their editors (`services.may_edit`) write them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from changes.web import domain_errors_to_form
from incidents.models import Incident, Outage
from steward.errors import Conflict
from steward.headers import content_disposition
from steward.web import render_page_or_fragment

from . import markdown, services
from .forms import ActionItemForm, ReviewForm
from .models import SECTIONS, ActionItem, Review
from .selectors import review_for_page
from .timeline import timeline_for


def _review(pk: int) -> Review:
    try:
        return review_for_page(pk)
    except Review.DoesNotExist:
        raise Http404("No such review.") from None


def _context(request: HttpRequest, review: Review, **extra) -> dict:
    may_edit = services.may_edit(request.user, review)
    items = list(review.action_items.all())
    context = {
        "review": review,
        "subject": review.subject,
        "timeline": timeline_for(review.subject),
        "sections": [
            (name, label, markdown.render(getattr(review, name))) for name, label in SECTIONS
        ],
        "items": items,
        "may_edit": may_edit,
        "today": timezone.localdate(),
        "action_form": ActionItemForm() if may_edit else None,
    }
    context.update(extra)
    return context


def _start(request: HttpRequest, *, outage: Outage | None, incident: Incident | None):
    subject = outage or incident
    existing = Review.objects.filter(outage=outage, incident=incident).first()
    if existing is not None and request.method == "GET":
        return redirect(existing)
    project = incident.project if incident is not None else None
    if not services.may_edit_review(request.user, outage=outage, project=project):
        raise PermissionDenied(
            "Only IT staff review an outage; a project incident, its owners and maintainers or "
            "IT staff."
        )
    status = 200
    error = ""
    if request.method == "POST":
        try:
            review = services.review_start(actor=request.user, outage=outage, incident=incident)
        except Conflict as exc:
            error, status = exc.message, 409
        else:
            return redirect(review)
    return render(
        request,
        "reviews/start.html",
        {"subject": subject, "is_outage": outage is not None, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_start_incident(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("project"), pk=pk)
    return _start(request, outage=None, incident=incident)


@login_required
@require_http_methods(["GET", "POST"])
def review_start_outage(request: HttpRequest, pk: int) -> HttpResponse:
    return _start(request, outage=get_object_or_404(Outage, pk=pk), incident=None)


@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(pk)
    return render_page_or_fragment(
        request, "reviews/review.html", "reviews/_action_items.html", _context(request, review)
    )


@login_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(pk)
    if not services.may_edit(request.user, review):
        raise PermissionDenied("Only the review's editors change it.")
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                services.review_edit(actor=request.user, review=review, **form.cleaned_data)
            except ValidationError as exc:
                domain_errors_to_form(form, exc)
            else:
                messages.success(request, "Review saved.")
                return redirect(review)
    else:
        form = ReviewForm(initial={name: getattr(review, name) for name, _label in SECTIONS})
    return render(
        request,
        "reviews/edit.html",
        {"review": review, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def action_item_add(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(pk)
    if not services.may_edit(request.user, review):
        raise PermissionDenied("Only the review's editors add action items.")
    form = ActionItemForm(request.POST)
    if form.is_valid():
        try:
            services.action_item_add(actor=request.user, review=review, **form.cleaned_data)
        except ValidationError as exc:
            domain_errors_to_form(form, exc)
        else:
            if not getattr(request, "htmx", False):
                messages.success(request, "Action item added: its owner is reminded when due.")
                return redirect(review)
            form = ActionItemForm()
    review = _review(pk)
    return render_page_or_fragment(
        request,
        "reviews/review.html",
        "reviews/_action_items.html",
        _context(request, review, action_form=form),
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def action_item_done(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(ActionItem.objects.select_related("review", "owner"), pk=pk)
    done = request.POST.get("done", "1") not in ("0", "false", "")
    services.action_item_update(actor=request.user, item=item, done=done)
    if getattr(request, "htmx", False):
        review = _review(item.review_id)
        return render_page_or_fragment(
            request, "reviews/review.html", "reviews/_action_items.html", _context(request, review)
        )
    return redirect(item.review)


@login_required
def review_export(request: HttpRequest, pk: int) -> HttpResponse:
    review = _review(pk)
    text = markdown.export(
        review,
        timeline_for(review.subject),
        list(review.action_items.all()),
        zone=timezone.get_current_timezone_name(),
    )
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = content_disposition(f"review-{review.pk}.md")
    return response
