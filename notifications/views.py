"""HTML: the signed acknowledge link (no sign-in), acknowledging on the web, "my pages"."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import selectors, services
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
