"""IT's people page (mark someone as left or back) and the Adopt action on a project page.

Each view parses, calls one service or selector, renders; services check permissions.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from registry import permissions
from registry.models import Person, Project
from steward.web import render_page_or_fragment

from . import selectors, services

PAGE_SIZE = 50


@login_required
def people(request: HttpRequest) -> HttpResponse:
    """IT staff: everyone, those who left first, each with Deactivate or Reactivate; and the
    projects orphaned by leavers, each with Adopt."""
    if not permissions.is_it_staff(request.user):
        raise PermissionDenied("Only IT staff manage leavers.")
    query = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    page = Paginator(selectors.people_for_it(query), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"q": query, "page": page, "orphaned": selectors.orphaned_projects()}
    return render_page_or_fragment(
        request, "directory/people.html", "directory/_people_list.html", context
    )


def _leave_or_return(request: HttpRequest, pk: int, *, leave: bool) -> HttpResponse:
    person = get_object_or_404(Person.objects.select_related("user"), pk=pk)
    try:
        if leave:
            orphaned = services.person_deactivate(
                actor=request.user, person=person, source=services.Source.IT
            )
            note = f" {len(orphaned)} project(s) orphaned." if orphaned else ""
            messages.success(request, f"{person} is marked as left.{note}")
        else:
            services.person_reactivate(actor=request.user, person=person, source=services.Source.IT)
            messages.success(
                request, f"{person} is active again. Projects orphaned meanwhile stay orphaned."
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("directory:people"))


@login_required
@require_POST
def person_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _leave_or_return(request, pk, leave=True)


@login_required
@require_POST
def person_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _leave_or_return(request, pk, leave=False)


@login_required
@require_POST
def project_adopt(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project.objects.select_related("team"), slug=slug)
    try:
        services.project_adopt(actor=request.user, project=project)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"You adopted {project.name}: you are its owner now.")
    return redirect(reverse("registry:project_detail", args=[project.slug]))
