"""Pages for problem reports ("this is not working") and status subscriptions.

Each view parses a form, calls one service or selector, and renders. htmx requests get the
fragment on the same URL; without JavaScript every page works as a plain form post. Refusals
keep their status (400 bad input, 429 rate limit) and the report form asks htmx to swap them in.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry.errors import Conflict
from registry.models import Project

from . import portal_selectors, report_services, subscription_services
from .feedback_forms import EscalateForm, ProblemReportForm, SubscribeForm
from .models import ReportGroup, Subscription


def _htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False)) and not request.htmx.history_restore_request


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
    """The TCP peer. X-Forwarded-For is not trusted here: anyone can write it, and a limit keyed
    on it would be no limit (a deployment behind a proxy sets REMOTE_ADDR from the proxy)."""
    return request.META.get("REMOTE_ADDR") or None


@login_required
@require_http_methods(["GET", "POST"])
def report_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    form = ProblemReportForm(request.POST or None)
    template = "portal/reports/_report_form.html" if _htmx(request) else "portal/reports/new.html"
    context = {"project": project, "report_form": form}
    if request.method != "POST":
        return render(request, template, context)
    status = 400
    if form.is_valid():
        try:
            outcome = report_services.report_submit(
                actor=request.user,
                project=project,
                description=form.cleaned_data["description"],
                contact=form.cleaned_data["contact"],
                address=_client_address(request),
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        except report_services.RateLimited as exc:
            context["rate_limited"] = exc.message
            response = render(request, template, context, status=429)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            result = (
                "portal/reports/_report_result.html"
                if _htmx(request)
                else "portal/reports/submitted.html"
            )
            return render(
                request,
                result,
                {
                    "project": project,
                    "outcome": outcome,
                    "subscribe_form": SubscribeForm(signed_in=True),
                },
            )
    return render(request, template, context, status=status)


@login_required
def project_reports(request: HttpRequest, slug: str) -> HttpResponse:
    """Open report groups for the project's owners and IT staff. Others get nothing: an empty
    204 for the fragment the project page loads, 403 for the page itself."""
    project = _project(slug)
    if not report_services.may_handle_reports(request.user, project):
        if _htmx(request):
            return HttpResponse(status=204)
        raise PermissionDenied("Only the project's owners and IT staff see its reports.")
    template = "portal/reports/_groups.html" if _htmx(request) else "portal/reports/groups.html"
    return render(
        request,
        template,
        {
            "project": project,
            "groups": portal_selectors.open_report_groups(project),
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
        report_services.report_group_dismiss(actor=request.user, group=group)
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
    if not report_services.may_handle_reports(request.user, project):
        raise PermissionDenied("Only the project's owners and IT staff handle its reports.")
    form = EscalateForm(request.POST)
    if form.is_valid():
        try:
            report_services.report_group_escalate(
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
            "groups": portal_selectors.open_report_groups(project),
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
    if not signed_in and not subscription_services.status_is_public():
        return redirect_to_login(request.get_full_path())
    form = SubscribeForm(request.POST or None, signed_in=signed_in)
    fragment = _htmx(request)
    template = (
        "portal/subscriptions/_subscribe_form.html"
        if fragment
        else "portal/subscriptions/subscribe.html"
    )
    context = {"project": project, "subscribe_form": form, "signed_in": signed_in}
    if request.method != "POST":
        return render(request, template, context)
    if not signed_in:
        wait = subscription_services.anonymous_signup_allowed(
            client_address=_client_address(request)
        )
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
            subscription = subscription_services.subscription_create(
                actor=request.user,
                project=project,
                channel=form.cleaned_data["channel"],
                address=form.cleaned_data["address"],
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
        {"subscriptions": list(portal_selectors.subscriptions_of(request.user))},
    )


@login_required
@require_POST
def subscription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription.objects.select_related("person"), pk=pk)
    subscription_services.subscription_cancel(actor=request.user, subscription=subscription)
    messages.success(request, "Unsubscribed.")
    return redirect("feedback:my-subscriptions")


def _link_page(request: HttpRequest, token: str, *, confirm: bool) -> HttpResponse:
    """GET shows what the link does and one button; POST does it. A mail scanner that fetches
    every link in a message therefore neither confirms nor cancels anything."""
    salt, max_age, noun = (
        (
            subscription_services.CONFIRM_SALT,
            subscription_services.confirm_max_age(),
            "confirmation",
        )
        if confirm
        else (
            subscription_services.UNSUBSCRIBE_SALT,
            subscription_services.unsubscribe_max_age(),
            "unsubscribe",
        )
    )
    template = "portal/subscriptions/link.html"
    try:
        if request.method == "POST":
            service = (
                subscription_services.subscription_confirm
                if confirm
                else subscription_services.subscription_unsubscribe
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
        subscription = subscription_services.subscription_from_token(
            token, salt=salt, max_age=max_age, noun=noun
        )
    except subscription_services.SubscriptionLinkError as exc:
        return render(
            request, template, {"confirm": confirm, "error": exc.message}, status=exc.status
        )
    return render(request, template, {"confirm": confirm, "subscription": subscription})


@require_http_methods(["GET", "POST"])
def subscription_confirm(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, confirm=True)


@require_http_methods(["GET", "POST"])
def subscription_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    return _link_page(request, token, confirm=False)
