"""What the pages of IT events share: a change here, an outage or a project incident in
`incidents`. Datetimes are read and shown in the viewer's zone (`steward.times`); a service's
domain errors land on the form; the live impact preview is one htmx fragment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone

from registry.permissions import is_it_staff
from steward.errors import Conflict

from . import selectors
from .conflicts import conflicts_for

DELIVERY_LOG = "notifications/_delivery_log.html"


def require_it_staff(request: HttpRequest) -> None:
    if not is_it_staff(request.user):
        raise PermissionDenied("Only IT staff register changes and outages.")


def domain_errors_to_form(form: Any, exc: ValidationError | Conflict) -> None:
    """A service's ValidationError lands on the field it names (or on top); a Conflict on top."""
    if isinstance(exc, Conflict):
        form.add_error(None, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def delivery_log_template() -> str | None:
    """The notifications app's delivery log fragment, when it exists."""
    try:
        get_template(DELIVERY_LOG)
    except TemplateDoesNotExist:
        return None
    return DELIVERY_LOG


def event_or_404(loader: Callable[[int], Any], pk: int) -> Any:
    try:
        return loader(pk)
    except ObjectDoesNotExist as exc:
        raise Http404("No such IT event.") from exc


def conflicts_context(
    *, systems: Any, start_at: Any, end_at: Any, exclude_change_id: int | None = None
) -> dict[str, Any]:
    """`conflicts` (and whether they were checked) for a window being planned."""
    if not systems or start_at is None or end_at is None or end_at <= start_at:
        return {"conflicts": [], "conflicts_checked": False}
    found = conflicts_for(
        system_ids=[s.pk for s in systems],
        start_at=start_at,
        end_at=end_at,
        exclude_change_id=exclude_change_id,
    )
    return {"conflicts": found, "conflicts_checked": True}


def impact_preview_response(
    request: HttpRequest, form: Any, *, exclude_change_id: int | None = None
) -> HttpResponse:
    """The impact preview fragment for whatever systems and start the form holds so far; for a
    form with a planned end too (a change's), the conflicts of that window."""
    form.is_valid()  # errors of other fields do not matter for the preview
    systems = form.cleaned_data.get("systems") or []
    at = form.cleaned_data.get("planned_start_at") or timezone.now()
    preview = selectors.impact_preview(systems=systems, at=at)
    context: dict[str, Any] = {"preview": preview}
    if "planned_end_at" in form.fields:
        context |= conflicts_context(
            systems=systems,
            start_at=form.cleaned_data.get("planned_start_at"),
            end_at=form.cleaned_data.get("planned_end_at"),
            exclude_change_id=exclude_change_id,
        )
    return render(request, "incidents/_impact_preview.html", context)


def wants_impact_preview(request: HttpRequest) -> bool:
    return bool(request.htmx) and request.htmx.target == "impact-preview"
