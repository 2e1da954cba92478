"""HTML for outgoing webhooks: a project's or IT system's endpoints, one endpoint with its
delivery log, and the buttons (ping, redeliver, rotate the secret, delete). Only the people who
may manage an endpoint see it: its URL may hold a credential."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from notifications.models import DeliveryAttempt
from registry.forms import add_service_error
from registry.models import ITSystem, Project
from steward.errors import Conflict

from . import services
from .forms import WebhookEndpointForm
from .models import WebhookEndpoint

LOG_ROWS = 50


def _owner_page(request: HttpRequest, owner: Project | ITSystem, scope: str) -> HttpResponse:
    if not services.can_manage_webhooks(request.user, owner):
        raise PermissionDenied("Only the people who manage it see its webhooks.")
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.webhook_endpoint_create(
                actor=request.user, **{scope: owner}, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Webhook added. Its signing secret is below.")
            return redirect("webhooks:detail", pk=endpoint.pk)
    context = {
        "owner": owner,
        "scope": scope,
        "endpoints": owner.webhooks.order_by("id"),
        "form": form,
    }
    return render(request, "webhooks/endpoints.html", context)


@login_required
def project_webhooks(request: HttpRequest, slug: str) -> HttpResponse:
    return _owner_page(request, get_object_or_404(Project, slug=slug), "project")


@login_required
def system_webhooks(request: HttpRequest, slug: str) -> HttpResponse:
    return _owner_page(request, get_object_or_404(ITSystem, slug=slug), "system")


def _endpoint(request: HttpRequest, pk: int) -> WebhookEndpoint:
    endpoint = get_object_or_404(WebhookEndpoint.objects.select_related("project", "system"), pk=pk)
    if not services.can_manage_webhooks(request.user, endpoint.owner):
        raise PermissionDenied("Only the people who manage it see this webhook.")
    return endpoint


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "is_active": endpoint.is_active,
    }
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_endpoint_update(
                actor=request.user, endpoint=endpoint, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("webhooks:detail", pk=endpoint.pk)
    deliveries = endpoint.deliveries.order_by("-created_at", "-id").prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at", "id"))
    )[:LOG_ROWS]
    context = {"endpoint": endpoint, "form": form, "deliveries": deliveries}
    return render(request, "webhooks/endpoint.html", context)


def _done(request: HttpRequest, endpoint: WebhookEndpoint, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("webhooks:detail", pk=endpoint.pk)


@login_required
@require_POST
def ping(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    try:
        services.webhook_ping(actor=request.user, endpoint=endpoint)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("webhooks:detail", pk=endpoint.pk)
    return _done(request, endpoint, "Ping queued; it shows in the log below.")


@login_required
@require_POST
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    services.webhook_secret_rotate(actor=request.user, endpoint=endpoint)
    return _done(request, endpoint, "New secret made; deliveries from now on are signed with it.")


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    owner = endpoint.owner
    services.webhook_endpoint_delete(actor=request.user, endpoint=endpoint)
    messages.success(request, "Webhook deleted.")
    if isinstance(owner, Project):
        return redirect("webhooks:project", slug=owner.slug)
    return redirect("webhooks:system", slug=owner.slug)


@login_required
@require_POST
def redeliver(request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, pk)
    row = get_object_or_404(endpoint.deliveries.all(), pk=delivery_id)
    try:
        services.webhook_redeliver(actor=request.user, notification=row)
    except Conflict as exc:
        messages.error(request, exc.message)
        return redirect("webhooks:detail", pk=endpoint.pk)
    return _done(request, endpoint, f"Delivery {row.pk} queued again.")
