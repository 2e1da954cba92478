"""Writes for what monitors send: Events API events, Alertmanager notifications, heartbeats.

Accepted means stored: each service writes its `InboundEvent` row and the effect (an outage
opened through `incidents.services.outages.outage_open`, with its pages; pages acknowledged; an outage
resolved, its escalation stopped) in ONE transaction. The view answers 202 only after that
transaction committed; if it fails nothing is kept and the sender gets a 5xx, which both
PagerDuty clients and Alertmanager retry. Nothing is queued between "accepted" and "done", so
there is no backlog for a sweeper to drain.

While a maintenance window (`changes.windows`) holds a system, what would open an outage on it is
held on the window instead (outcome `held`: stored, shown on the change, paging nobody), and a
resolve or a ping clears it (`cleared`); `maintenance_windows_release` (beat) opens the outage of
what still fires when the window ends, under the same key, so it pages once.

Events with the same key are serialised with a PostgreSQL advisory lock held to the end of the
transaction: a resolve that arrives while its trigger is still being written waits for it
instead of finding nothing to resolve.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import DurationField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from changes import windows as maintenance
from changes.models import HeldAlert, MaintenanceWindow
from incidents.models import Outage
from incidents.services import outages as incident_services
from notifications import services as delivery
from notifications.models import Page
from notifications.selectors import pages_for_event
from registry.models import ITSystem
from registry.permissions import is_it_staff
from steward.errors import Conflict
from steward.times import utc_stamp

from .models import Heartbeat, InboundEvent
from .payloads import AlertEvent, AlertGroup, RejectedAlert, worst_severity

OUTAGE_KEY_MAX = 200  # Outage.dedup_key's length
TITLE_MAX = 200
DESCRIPTION_MAX = 10000


# --- shared ------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _events_key(system: ITSystem, dedup_key: str) -> str:
    """The outage's dedup key for an Events API dedup_key. PagerDuty scopes dedup keys to one
    service, so the same key from two systems is two problems: namespaced by system."""
    key = f"events:{system.pk}:{dedup_key}"
    return key if len(key) <= OUTAGE_KEY_MAX else f"events:{system.pk}:sha256:{_digest(dedup_key)}"


def _group_prefix(group_key: str) -> str:
    return f"alertmanager:{_digest(group_key)[:40]}:"


def _heartbeat_key(heartbeat: Heartbeat) -> str:
    return f"heartbeat:{heartbeat.pk}"


def _serialise(key: str) -> None:
    """Hold a transaction-scoped advisory lock on `key`."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [number])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _open_outage(key: str) -> Outage | None:
    return Outage.objects.filter(dedup_key=key, resolved_at__isnull=True).first()


def _held_detail(window: MaintenanceWindow, system: ITSystem) -> str:
    return (
        f"Held: {system.name} is in maintenance window {window.pk} “{window.title}” until "
        f"{utc_stamp(window.ends_at)}; nobody is paged unless it still fires then."
    )


def _open_or_join(
    *,
    key: str,
    system: ITSystem,
    title: str,
    description: str,
    severity: str,
    started_at: datetime | None,
    now: datetime,
    source: str = "",
) -> tuple[Outage | None, str, str]:
    """The open outage with this dedup key, or a new one (which pages every touched project).
    With a `source`, while a maintenance window holds the system, no outage: the alert is held
    on the window (outcome `held`, no outage). Returns (outage, outcome, detail)."""
    existing = _open_outage(key)
    if existing is not None:
        return existing, InboundEvent.Outcome.JOINED, ""
    window = maintenance.window_holding(system_id=system.pk, at=now) if source else None
    if window is not None:
        maintenance.held_alert_hold(
            window=window,
            system=system,
            key=key,
            source=source,
            title=_clip(title, TITLE_MAX),
            description=_clip(description, DESCRIPTION_MAX),
            severity=severity,
            started_at=min(started_at, now) if started_at else now,
            now=now,
        )
        return None, InboundEvent.Outcome.HELD, _held_detail(window, system)
    try:
        outage = incident_services.outage_open(
            actor=None,
            title=_clip(title, TITLE_MAX),
            systems=[system],
            severity=severity,
            description=_clip(description, DESCRIPTION_MAX),
            started_at=min(started_at, now) if started_at else now,
            dedup_key=key,
            now=now,
        )
    except Conflict:
        # Opened meanwhile by a writer the advisory lock does not cover: join it.
        return (
            Outage.objects.get(dedup_key=key, resolved_at__isnull=True),
            InboundEvent.Outcome.JOINED,
            "",
        )
    return outage, InboundEvent.Outcome.OPENED, ""


def _resolve(outage: Outage, *, message: str, now: datetime) -> bool:
    try:
        incident_services.outage_resolve(actor=None, outage=outage, message=message, now=now)
    except Conflict:  # resolved by someone else meanwhile
        return False
    return True


def _acknowledge(outage: Outage, *, via: str, now: datetime) -> int:
    acked = 0
    for page in pages_for_event(outage):
        if page.state == Page.State.OPEN:
            delivery.page_ack(page=page, person=None, via=via, now=now)
            acked += 1
    return acked


# --- Events API (PagerDuty v2) ----------------------------------------------------------------


def _event_description(event: AlertEvent) -> str:
    lines = [event.summary, ""]
    for label, value in (
        ("Source", event.source),
        ("Severity", event.severity),
        ("Component", event.component),
        ("Group", event.group),
        ("Class", event.event_class),
        ("Sent by", event.client),
        ("Monitor", event.client_url),
    ):
        if value:
            lines.append(f"{label}: {value}")
    for link in event.links:
        lines.append(f"Link: {link.get('text') or link['href']} {link['href']}")
    if event.custom_details not in (None, "", {}, []):
        details = (
            event.custom_details
            if isinstance(event.custom_details, str)
            else json.dumps(event.custom_details, indent=2, sort_keys=True, ensure_ascii=False)
        )
        lines += ["", "Details:", details]
    return "\n".join(lines).strip()


@transaction.atomic
def alert_event_accept(
    *, event: AlertEvent, system: ITSystem, raw: dict, now: datetime | None = None
) -> InboundEvent:
    """Store and apply one Events API event for `system`. A trigger opens an outage or joins the
    open one with the same dedup key (a trigger without a key gets a fresh one); acknowledge
    acknowledges that outage's open pages; resolve resolves it and stops its escalation. An
    acknowledge or resolve with nothing open is stored with outcome `ignored` (PagerDuty answers
    those 202 too)."""
    now = now or timezone.now()
    dedup_key = event.dedup_key or (uuid.uuid4().hex if event.action == "trigger" else "")
    key = _events_key(system, dedup_key)
    _serialise(key)
    row = InboundEvent(
        source=InboundEvent.Source.EVENTS_API,
        system=system,
        routing_key=event.routing_key,
        dedup_key=dedup_key,
        action=event.action,
        payload=raw,
        received_at=now,
    )
    if event.action == "trigger":
        row.outage, row.outcome, row.detail = _open_or_join(
            key=key,
            system=system,
            title=event.summary,
            description=_event_description(event),
            severity=event.outage_severity,
            started_at=event.timestamp,
            now=now,
            source=InboundEvent.Source.EVENTS_API,
        )
    else:
        row.outage = _open_outage(key)
        if (
            row.outage is None
            and event.action == "resolve"
            and (maintenance.held_alerts_clear(key=key, now=now))
        ):
            row.outcome = InboundEvent.Outcome.CLEARED
            row.detail = "The alert held during maintenance is over: nobody will be paged."
        elif row.outage is None:
            row.outcome = InboundEvent.Outcome.IGNORED
            row.detail = f"No open outage on {system.name} has this dedup_key."
        elif event.action == "acknowledge":
            acked = _acknowledge(row.outage, via="events-api", now=now)
            row.outcome = InboundEvent.Outcome.ACKNOWLEDGED
            row.detail = f"{acked} open page(s) acknowledged."
        else:
            who = event.client or "the monitor"
            if _resolve(row.outage, message=f"Resolved by {who} (Events API).", now=now):
                row.outcome = InboundEvent.Outcome.RESOLVED
            else:
                row.outcome = InboundEvent.Outcome.IGNORED
                row.detail = "Someone resolved the outage meanwhile."
    row.processed_at = now
    row.save()
    return row


# --- Alertmanager -----------------------------------------------------------------------------


def alert_group_systems(
    group: AlertGroup, *, default: ITSystem
) -> tuple[AlertGroup, dict[int, ITSystem]]:
    """The IT system each alert names (`steward_system` label, a system slug), by alert index;
    the key's own system for alerts that name none. An alert whose label names no system is set
    aside as rejected (returned in the group), and the others keep their way."""

    def slug_of(alert) -> str:
        return alert.labels.get("steward_system") or group.common_labels.get("steward_system") or ""

    slugs = {slug_of(alert) for alert in group.alerts} - {""}
    found = {s.slug: s for s in ITSystem.objects.filter(slug__in=slugs)}
    by_alert: dict[int, ITSystem] = {}
    rejected = []
    for alert in group.alerts:
        slug = slug_of(alert)
        if not slug:
            by_alert[alert.index] = default
        elif slug in found:
            by_alert[alert.index] = found[slug]
        else:
            rejected.append(
                RejectedAlert(
                    alert.index,
                    [
                        f"'alerts[{alert.index}].labels.steward_system' names no IT system "
                        f"(got {slug[:100]!r})."
                    ],
                    fingerprint=alert.fingerprint,
                    alertname=alert.labels.get("alertname", "")[:200],
                )
            )
    return (group.without(rejected) if rejected else group), by_alert


def _group_title(group: AlertGroup, firing: list) -> str:
    title = group.common_annotations.get("summary") or firing[0].title
    return f"{title} ({len(firing)} alerts)" if len(firing) > 1 else title


def _group_description(group: AlertGroup, firing: list) -> str:
    lines = []
    if group.common_annotations.get("description"):
        lines += [group.common_annotations["description"], ""]
    for alert in firing[:50]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        lines.append(f"• {alert.title} [{labels}]")
        if alert.annotations.get("description"):
            lines.append(f"  {alert.annotations['description']}")
    if len(firing) > 50:
        lines.append(f"… and {len(firing) - 50} more")
    if group.truncated_alerts:
        lines.append(f"(Alertmanager left out {group.truncated_alerts} more alerts.)")
    if group.external_url:
        lines += ["", f"Alertmanager: {group.external_url}"]
    return "\n".join(lines).strip()


@dataclass
class _Effect:
    outage: Outage | None  # None: held by a maintenance window
    outcome: str
    system: ITSystem
    detail: str = ""


@transaction.atomic
def alert_group_accept(
    *,
    group: AlertGroup,
    systems_by_alert: dict[int, ITSystem],
    key_system: ITSystem,
    routing_key: str,
    raw: dict,
    now: datetime | None = None,
) -> InboundEvent:
    """Store and apply one Alertmanager notification. Per group key and IT system: firing alerts
    open an outage or join the open one; a system with no firing alert left in the group has its
    outage resolved, when the notification is the whole group (status resolved, or nothing
    truncated or rejected), since Alertmanager sends every alert of the group each time. The
    rejected alerts are stored on the event, for IT to see on the system's page."""
    now = now or timezone.now()
    prefix = _group_prefix(group.group_key)
    _serialise(prefix)
    firing_by_system: dict[int, list] = {}
    system_of: dict[int, ITSystem] = {}
    for alert in group.alerts:
        system = systems_by_alert[alert.index]
        system_of[system.pk] = system
        if alert.status == "firing" and group.status == "firing":
            firing_by_system.setdefault(system.pk, []).append(alert)
    effects: list[_Effect] = []
    for system_pk, firing in firing_by_system.items():
        system = system_of[system_pk]
        starts = [a.starts_at for a in firing if a.starts_at is not None]
        outage, outcome, detail = _open_or_join(
            key=f"{prefix}{system_pk}",
            system=system,
            title=_group_title(group, firing),
            description=_group_description(group, firing),
            severity=worst_severity([a.severity for a in firing]),
            started_at=min(starts) if starts else None,
            now=now,
            source=InboundEvent.Source.ALERTMANAGER,
        )
        effects.append(_Effect(outage, outcome, system, detail))
    # A rejected alert may be what keeps some system's outage firing: resolve nothing unseen.
    whole_group = not group.rejected and (group.status == "resolved" or group.truncated_alerts == 0)
    if whole_group:
        for outage in Outage.objects.filter(
            dedup_key__startswith=prefix, resolved_at__isnull=True
        ).order_by("pk"):
            system_pk = int(outage.dedup_key.rsplit(":", 1)[1])
            if system_pk in firing_by_system:
                continue
            _resolve(outage, message="Resolved in Alertmanager.", now=now)
            effects.append(
                _Effect(outage, InboundEvent.Outcome.RESOLVED, system_of.get(system_pk, key_system))
            )
        cleared = maintenance.held_alerts_clear(
            prefix=prefix, except_keys=[f"{prefix}{pk}" for pk in firing_by_system], now=now
        )
        if cleared:
            effects.append(
                _Effect(
                    None,
                    InboundEvent.Outcome.CLEARED,
                    key_system,
                    f"{cleared} alert(s) held during maintenance are over: nobody will be paged.",
                )
            )
    outcome = next(
        (
            o
            for o in (
                InboundEvent.Outcome.OPENED,
                InboundEvent.Outcome.JOINED,
                InboundEvent.Outcome.RESOLVED,
                InboundEvent.Outcome.HELD,
                InboundEvent.Outcome.CLEARED,
            )
            if any(e.outcome == o for e in effects)
        ),
        InboundEvent.Outcome.REJECTED if not group.alerts else InboundEvent.Outcome.IGNORED,
    )
    main = next((e for e in effects if e.outcome == outcome), None)
    lines = [
        f"{e.outcome}: outage {e.outage.pk} on {e.system.name}"
        if e.outage is not None
        else f"{e.outcome} on {e.system.name}: {e.detail}"
        for e in effects
    ]
    if group.rejected:
        lines.append(
            f"{len(group.rejected)} alert(s) not stored: "
            + " ".join(error for r in group.rejected for error in r.errors)
        )
    elif not effects:
        lines.append("No open outage for this group to resolve.")
    return InboundEvent.objects.create(
        source=InboundEvent.Source.ALERTMANAGER,
        system=main.system if main else key_system,
        routing_key=routing_key,
        dedup_key=group.group_key,
        action=group.status,
        payload=raw,
        received_at=now,
        processed_at=now,
        outcome=outcome,
        outage=main.outage if main else None,
        detail="\n".join(lines),
        rejected=[r.as_json() for r in group.rejected],
    )


# --- heartbeats -------------------------------------------------------------------------------


def _deadline():
    """When a heartbeat becomes overdue: its last ping (or its creation) plus interval and grace,
    as a database expression so that the check is one query."""
    return Coalesce(F("last_ping_at"), F("created_at")) + ExpressionWrapper(
        (F("interval_minutes") + F("grace_minutes")) * Value(timedelta(minutes=1)),
        output_field=DurationField(),
    )


def heartbeat_deadline(heartbeat: Heartbeat) -> datetime:
    since = heartbeat.last_ping_at or heartbeat.created_at
    return since + timedelta(minutes=heartbeat.interval_minutes + heartbeat.grace_minutes)


@transaction.atomic
def heartbeat_ping(*, heartbeat: Heartbeat, now: datetime | None = None) -> Heartbeat:
    """Record a ping. A heartbeat that was down comes back up: its outage is resolved (if still
    open) and the recovery is stored as an inbound event."""
    now = now or timezone.now()
    locked = Heartbeat.objects.select_for_update().select_related("system").get(pk=heartbeat.pk)
    locked.last_ping_at = max(now, locked.last_ping_at) if locked.last_ping_at else now
    fields = ["last_ping_at"]
    if locked.down_since is not None:
        outage = locked.outage
        resolved = (
            outage is not None
            and outage.is_open
            and _resolve(outage, message=f"Heartbeat “{locked.name}” pinged again.", now=now)
        )
        cleared = outage is None and maintenance.held_alerts_clear(
            key=_heartbeat_key(locked), now=now
        )
        if cleared:
            outcome, detail = (
                InboundEvent.Outcome.CLEARED,
                "The miss held during maintenance is over: nobody will be paged.",
            )
        elif resolved:
            outcome, detail = InboundEvent.Outcome.RESOLVED, ""
        else:
            outcome, detail = InboundEvent.Outcome.IGNORED, "The outage was already resolved."
        InboundEvent.objects.create(
            source=InboundEvent.Source.HEARTBEAT,
            system=locked.system,
            routing_key=locked.key,
            dedup_key=_heartbeat_key(locked),
            action="resumed",
            payload={"heartbeat": locked.name, "down_since": locked.down_since.isoformat()},
            received_at=now,
            processed_at=now,
            outcome=outcome,
            outage=outage,
            detail=detail,
        )
        locked.down_since = None
        locked.outage = None
        fields += ["down_since", "outage"]
    locked.save(update_fields=fields)
    return locked


def heartbeats_check(*, now: datetime | None = None) -> int:
    """Open one outage per heartbeat that is overdue and not already down; returns how many.
    Safe to run twice at once: rows are claimed with SKIP LOCKED and `down_since` is set in the
    same transaction as the outage, so each miss opens exactly one."""
    now = now or timezone.now()
    opened = 0
    with transaction.atomic():
        for heartbeat in _overdue(now):
            opened += _heartbeat_down(heartbeat, now=now)
    return opened


def _overdue(now: datetime, limit: int = 500) -> list[Heartbeat]:
    candidates = (
        Heartbeat.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("system")
        .filter(down_since__isnull=True)
    )
    return list(
        candidates.annotate(deadline=_deadline())
        .filter(deadline__lt=now)
        .order_by("deadline", "pk")[:limit]
    )


def _heartbeat_down(heartbeat: Heartbeat, *, now: datetime) -> bool:
    deadline = heartbeat_deadline(heartbeat)
    last = (
        f"last ping {utc_stamp(heartbeat.last_ping_at)}"
        if heartbeat.last_ping_at
        else "no ping yet"
    )
    outage, outcome, detail = _open_or_join(
        key=_heartbeat_key(heartbeat),
        system=heartbeat.system,
        title=f"Heartbeat missed: {heartbeat.name} ({heartbeat.system.name})",
        description=(
            f"Steward expects “{heartbeat.name}” to ping every {heartbeat.interval_minutes} "
            f"minute(s) (grace {heartbeat.grace_minutes}); {last}."
        ),
        severity=heartbeat.severity,
        started_at=deadline,
        now=now,
        source=InboundEvent.Source.HEARTBEAT,
    )
    heartbeat.down_since = deadline
    heartbeat.outage = outage
    heartbeat.save(update_fields=["down_since", "outage"])
    InboundEvent.objects.create(
        source=InboundEvent.Source.HEARTBEAT,
        system=heartbeat.system,
        routing_key=heartbeat.key,
        dedup_key=_heartbeat_key(heartbeat),
        action="missed",
        payload={"heartbeat": heartbeat.name, "deadline": deadline.isoformat()},
        received_at=now,
        processed_at=now,
        outcome=outcome,
        outage=outage,
        detail=detail,
    )
    return outcome == InboundEvent.Outcome.OPENED


# --- maintenance windows ending ---------------------------------------------------------------


def _serialisation_key(held: HeldAlert) -> str:
    """What the writers of this alert's key serialise on (an Alertmanager group, or the key)."""
    if held.key.startswith("alertmanager:"):
        return held.key.rsplit(":", 1)[0] + ":"
    return held.key


def _release(held: HeldAlert, window: MaintenanceWindow, *, now: datetime) -> bool:
    """The window ended with this alert still firing: open its outage now (paging as usual), or
    join the one a later event already opened, or hand it to a window still holding the system.
    Returns whether an outage was opened."""
    _serialise(_serialisation_key(held))
    held.released_at = now
    later = maintenance.window_holding(system_id=held.system_id, at=now)
    if later is not None and later.pk != window.pk:
        maintenance.held_alert_hold(
            window=later,
            system=held.system,
            key=held.key,
            source=held.source,
            title=held.title,
            description=held.description,
            severity=held.severity,
            started_at=held.started_at,
            now=now,
        )
        held.save(update_fields=["released_at"])
        return False
    outage, outcome, _ = _open_or_join(
        key=held.key,
        system=held.system,
        title=held.title,
        description=held.description,
        severity=held.severity,
        started_at=held.started_at,
        now=now,
    )
    held.outage = outage
    held.save(update_fields=["released_at", "outage"])
    if held.key.startswith("heartbeat:"):
        Heartbeat.objects.filter(
            pk=int(held.key.split(":", 1)[1]), down_since__isnull=False, outage__isnull=True
        ).update(outage=outage)
    InboundEvent.objects.create(
        source=held.source,
        system=held.system,
        routing_key="",
        dedup_key=held.key,
        action="window_ended",
        payload={"maintenance_window": window.pk, "held_alert": held.pk},
        received_at=now,
        processed_at=now,
        outcome=outcome,
        outage=outage,
        detail=f"Still firing when maintenance window {window.pk} “{window.title}” ended.",
    )
    return outcome == InboundEvent.Outcome.OPENED


def maintenance_windows_release(*, now: datetime | None = None) -> int:
    """For each maintenance window that ended and was not evaluated: every alert it held that is
    still firing opens its outage now, paging as usual. Windows are claimed with SKIP LOCKED and
    marked released in the same transaction, and each alert is released once, so running this
    twice (or on two beats) pages once. Returns how many outages it opened."""
    now = now or timezone.now()
    opened = 0
    with transaction.atomic():
        for window in maintenance.windows_to_release(now=now):
            for held in maintenance.firing_held(window):
                opened += _release(held, window, now=now)
            window.released_at = now
            window.save(update_fields=["released_at"])
    return opened


def heartbeat_create(
    *,
    system: ITSystem,
    name: str,
    interval_minutes: int,
    grace_minutes: int = 5,
    severity: str = Outage.Severity.SEV2,
    now: datetime | None = None,
) -> Heartbeat:
    heartbeat = Heartbeat(
        system=system,
        name=name,
        interval_minutes=interval_minutes,
        grace_minutes=grace_minutes,
        severity=severity,
        created_at=now or timezone.now(),
    )
    heartbeat.full_clean()
    heartbeat.save()
    return heartbeat


def heartbeat_add(
    *,
    actor,
    system: ITSystem,
    name: str,
    interval_minutes: int,
    grace_minutes: int = 5,
    severity: str = Outage.Severity.SEV2,
) -> Heartbeat:
    """IT staff expect a new heartbeat on a system (`heartbeat_create` with the permission)."""
    if not is_it_staff(actor):
        raise PermissionDenied("Only IT staff set up heartbeats.")
    name = (name or "").strip()
    if Heartbeat.objects.filter(system=system, name=name).exists():
        raise ValidationError({"name": f"{system.name} already expects a heartbeat “{name}”."})
    return heartbeat_create(
        system=system,
        name=name,
        interval_minutes=interval_minutes,
        grace_minutes=grace_minutes,
        severity=severity,
    )


def heartbeat_remove(*, actor, heartbeat: Heartbeat) -> None:
    """Stop expecting it. An outage it opened stays as it is: IT resolves it."""
    if not is_it_staff(actor):
        raise PermissionDenied("Only IT staff remove heartbeats.")
    heartbeat.delete()


# --- retention --------------------------------------------------------------------------------


def inbound_events_prune(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Delete inbound events older than STEWARD_INBOUND_RETENTION_DAYS, except those of outages
    still open (their timeline); at most `batch` per call, so a first run on a large table does
    not hold one long transaction. Returns how many went. Safe to run twice at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.STEWARD_INBOUND_RETENTION_DAYS)
    old = (
        InboundEvent.objects.filter(received_at__lt=cutoff)
        .exclude(outage__isnull=False, outage__resolved_at__isnull=True)
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch]
    )
    deleted, _ = InboundEvent.objects.filter(pk__in=list(old)).delete()
    return deleted
