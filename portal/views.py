"""The portal's pages: the directory (search as you type), a project's page with everything
around it (support and on-call, status, dependencies, history, reporting a problem), problem
reports ("this is not working"), owners' reports that an IT system fails for their app, and the
pages of status subscriptions (whose model and services live with the status pages in
`incidents`).

Each view parses a form, calls one service or selector, and renders. htmx requests get the
fragment on the same URL; without JavaScript every page works as a plain form post. Refusals
keep their status (400 bad input, 429 rate limit) and the report form asks htmx to swap them in.
The directory and the project page keep their `registry:` URL names (see `urls.py`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from changes import services as change_services
from changes.forms import ReleaseForm
from changes.models import Release
from changes.selectors import PAGE_RELEASES, releases_of
from incidents.models import Subscription
from incidents.selectors import subscriptions_of
from incidents.services import subscriptions
from incidents.status import OpenItem, annotate_open_issues, open_item_for
from oncall.selectors import project_for_page, support_for, supports_now
from registry import permissions
from registry import services as registry_services
from registry.forms import ProjectDependencyForm, RoleForm, add_service_error
from registry.models import ContactMethod, Dependency, ITSystem, Person, Project
from registry.selectors import (
    directory_matches,
    directory_projects,
    it_contacts,
    system_for_page,
)
from registry.views import history_rows, system_page
from steward import fragments
from steward.errors import Conflict
from steward.proxies import client_address
from steward.web import page_or_rendered_fragment, wants_fragment

from . import selectors
from .forms import (
    EscalateForm,
    ProblemReportForm,
    SubscribeForm,
    SubscriptionManageForm,
    SystemOutageForm,
    SystemProblemForm,
)
from .models import ReportGroup, SystemProblem
from .services import reports, system_problems

# Search as you type wants the best few matches fast; each result carries who to contact now
# with their local times, so a shorter page is a faster one.
DIRECTORY_PAGE_SIZE = 20

# Contact methods a signed-in reader may see on a project page. Webhook URLs are credentials:
# only their owner sees them, on their own profile.
VISIBLE_CONTACT_KINDS = (ContactMethod.Kind.EMAIL, ContactMethod.Kind.SMS, ContactMethod.Kind.PHONE)


# --- directory ----------------------------------------------------------------------------------


def project_or_404(slug: str) -> Project:
    """The project with everything its page shows, on-call rotations included."""
    try:
        return project_for_page(slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


@login_required
def directory(request: HttpRequest) -> HttpResponse:
    # PostgreSQL refuses NUL in a string literal; nobody means one in a search.
    query = request.GET.get("q", "").replace("\x00", "").strip()[:500]
    page_asked = request.GET.get("page", "")[:20]
    now = timezone.now()

    def results() -> tuple[str, bool]:
        page = Paginator(directory_matches(query), DIRECTORY_PAGE_SIZE).get_page(page_asked)
        supports = supports_now(directory_projects(page.object_list), at=now)
        found = [(support.project, support) for support in supports]
        annotate_open_issues([project for project, _support in found])  # the status badges
        context = {"q": query, "page": page, "results": found, "now": now}
        if query and not found:
            context.update(_no_result_ways_on(request, query, now))
        html = render_to_string("registry/_project_list.html", context, request)
        # Found nothing: the ways on depend on who asks (may they register the app?).
        return html, bool(found)

    # Kept between requests until the registry changes, for the minute (`steward.fragments`):
    # who is on call and in working hours is what it was in that minute.
    parts = (query, page_asked, timezone.get_current_timezone_name(), get_language())
    # Rendered by our own template, escaped there.
    html = mark_safe(fragments.cached_fragment("directory", parts, results, now=now))  # noqa: S308  # nosec B308, B703
    return page_or_rendered_fragment(request, "registry/directory.html", html, {"q": query})


def _no_result_ways_on(request: HttpRequest, query: str, now: datetime) -> dict[str, Any]:
    """A search that found nothing is not a dead end: register the app (for those who may,
    starting from what they typed) or ask IT (IT teams' people, with their local times)."""
    register_url = None
    if permissions.can_create_project(request.user):
        register_url = f"{reverse('registry:project_create')}?{urlencode({'q': query})}"
    return {"register_url": register_url, "it_contacts": it_contacts(at=now)}


# --- projects -----------------------------------------------------------------------------------


def _project_context(
    request: HttpRequest,
    project: Project,
    *,
    role_form: RoleForm | None = None,
    role_errors: list[str] | None = None,
    dependency_form: ProjectDependencyForm | None = None,
    dependency_errors: list[str] | None = None,
    release_form: ReleaseForm | None = None,
) -> dict[str, Any]:
    can_edit = permissions.can_edit_project(request.user, project)
    can_edit_dependencies = can_edit or permissions.is_it_staff(request.user)
    annotate_open_issues([project])  # the status banner
    return {
        "project": project,
        "support": support_for(project),
        "history": history_rows(project),
        "can_edit": can_edit,
        "can_edit_dependencies": can_edit_dependencies,
        # Owners, maintainers and IT staff run incidents: the same people as dependencies.
        "can_run_incidents": can_edit_dependencies,
        "visible_contact_kinds": VISIBLE_CONTACT_KINDS if request.user.is_authenticated else (),
        "role_form": role_form or (RoleForm() if can_edit else None),
        "role_errors": role_errors or [],
        "dependency_form": dependency_form
        or (ProjectDependencyForm() if can_edit_dependencies else None),
        "dependency_errors": dependency_errors or [],
        "releases": list(releases_of(project)[:PAGE_RELEASES]),
        "release_form": release_form
        or (ReleaseForm(time_zone=_time_zone_name(request)) if can_edit else None),
        "change_events_url": f"{settings.SITE_URL}{reverse('change-events-enqueue')}",
    }


def _project_page(
    request: HttpRequest, project: Project, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    body = render_to_string("registry/_project_page.html", context, request)
    return _project_page_around(request, project.name, body, status=status)


def _project_page_around(
    request: HttpRequest, title: str, body: str, *, status: int = 200
) -> HttpResponse:
    # Rendered by our own template, escaped there.
    context = {"project_title": title, "project_body": mark_safe(body)}  # noqa: S308  # nosec B308, B703
    return render(request, "registry/project.html", context, status=status)


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    if not permissions.reads_project_only(request.user, slug=slug):
        project = project_or_404(slug)
        return _project_page(request, project, _project_context(request, project))
    # Everyone else sees the same page: kept between requests until anything it shows changes
    # (`steward.fragments`); times to the minute, in the reader's zone.
    now = timezone.now()

    def page() -> tuple[str, bool]:
        project = project_or_404(slug)  # a 404 is raised, never kept
        context = {**_project_context(request, project), "csrf_token": fragments.csrf_placeholder()}
        body = render_to_string("registry/_project_page.html", context, request)
        return json.dumps([project.name, body]), True

    parts = (slug, timezone.get_current_timezone_name(), get_language())
    title, body = json.loads(fragments.cached_fragment("project-page", parts, page, now=now))
    return _project_page_around(request, title, fragments.with_csrf_token(body, request))


def _project_section(
    request: HttpRequest, slug: str, fragment: str, anchor: str, **forms: Any
) -> HttpResponse:
    """After a change to a section of the project page: the fresh fragment, or PRG."""
    project = project_or_404(slug)
    failed = any(forms.values())
    if wants_fragment(request):
        context = _project_context(request, project, **forms)
        return render(request, fragment, {**context, "fragment": True})
    if failed:
        return _project_page(request, project, _project_context(request, project, **forms))
    return redirect(reverse("registry:project_detail", kwargs={"slug": slug}) + anchor)


@login_required
@require_POST
def project_role_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_or_404(slug)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            registry_services.project_role_set(
                actor=request.user,
                project=project,
                person=form.cleaned_data["person"],
                role=form.cleaned_data["role"],
                order=form.cleaned_data["order"],
            )
        except ValidationError as exc:
            add_service_error(form, exc)
    failed = form if form.errors else None
    return _project_section(
        request, slug, "registry/_project_support.html", "#support", role_form=failed
    )


@login_required
@require_POST
def project_role_remove(request: HttpRequest, slug: str, person_id: int) -> HttpResponse:
    project = project_or_404(slug)
    person = get_object_or_404(Person, pk=person_id)
    errors = None
    try:
        registry_services.project_role_remove(actor=request.user, project=project, person=person)
    except ValidationError as exc:
        errors = exc.messages
    return _project_section(
        request, slug, "registry/_project_support.html", "#support", role_errors=errors
    )


@login_required
@require_POST
def project_dependency_add(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_or_404(slug)
    form = ProjectDependencyForm(request.POST)
    if form.is_valid():
        try:
            registry_services.dependency_add(
                actor=request.user, source_project=project, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
    failed = form if form.errors else None
    return _project_section(
        request,
        slug,
        "registry/_project_dependencies.html",
        "#dependencies",
        dependency_form=failed,
    )


def _time_zone_name(request: HttpRequest) -> str:
    """The zone the release form reads times in: the viewer's, which
    `steward.times.ViewerTimeZoneMiddleware` made current."""
    return timezone.get_current_timezone_name()


@login_required
@require_POST
def project_release_add(request: HttpRequest, slug: str) -> HttpResponse:
    """Record a release from the project page; its time is typed in the person's own zone."""
    project = project_or_404(slug)
    if not permissions.can_edit_project(request.user, project):
        raise PermissionDenied("Only the project's owners and maintainers record its releases.")
    form = ReleaseForm(request.POST, time_zone=_time_zone_name(request))
    if form.is_valid():
        try:
            change_services.release_record(
                actor=request.user, project=project, via=Release.Via.PAGE, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
    failed = form if form.errors else None
    return _project_section(
        request, slug, "registry/_project_releases.html", "#releases", release_form=failed
    )


@login_required
@require_POST
def project_dependency_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_or_404(slug)
    edge = get_object_or_404(Dependency, pk=pk, source_project=project)
    registry_services.dependency_remove(actor=request.user, dependency=edge)
    return _project_section(request, slug, "registry/_project_dependencies.html", "#dependencies")


# --- problem reports and subscriptions: shared helpers ------------------------------------------


def _project(slug: str) -> Project:
    return get_object_or_404(Project, slug=slug)


def _service_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- problem reports ----------------------------------------------------------------------------


def _client_address(request: HttpRequest) -> str | None:
    """The client: X-Forwarded-For only from trusted proxies (steward/proxies.py), since anyone
    can write it and a limit keyed on it would be no limit."""
    return client_address(request)


def _known_issue(project: Project, outcome: reports.ReportOutcome) -> OpenItem | None:
    """The open incident or outage a "me too" joined, with whether someone is on it."""
    if outcome.incident is not None:
        return open_item_for(project, kind="incident", pk=outcome.incident.pk)
    if outcome.outage is not None:
        return open_item_for(project, kind="outage", pk=outcome.outage.pk)
    return None


@login_required
@require_http_methods(["GET", "POST"])
def report_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    form = ProblemReportForm(request.POST or None)
    template = (
        "portal/reports/_report_form.html" if wants_fragment(request) else "portal/reports/new.html"
    )
    context = {"project": project, "report_form": form}
    if request.method != "POST":
        return render(request, template, context)
    status = 400
    if form.is_valid():
        try:
            outcome = reports.report_submit(
                actor=request.user,
                project=project,
                description=form.cleaned_data["description"],
                contact=form.cleaned_data["contact"],
                address=_client_address(request),
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        except reports.RateLimited as exc:
            context["rate_limited"] = exc.message
            response = render(request, template, context, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            result = (
                "portal/reports/_report_result.html"
                if wants_fragment(request)
                else "portal/reports/submitted.html"
            )
            return render(
                request,
                result,
                {
                    "project": project,
                    "outcome": outcome,
                    "on_it": _known_issue(project, outcome),
                    "subscribe_form": SubscribeForm(signed_in=True),
                },
            )
    return render(request, template, context, status=status)


@login_required
def project_reports(request: HttpRequest, slug: str) -> HttpResponse:
    """Open report groups for the project's owners and IT staff. Others get nothing: an empty
    204 for the fragment the project page loads, 403 for the page itself."""
    project = _project(slug)
    if not reports.may_handle_reports(request.user, project):
        if wants_fragment(request):
            return HttpResponse(status=204)
        raise PermissionDenied("Only the project's owners and IT staff see its reports.")
    template = (
        "portal/reports/_groups.html" if wants_fragment(request) else "portal/reports/groups.html"
    )
    return render(
        request,
        template,
        {
            "project": project,
            "groups": selectors.open_report_groups(project),
            "escalate_form": EscalateForm(),
        },
    )


def _group(project: Project, pk: int) -> ReportGroup:
    return get_object_or_404(ReportGroup.objects.select_related("project"), pk=pk, project=project)


@login_required
@require_POST
def report_group_dismiss(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(slug)
    group = _group(project, pk)
    try:
        reports.report_group_dismiss(actor=request.user, group=group)
    except Conflict as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, "Reports dismissed; the next report starts a new group.")
    return redirect("feedback:project-reports", slug=project.slug)


@login_required
@require_POST
def report_group_escalate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _project(slug)
    group = _group(project, pk)
    if not reports.may_handle_reports(request.user, project):
        raise PermissionDenied("Only the project's owners and IT staff handle its reports.")
    form = EscalateForm(request.POST)
    if form.is_valid():
        try:
            reports.report_group_escalate(
                actor=request.user,
                group=group,
                title=form.cleaned_data["title"],
                impact=form.cleaned_data["impact"],
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        except Conflict as exc:
            messages.info(request, exc.message)
            return redirect("feedback:project-reports", slug=project.slug)
        else:
            messages.success(request, "Incident opened from the reports; subscribers are told.")
            return redirect("registry:project_detail", slug=project.slug)
    return render(
        request,
        "portal/reports/groups.html",
        {
            "project": project,
            "groups": selectors.open_report_groups(project),
            "escalate_form": form,
            "escalate_group": group.pk,
        },
        status=400,
    )


# --- subscriptions ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, slug: str) -> HttpResponse:
    """Signed in: email (own address) or webhook. Anonymous: email with double opt-in, only
    while status pages are public."""
    project = _project(slug)
    signed_in = request.user.is_authenticated
    if not signed_in and not subscriptions.status_is_public():
        return redirect_to_login(request.get_full_path())
    form = SubscribeForm(request.POST or None, signed_in=signed_in)
    fragment = wants_fragment(request)
    template = (
        "portal/subscriptions/_subscribe_form.html"
        if fragment
        else "portal/subscriptions/subscribe.html"
    )
    context = {"project": project, "subscribe_form": form, "signed_in": signed_in}
    if request.method != "POST":
        return render(request, template, context)
    if not signed_in:
        wait = subscriptions.anonymous_signup_allowed(client_address=_client_address(request))
        if wait:
            form.add_error(
                None,
                "Too many subscribe requests from your network address. Nothing was stored "
                f"and no email was sent. Try again in {(wait + 59) // 60} minutes.",
            )
            response = render(request, template, context, status=429)
            response["Retry-After"] = str(wait)
            return response
    if form.is_valid():
        try:
            subscription = subscriptions.subscription_create(
                actor=request.user,
                project=project,
                channel=form.cleaned_data["channel"],
                address=form.cleaned_data["address"],
                maintenance_notices=form.cleaned_data["maintenance_notices"],
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
        else:
            context["subscription"] = subscription
            done = (
                "portal/subscriptions/_subscribed.html"
                if fragment
                else "portal/subscriptions/subscribed.html"
            )
            return render(request, done, context)
    return render(request, template, context, status=400)


@login_required
def my_subscriptions(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/subscriptions/mine.html",
        {"subscriptions": list(subscriptions_of(request.user))},
    )


@login_required
@require_POST
def subscription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription.objects.select_related("person"), pk=pk)
    subscriptions.subscription_cancel(actor=request.user, subscription=subscription)
    messages.success(request, "Unsubscribed.")
    return redirect("feedback:my-subscriptions")


def _link_page(request: HttpRequest, token: str, *, confirm: bool) -> HttpResponse:
    """GET shows what the link does and one button; POST does it. A mail scanner that fetches
    every link in a message therefore neither confirms nor cancels anything."""
    salt, max_age, noun = (
        (
            subscriptions.CONFIRM_SALT,
            subscriptions.confirm_max_age(),
            "confirmation",
        )
        if confirm
        else (
            subscriptions.UNSUBSCRIBE_SALT,
            subscriptions.unsubscribe_max_age(),
            "unsubscribe",
        )
    )
    template = "portal/subscriptions/link.html"
    try:
        if request.method == "POST":
            service = (
                subscriptions.subscription_confirm
                if confirm
                else subscriptions.subscription_unsubscribe
            )
            outcome = service(token=token)
            return render(
                request,
                template,
                {
                    "confirm": confirm,
                    "subscription": outcome.subscription,
                    "done": True,
                    "changed": outcome.changed,
                },
            )
        subscription = subscriptions.subscription_from_token(
            token, salt=salt, max_age=max_age, noun=noun
        )
    except subscriptions.SubscriptionLinkError as exc:
        return render(
            request, template, {"confirm": confirm, "error": exc.message}, status=exc.status
        )
    return render(
        request, template, {"confirm": confirm, "subscription": subscription, "token": token}
    )


@require_http_methods(["GET", "POST"])
def subscription_confirm(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, confirm=True)


@require_http_methods(["GET", "POST"])
def subscription_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, confirm=False)


@require_http_methods(["GET", "POST"])
def subscription_manage(request: HttpRequest, token: str) -> HttpResponse:
    """The manage link of a subscriber's messages: whether they hear of planned maintenance.
    GET shows the choice, POST saves it (a mail scanner's GET changes nothing)."""
    template = "portal/subscriptions/manage.html"
    try:
        subscription = subscriptions.subscription_from_token(
            token,
            salt=subscriptions.UNSUBSCRIBE_SALT,
            max_age=subscriptions.unsubscribe_max_age(),
            noun="manage",
        )
        form = SubscriptionManageForm(
            # An unticked box posts nothing: an empty POST is still a choice.
            request.POST if request.method == "POST" else None,
            initial={"maintenance_notices": subscription.maintenance_notices},
        )
        if request.method == "POST" and form.is_valid():
            outcome = subscriptions.subscription_preferences_set(
                token=token, maintenance_notices=form.cleaned_data["maintenance_notices"]
            )
            return render(
                request,
                template,
                {
                    "subscription": outcome.subscription,
                    "form": form,
                    "done": True,
                    "changed": outcome.changed,
                },
            )
    except subscriptions.SubscriptionLinkError as exc:
        return render(request, template, {"error": exc.message}, status=exc.status)
    return render(request, template, {"subscription": subscription, "form": form})


# --- owners reaching IT ---------------------------------------------------------------------------


def _it_system(slug: str) -> ITSystem:
    try:
        return system_for_page(slug)
    except ITSystem.DoesNotExist:
        raise Http404("No such IT system.") from None


def _system_section(
    request: HttpRequest, system: ITSystem, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The owners' reports section of the system page (htmx), or the whole page."""
    if wants_fragment(request):
        context = {"system": system, **extra}
        return render(request, "portal/_system_problems_fragment.html", context, status=status)
    return system_page(request, system, status=status, **extra)


@login_required
@require_POST
def system_problem_report(request: HttpRequest, slug: str) -> HttpResponse:
    """An owner tells IT that the system fails for their app: IT's on-call is paged (once per
    open problem). Refused: 403 for someone else's app, 400 with the field named, 429 past the
    rate limit; nothing written."""
    system = _it_system(slug)
    projects = selectors.reportable_projects(request.user, system)
    form = SystemProblemForm(request.POST, projects=projects)
    if form.is_valid():
        project = Project.objects.filter(slug=form.cleaned_data["project"]).first()
        if project is None:
            form.add_error("project", "No such app.")
        else:
            try:
                outcome = system_problems.system_problem_report(
                    actor=request.user,
                    system=system,
                    project=project,
                    description=form.cleaned_data["description"],
                    address=_client_address(request),
                )
            except ValidationError as exc:
                _service_errors(form, exc)
            except reports.RateLimited as exc:
                response = _system_section(
                    request, system, status=429, problem_form=form, rate_limited=exc.message
                )
                response["Retry-After"] = str(exc.retry_after)
                return response
            else:
                if wants_fragment(request):
                    return _system_section(request, system, reported=outcome)
                messages.success(request, "Your report is with IT's on-call.")
                return redirect(reverse("registry:system_detail", args=[slug]) + "#it-problems")
    return _system_section(request, system, status=400, problem_form=form)


def _system_problem(system: ITSystem, pk: int) -> SystemProblem:
    return get_object_or_404(SystemProblem, pk=pk, system=system)


@login_required
@require_POST
def system_problem_outage(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """IT turns owners' reports into an outage of the system, in one action."""
    system = _it_system(slug)
    problem = _system_problem(system, pk)
    system_problems.require_it_staff(request.user)
    form = SystemOutageForm(request.POST)
    if form.is_valid():
        try:
            outage = system_problems.system_problem_to_outage(
                actor=request.user, problem=problem, **form.cleaned_data
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        except Conflict as exc:
            messages.info(request, exc.message)
            return redirect(reverse("registry:system_detail", args=[slug]) + "#it-problems")
        else:
            messages.success(request, "Outage opened from the owners' reports.")
            return redirect(outage.get_absolute_url())
    return system_page(request, system, status=400, outage_form=form)


@login_required
@require_POST
def system_problem_dismiss(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    system = _it_system(slug)
    problem = _system_problem(system, pk)
    try:
        system_problems.system_problem_dismiss(actor=request.user, problem=problem)
    except Conflict as exc:
        messages.info(request, exc.message)
    else:
        messages.success(request, "Problem dismissed; the next report pages IT's on-call again.")
    return redirect(reverse("registry:system_detail", args=[slug]) + "#it-problems")
