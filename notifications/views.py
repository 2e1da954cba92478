"""HTML: the signed acknowledge link (no sign-in), acknowledging on the web, "my pages"."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry.models import Person

from . import load, selectors, services
from .models import Page


@require_http_methods(["GET", "POST"])
def ack_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what would be acknowledged (every project the message listed) and a button;
    only POST acknowledges, so that mail scanners that follow links do not acknowledge pages
    nobody has read."""
    try:
        page, person = services.ack_link_resolve(token)
    except services.AckLinkError as exc:
        return render(
            request, "notifications/ack_refused.html", {"reason": exc.message}, status=exc.status
        )
    if request.method == "POST":
        page = services.page_ack(page=page, person=person, via="link")
        template = "notifications/ack_done.html"
    else:
        template = "notifications/ack_confirm.html"
    # A message that listed several projects acknowledges them all: the page says which.
    pages = selectors.pages_acknowledged_with(page=page, person=person)
    return render(request, template, {"page": page, "person": person, "pages": pages})


@login_required
@require_POST
def page_ack(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(Page, pk=pk)
    services.page_ack_by_user(actor=request.user, page=page, via="web")
    return redirect("notifications:mine")


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    person = getattr(request.user, "person", None)
    context = {
        "pages": selectors.pages_awaiting(person) if person else [],
        "notifications": selectors.recent_notifications_of(person) if person else [],
        "undeliverable": selectors.undeliverable_methods_of(person) if person else [],
    }
    return render(request, "notifications/mine.html", context)


MONTHS_SHOWN = 6


@login_required
def oncall_load(request: HttpRequest, person_id: int | None = None) -> HttpResponse:
    """A person's on-call load for the six months up to `?month=YYYY-MM` (this month by
    default): their own, or, for their team leads and IT staff, someone else's."""
    if person_id is None:
        person = getattr(request.user, "person", None)
        if person is None:
            raise Http404("Your account has no person.")
    else:
        person = get_object_or_404(Person, pk=person_id)
    if not load.may_see_load(request.user, person):
        raise PermissionDenied("The person, the leads of their teams and IT staff see this.")
    now = timezone.now().astimezone(ZoneInfo(person.time_zone or "UTC"))
    year, month, error = now.year, now.month, ""
    text = request.GET.get("month", "")
    if text:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if match and 1 <= int(match[2]) <= 12 and 2000 <= int(match[1]) <= 2100:
            year, month = int(match[1]), int(match[2])
        else:
            error = "month: give a month as YYYY-MM, between 2000 and 2100."
    months = []
    for back in range(MONTHS_SHOWN):
        index = year * 12 + month - 1 - back
        months.append(load.oncall_load(person, year=index // 12, month=index % 12 + 1))
    return render(
        request,
        "notifications/oncall_load.html",
        {"person": person, "months": months, "error": error},
        status=400 if error else 200,
    )
