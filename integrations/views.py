"""Inbound endpoints for monitors (no session, no CSRF: a key authenticates each request) and the
`/metrics` scrape. Each view parses, rate-limits per key, makes one service call, and answers."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from changes.services import release_record_by_key
from registry.forms import add_service_error
from registry.models import ITSystem
from registry.permissions import is_it_staff

from . import selectors, services
from .forms import HeartbeatForm
from .metrics import metrics_text
from .models import Heartbeat
from .payloads import (
    MAX_BODY_BYTES,
    InvalidPayload,
    alert_event_parse,
    alert_group_parse,
    body_json,
    change_event_parse,
    routing_key_of,
)
from .ratelimit import RateDecision, rate_limit_hit

log = logging.getLogger(__name__)


def _read_json(request: HttpRequest):
    """The JSON body, refusing anything over 512 KB before reading it when the size is given."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise InvalidPayload(
            [f"The body is {length} bytes; the limit is {MAX_BODY_BYTES} bytes (512 KB)."],
            status=413,
        )
    try:
        body = request.body
    except RequestDataTooBig:
        raise InvalidPayload(
            [f"The body is over the limit of {MAX_BODY_BYTES} bytes (512 KB)."], status=413
        ) from None
    return body_json(body)


def _throttled(decision: RateDecision, body: dict) -> JsonResponse:
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(decision.retry_after)
    response["X-RateLimit-Limit"] = str(decision.limit)
    return response


def _unavailable(exc: Exception, body: dict) -> JsonResponse:
    """The database failed: nothing was stored, so the sender must retry (5xx is retried)."""
    log.exception("inbound event not stored: %s", exc)
    response = JsonResponse(body, status=503)
    response["Retry-After"] = "5"
    return response


# --- PagerDuty Events API v2 -------------------------------------------------------------------


def _invalid_event(errors: list[str]) -> JsonResponse:
    # PagerDuty documents 202, 400, 429 and 5xx only, and its clients drop a 400 without retrying:
    # an oversized event is a 400 here too, so no client retries it forever.
    return JsonResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=400,
    )


def _pagerduty_intake(
    request: HttpRequest,
    *,
    scope: str,
    parse: Callable[[Any], Any],
    find: Callable[[str], Any],
    unknown: str,
) -> tuple[Any, Any, Any] | JsonResponse:
    """What PagerDuty's two receivers share: read the body, count it against its routing key's
    rate limit, parse it and find whose key it is. `(event, holder, body)`, or the answer that
    refuses it: 429 when throttled, else 400 listing every problem (`unknown` for a key that is
    nobody's)."""
    try:
        data = _read_json(request)
    except InvalidPayload as exc:
        return _invalid_event(exc.errors)
    routing_key = routing_key_of(data)
    if routing_key is not None:
        decision = rate_limit_hit(scope=scope, key=routing_key)
        if not decision.allowed:
            return _throttled(
                decision,
                {
                    "status": "throttle event",
                    "message": "Too many events for this routing_key; retry later.",
                },
            )
    errors: list[str] = []
    try:
        event = parse(data)
    except InvalidPayload as exc:
        errors, event = exc.errors, None
    holder = find(routing_key or "")
    if routing_key is not None and holder is None and len(routing_key) <= 64:
        errors.append(unknown)
    if errors or event is None or holder is None:
        return _invalid_event(errors)
    return event, holder, data


@csrf_exempt
@require_http_methods(["POST"])
def events_enqueue(request: HttpRequest) -> JsonResponse:
    """`POST /v2/enqueue`, PagerDuty's Events API v2: the routing key is an IT system's
    integration key."""
    intake = _pagerduty_intake(
        request,
        scope="events",
        parse=alert_event_parse,
        find=selectors.system_for_integration_key,
        unknown="'routing_key' is not the integration key of any IT system in Steward.",
    )
    if isinstance(intake, JsonResponse):
        return intake
    event, system, data = intake
    try:
        stored = services.alert_event_accept(event=event, system=system, raw=data)
    except DatabaseError as exc:
        return _unavailable(exc, {"status": "error", "message": "Event not stored; retry."})
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": stored.dedup_key},
        status=202,
    )


# --- PagerDuty change events ------------------------------------------------------------------

# What the service's field errors are called in a change event.
CHANGE_EVENT_FIELDS = {
    "summary": "payload.summary",
    "source": "payload.source",
    "happened_at": "payload.timestamp",
    "url": "links[0].href",
    "details": "payload.custom_details",
}


@csrf_exempt
@require_http_methods(["POST"])
def change_events_enqueue(request: HttpRequest) -> JsonResponse:
    """`POST /v2/change/enqueue`, PagerDuty's change events: the routing key is a project's
    integration key (a release of the project) or an IT system's (a release of the system,
    a suspect for every project depending on it). Answered as PagerDuty answers."""
    intake = _pagerduty_intake(
        request,
        scope="change_events",
        parse=change_event_parse,
        find=selectors.key_holder,
        unknown="'routing_key' is not the integration key of any project or IT system in Steward.",
    )
    if isinstance(intake, JsonResponse):
        return intake
    event, holder, _data = intake
    try:
        release_record_by_key(
            of=holder,
            summary=event.summary,
            url=event.url,
            source=event.source,
            details=event.details,
            happened_at=event.timestamp,
        )
    except ValidationError as exc:
        return _invalid_event(
            [
                f"'{CHANGE_EVENT_FIELDS.get(name, name)}': {message}"
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        )
    except DatabaseError as exc:
        return _unavailable(exc, {"status": "error", "message": "Event not stored; retry."})
    return JsonResponse({"status": "success", "message": "Change event processed"}, status=202)


# --- Alertmanager ------------------------------------------------------------------------------


def _presented_key(request: HttpRequest, url_key: str | None) -> str:
    """The key in the URL, else Alertmanager's `http_config`: `authorization` (a Bearer
    credential) or `basic_auth` (the key as the password)."""
    if url_key:
        return url_key
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def _unauthorised(message: str) -> JsonResponse:
    response = JsonResponse({"status": "unauthorised", "errors": [message]}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="steward-integrations"'
    return response


@csrf_exempt
@require_http_methods(["POST"])
def alertmanager_receive(request: HttpRequest, key: str | None = None) -> JsonResponse:
    """Alertmanager's webhook receiver (JSON version 4), authenticated by an IT system's
    integration key in the URL or in the Authorization header."""
    key = _presented_key(request, key)
    if not key:
        return _unauthorised(
            "Give the IT system's integration key in the URL or as a Bearer credential."
        )
    decision = rate_limit_hit(scope="alertmanager", key=key)
    if not decision.allowed:
        return _throttled(
            decision, {"status": "throttled", "errors": ["Too many notifications for this key."]}
        )
    system = selectors.system_for_integration_key(key)
    if system is None:
        return _unauthorised("The key is not the integration key of any IT system in Steward.")
    try:
        data = _read_json(request)
        group = alert_group_parse(data)
    except InvalidPayload as exc:
        return JsonResponse({"status": "invalid", "errors": exc.errors}, status=exc.status)
    group, systems = services.alert_group_systems(group, default=system)
    try:
        stored = services.alert_group_accept(
            group=group, systems_by_alert=systems, key_system=system, routing_key=key, raw=data
        )
    except DatabaseError as exc:
        return _unavailable(exc, {"status": "error", "errors": ["Not stored; retry."]})
    # Alertmanager drops a whole notification answered 4xx: the alerts that could be stored are,
    # and those that could not are named here (and on the IT system's page), with a 2xx.
    return JsonResponse(
        {
            "status": "partial" if group.rejected else "success",
            "outcome": stored.outcome,
            "outage": stored.outage_id,
            "event": stored.pk,
            "accepted": [alert.index for alert in group.alerts],
            "rejected": stored.rejected,
        },
        status=202,
    )


# --- heartbeats --------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def heartbeat_ping(request: HttpRequest, key: str) -> JsonResponse:
    """A ping, by POST or GET (what most cron monitors send)."""
    decision = rate_limit_hit(scope="heartbeat", key=key)
    if not decision.allowed:
        return _throttled(decision, {"status": "throttled", "errors": ["Too many pings."]})
    heartbeat = selectors.heartbeat_for_key(key)
    if heartbeat is None:
        return JsonResponse(
            {"status": "unknown", "errors": ["No heartbeat has this key."]}, status=404
        )
    try:
        heartbeat = services.heartbeat_ping(heartbeat=heartbeat, now=timezone.now())
    except DatabaseError as exc:
        return _unavailable(exc, {"status": "error", "errors": ["Ping not stored; retry."]})
    return JsonResponse(
        {
            "status": "ok",
            "heartbeat": heartbeat.name,
            "next_ping_by": services.heartbeat_deadline(heartbeat).isoformat(),
        }
    )


# --- metrics -----------------------------------------------------------------------------------


def metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the scrape may be answered: the bearer token, or a client address in an
    allow-listed network, or (development only) nothing configured. Otherwise the refusal: 401
    asking for the token when one is set, else 403.

    The address is REMOTE_ADDR, never X-Forwarded-For, which any client writes (as everywhere in
    Steward: a deployment behind a proxy sets REMOTE_ADDR from it, or scrapes with the token)."""
    token = settings.STEWARD_METRICS_TOKEN
    networks = settings.STEWARD_METRICS_ALLOW_NETWORKS
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
    if networks and _address_in(request.META.get("REMOTE_ADDR") or "", networks):
        return None
    if not token and not networks and settings.STEWARD_METRICS_OPEN:
        return None
    if token:
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="steward-metrics"'
        return response
    return HttpResponse("Not allowed from this address.\n", status=403, content_type="text/plain")


def _address_in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for the bearer token or an allow-listed network
    (`metrics_refusal`); open only in development, where neither is set."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    response = HttpResponse(metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


# --- heartbeats, for IT staff -------------------------------------------------------------------


def _integrations_of(system: ITSystem) -> str:
    return f"{reverse('registry:system_detail', args=[system.slug])}#integrations"


@login_required
def heartbeat_add(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the form; POST: expect the heartbeat, or the form again with what was typed and each
    problem beside its field."""
    system = get_object_or_404(ITSystem, slug=slug)
    if not is_it_staff(request.user):
        raise PermissionDenied("Only IT staff set up heartbeats.")
    form = HeartbeatForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            heartbeat = services.heartbeat_add(
                actor=request.user, system=system, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, f"{system.name} now expects “{heartbeat.name}”; its ping URL is below."
            )
            return redirect(_integrations_of(system))
    return render(request, "integrations/heartbeat_form.html", {"system": system, "form": form})


@login_required
@require_POST
def heartbeat_remove(request: HttpRequest, pk: int) -> HttpResponse:
    heartbeat = get_object_or_404(Heartbeat.objects.select_related("system"), pk=pk)
    services.heartbeat_remove(actor=request.user, heartbeat=heartbeat)
    messages.success(request, f"“{heartbeat.name}” is no longer expected.")
    return redirect(_integrations_of(heartbeat.system))
