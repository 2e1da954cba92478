"""Providers' callbacks: Twilio (a call's TwiML, the key pressed, the call's end, an SMS reply)
and Slack's interactivity. No session and no CSRF token: each request is verified with its
provider's own library (Twilio's RequestValidator over SITE_URL and the form; Slack's
SignatureVerifier with its five-minute window) and refused with 403 otherwise; a callback
acted on once is refused the second time (409)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from . import services
from .models import Channel, Notification
from .providers import slack, twilio

TWIML = "application/xml"


def twilio_callback(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view Twilio calls: POST only, no CSRF token (Twilio is not a browser), and a 403 unless
    the request carries Twilio's valid signature over this URL and its parameters."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        valid = twilio.request_is_valid(
            path=request.get_full_path(),
            params=request.POST,
            signature=request.headers.get("X-Twilio-Signature", ""),
        )
        if not valid:
            return HttpResponse("Twilio signature missing or not valid.", status=403)
        return view(request, *args, **kwargs)

    return checked


def _replayed() -> HttpResponse:
    return HttpResponse("This callback was already received.", status=409)


def _call_notification(pk: int) -> Notification:
    return get_object_or_404(
        Notification.objects.select_related("page", "project", "recipient"),
        pk=pk,
        channel=Channel.VOICE,
    )


@twilio_callback
def twilio_voice(request: HttpRequest, pk: int) -> HttpResponse:
    """What the call says when answered. Fetching it changes nothing, so Twilio may fetch twice."""
    notification = _call_notification(pk)
    return HttpResponse(twilio.voice_twiml(notification), content_type=TWIML)


@twilio_callback
def twilio_gather(request: HttpRequest, pk: int) -> HttpResponse:
    notification = _call_notification(pk)
    digits = request.POST.get("Digits", "")
    if digits != "1":
        return HttpResponse(twilio.voice_twiml(notification, prompt_again=True), content_type=TWIML)
    try:
        page = services.page_ack_by_call(
            notification=notification, call_sid=request.POST.get("CallSid", ""), digits=digits
        )
    except services.ReplayedCallback:
        return _replayed()
    acknowledged = page is not None and page.acknowledged_via == "voice"
    return HttpResponse(twilio.gather_twiml(acknowledged=acknowledged), content_type=TWIML)


@twilio_callback
def twilio_call_status(request: HttpRequest, pk: int) -> HttpResponse:
    notification = _call_notification(pk)
    try:
        services.call_outcome_record(
            notification=notification,
            call_sid=request.POST.get("CallSid", ""),
            status=request.POST.get("CallStatus", ""),
        )
    except services.ReplayedCallback:
        return _replayed()
    return HttpResponse(status=204)


@twilio_callback
def twilio_sms(request: HttpRequest) -> HttpResponse:
    """An SMS to Steward's number: `ACK <code>` acknowledges; the answer is the reply text."""
    try:
        outcome = services.page_ack_by_sms_reply(
            message_sid=request.POST.get("MessageSid", ""),
            sender=request.POST.get("From", ""),
            text=request.POST.get("Body", ""),
        )
    except services.ReplayedCallback:
        return _replayed()
    reply = MessagingResponse()
    reply.message(outcome.reply)
    return HttpResponse(str(reply), content_type=TWIML)


@csrf_exempt
@require_POST
def slack_interactivity(request: HttpRequest) -> HttpResponse:
    """Slack's block actions: the Acknowledge button of a page's direct message."""
    signature = request.headers.get("X-Slack-Signature", "")
    valid = slack.request_is_valid(
        body=request.body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
        signature=signature,
    )
    if not valid:
        return HttpResponse("Slack signature missing, stale or not valid.", status=403)
    try:
        payload = json.loads(request.POST.get("payload", ""))
    except ValueError:
        return JsonResponse({"error": "payload: not JSON."}, status=400)
    actions = payload.get("actions") if isinstance(payload, dict) else None
    action = next((a for a in actions or [] if a.get("action_id") == slack.ACK_ACTION_ID), None)
    if action is None:
        return HttpResponse(status=204)  # another button (Open): nothing to do
    try:
        notification_id = int(action.get("value", ""))
    except ValueError:
        return JsonResponse({"error": "actions.value: not a notification id."}, status=400)
    user = (payload.get("user") or {}).get("id", "")
    container = payload.get("container") or {}
    try:
        outcome = services.page_ack_by_slack(
            notification_id=notification_id,
            slack_user=user,
            callback_key=f"slack:{hashlib.sha256(signature.encode()).hexdigest()}",
        )
    except services.ReplayedCallback:
        return _replayed()
    except services.SlackAckRefused as exc:
        return JsonResponse({"response_type": "ephemeral", "text": str(exc)}, status=200)
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
    if channel and ts:
        slack.message_mark_acknowledged(
            notification=outcome.notification,
            channel=channel,
            ts=ts,
            by_user=user,
            already=not outcome.acknowledged,
        )
    return HttpResponse(status=200)
