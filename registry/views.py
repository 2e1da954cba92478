"""Server-rendered pages of the registry, with htmx fragments on the same URLs.

Each view parses, calls one selector or service, renders. Services check permissions and raise
``PermissionDenied`` (Django answers 403) or ``ValidationError`` (shown inline on the form).
A successful POST redirects (or, from htmx, returns the refreshed fragment with an empty form).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from steward.web import wants_fragment

from . import permissions, services
from .forms import (
    ContactMethodForm,
    PersonAddForm,
    ProfileForm,
    ProjectForm,
    SystemDependencyForm,
    SystemForm,
    add_service_error,
)
from .models import ContactMethod, Dependency, ITSystem, Person, Project
from .selectors import (
    blast_radius,
    history_for,
    lookalike_warnings,
    project_page_queryset,
    supporter_for,
    system_for_page,
)

PAGE_SIZE = 50


def _history_value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def history_rows(instance: object) -> list[dict[str, Any]]:
    return [
        {
            "entry": entry,
            "changes": [
                (field, _history_value(before), _history_value(after))
                for field, (before, after) in entry.changes.items()
            ],
        }
        for entry in history_for(instance)
    ]


def _warn_lookalikes(request: HttpRequest, instance: Project | ITSystem) -> None:
    """A new or renamed name like another's was saved (and recorded for IT): say so."""
    for warning in lookalike_warnings(instance):
        messages.warning(request, warning)


# --- projects -----------------------------------------------------------------------------------


def project_or_404(slug: str) -> Project:
    try:
        return project_page_queryset().get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


@login_required
def project_create(request: HttpRequest) -> HttpResponse:
    if not permissions.can_create_project(request.user):
        raise PermissionDenied("Only active accounts can register a project.")
    # From a directory search that found nothing: `?q=` starts the form.
    initial = ProjectForm.initial_from_search(request.GET.get("q", "").replace("\x00", ""))
    form = ProjectForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        aliases, urls = fields.pop("aliases"), fields.pop("urls")
        try:
            project = services.project_create(
                actor=request.user, aliases=aliases, urls=urls, **fields
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{project.name} is registered; you are its owner.")
            _warn_lookalikes(request, project)
            return redirect("registry:project_detail", slug=project.slug)
    return render(request, "registry/project_form.html", {"form": form, "editing": None})


@login_required
def project_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_or_404(slug)
    if not permissions.can_edit_project(request.user, project):
        raise PermissionDenied("Only the project's owners and maintainers can edit it.")
    form = ProjectForm(request.POST or None, initial=ProjectForm.initial_for(project))
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        aliases, urls = fields.pop("aliases"), fields.pop("urls")
        try:
            services.project_update(
                actor=request.user, project=project, aliases=aliases, urls=urls, **fields
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Saved.")
            if "name" in form.changed_data:
                _warn_lookalikes(request, project)
            return redirect("registry:project_detail", slug=project.slug)
    return render(request, "registry/project_form.html", {"form": form, "editing": slug})


# --- IT systems ---------------------------------------------------------------------------------


@login_required
def system_list(request: HttpRequest) -> HttpResponse:
    systems = (
        ITSystem.objects.select_related("team")
        .annotate(dependent_count=Count("dependents"))
        .order_by("name")
    )
    page = Paginator(systems, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "registry/system_list.html", {"page": page})


def _system(slug: str) -> ITSystem:
    try:
        return system_for_page(slug)
    except ITSystem.DoesNotExist:
        raise Http404("No such IT system.") from None


def _system_context(
    request: HttpRequest,
    system: ITSystem,
    *,
    dependency_form: SystemDependencyForm | None = None,
    dependency_errors: list[str] | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    groups = blast_radius(system)
    can_edit = permissions.can_edit_system(request.user, system)
    return {
        "system": system,
        "contacts": [
            supporter_for(person, role="contact", order=0, at=now)
            for person in system.contacts.all()
        ],
        "blast_groups": [{"path": path, "projects": projects} for path, projects in groups.items()],
        "blast_count": sum(len(projects) for projects in groups.values()),
        "history": history_rows(system),
        "can_edit": can_edit,
        "dependency_form": dependency_form
        or (SystemDependencyForm(source=system) if can_edit else None),
        "dependency_errors": dependency_errors or [],
    }


@login_required
def system_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return system_page(request, _system(slug))


def system_page(
    request: HttpRequest, system: ITSystem, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The system page; `extra` is what another app's part of it needs (a refused form, to show
    its errors: see `portal.views`)."""
    context = {**_system_context(request, system), **extra}
    return render(request, "registry/system.html", context, status=status)


@login_required
def system_create(request: HttpRequest) -> HttpResponse:
    if not permissions.can_manage_systems(request.user):
        raise PermissionDenied("Only IT staff manage IT systems.")
    form = SystemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            system = services.system_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{system.name} is registered.")
            _warn_lookalikes(request, system)
            return redirect("registry:system_detail", slug=system.slug)
    return render(request, "registry/system_form.html", {"form": form, "editing": None})


@login_required
def system_edit(request: HttpRequest, slug: str) -> HttpResponse:
    system = _system(slug)
    if not permissions.can_edit_system(request.user, system):
        raise PermissionDenied("Only IT staff manage IT systems.")
    form = SystemForm(request.POST or None, initial=SystemForm.initial_for(system))
    if request.method == "POST" and form.is_valid():
        try:
            services.system_update(actor=request.user, system=system, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Saved.")
            if "name" in form.changed_data:
                _warn_lookalikes(request, system)
            return redirect("registry:system_detail", slug=system.slug)
    return render(request, "registry/system_form.html", {"form": form, "editing": slug})


def _system_section(request: HttpRequest, slug: str, **forms: Any) -> HttpResponse:
    system = _system(slug)
    if wants_fragment(request):
        return render(
            request, "registry/_system_dependencies.html", _system_context(request, system, **forms)
        )
    if any(forms.values()):
        return render(request, "registry/system.html", _system_context(request, system, **forms))
    return redirect(reverse("registry:system_detail", kwargs={"slug": slug}) + "#dependencies")


@login_required
@require_POST
def system_dependency_add(request: HttpRequest, slug: str) -> HttpResponse:
    system = _system(slug)
    form = SystemDependencyForm(request.POST, source=system)
    if form.is_valid():
        try:
            services.dependency_add(actor=request.user, source_system=system, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
    return _system_section(request, slug, dependency_form=form if form.errors else None)


@login_required
@require_POST
def system_dependency_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    system = _system(slug)
    edge = get_object_or_404(Dependency, pk=pk, source_system=system)
    services.dependency_remove(actor=request.user, dependency=edge)
    return _system_section(request, slug)


# --- the signed-in person -----------------------------------------------------------------------


def _own_person(request: HttpRequest) -> Person:
    # A fresh instance: a failed update must not leak unsaved values into the page header.
    services.person_for_account(request.user)  # every account is someone
    return Person.objects.prefetch_related("contact_methods").get(user=request.user)


def _profile_context(
    person: Person,
    *,
    form: ProfileForm | None = None,
    contact_form: ContactMethodForm | None = None,
    contact_errors: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "person": person,
        "form": form or ProfileForm(initial=ProfileForm.initial_for(person)),
        "contact_form": contact_form or ContactMethodForm(),
        "contact_errors": contact_errors or [],
    }


@login_required
def person_add(request: HttpRequest) -> HttpResponse:
    """IT staff add someone before they ever sign in (they will, through the company's
    sign-in, into this person)."""
    if not permissions.is_it_staff(request.user):
        raise PermissionDenied("Only IT staff add people.")
    form = PersonAddForm(request.POST or None, initial={"time_zone": "UTC"})
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_add(actor=request.user, **form.service_fields())
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, f"{person} is added; they sign in with {person.email}. Add another?"
            )
            return redirect("registry:person_add")
    return render(request, "registry/person_form.html", {"form": form})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    person = _own_person(request)
    if request.method != "POST":
        return render(request, "registry/profile.html", _profile_context(person))
    form = ProfileForm(request.POST)
    if form.is_valid():
        try:
            services.person_update(actor=request.user, person=person, **form.service_fields())
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("registry:profile")
    return render(
        request, "registry/profile.html", _profile_context(_own_person(request), form=form)
    )


def _contacts_section(request: HttpRequest, **forms: Any) -> HttpResponse:
    person = _own_person(request)
    if wants_fragment(request):
        return render(request, "registry/_contact_methods.html", _profile_context(person, **forms))
    if any(forms.values()):
        return render(request, "registry/profile.html", _profile_context(person, **forms))
    return redirect(reverse("registry:profile") + "#contacts")


@login_required
@require_POST
def contact_add(request: HttpRequest) -> HttpResponse:
    person = _own_person(request)
    form = ContactMethodForm(request.POST)
    if form.is_valid():
        try:
            services.contact_method_add(actor=request.user, person=person, **form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
    return _contacts_section(request, contact_form=form if form.errors else None)


@login_required
@require_POST
def contact_remove(request: HttpRequest, pk: int) -> HttpResponse:
    person = _own_person(request)
    method = get_object_or_404(ContactMethod, pk=pk, person=person)
    services.contact_method_remove(actor=request.user, method=method)
    return _contacts_section(request)
