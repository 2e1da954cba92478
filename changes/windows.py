"""Maintenance windows and blackouts: their writes, and the reads monitors' events need.

A change's maintenance window follows the change (`maintenance_window_sync`, called by the change
services in their transaction); IT staff also open bare ones. While a window holds its systems,
`integrations` asks `window_holding(system_id, at)` before opening an outage, and stores the alert
here instead (`held_alert_hold`); a monitor saying it is over clears it (`held_alerts_clear`).
When the window ends, `integrations` opens the outage of each alert still firing (paging as
usual, once) and marks the window released.

Blackouts (change freezes) are written here; their occurrences and the conflicts they cause are
read in `changes.conflicts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from registry.models import AuditEntry, ITSystem
from registry.permissions import is_it_staff
from registry.services import audit_record, audited_change, audited_delete, save_validated
from steward.errors import Conflict
from steward.times import is_time_zone

from .conflicts import (
    DOWNSTREAM,
    PLANNED_STATES,
    SEARCHED,
    blackout_bounds,
    parse_rrule,
    related_systems,
)
from .events import Actor
from .models import Blackout, Change, HeldAlert, MaintenanceWindow

TEXT_MAX = 10000


def _require_it_staff(actor: Actor, what: str) -> None:
    if actor is not None and not is_it_staff(actor):
        raise PermissionDenied(f"Only IT staff {what}.")


# --- reads for monitors ----------------------------------------------------------------------


def windows_holding() -> QuerySet[MaintenanceWindow]:
    """Windows that hold alerts when their time comes: bare ones, and those of changes that are
    scheduled or in progress."""
    return MaintenanceWindow.objects.filter(
        Q(change__isnull=True) | Q(change__state__in=PLANNED_STATES)
    )


def window_holding(*, system_id: int, at: datetime) -> MaintenanceWindow | None:
    """The window that holds this system's alerts at `at` (the one ending last), or None."""
    return (
        windows_holding()
        .filter(systems=system_id, starts_at__lte=at, ends_at__gt=at)
        .order_by("-ends_at", "-id")
        .first()
    )


# --- a change's window -----------------------------------------------------------------------


def extra_systems_clean(
    *, systems: Iterable[ITSystem], extra: Iterable[ITSystem]
) -> list[ITSystem]:
    """The systems a change puts in maintenance besides its own: each must depend on them."""
    extra = [s for s in extra if s not in set(systems)]
    if not extra:
        return []
    related = related_systems(s.pk for s in systems)
    wrong = [s.name for s in extra if getattr(related.get(s.pk), "relation", "") != DOWNSTREAM]
    if wrong:
        raise ValidationError(
            {
                "maintenance_systems": "Only systems that depend on the change's systems: "
                f"{', '.join(wrong)} do not."
            }
        )
    return extra


def maintenance_window_sync(
    *,
    change: Change,
    extra: Iterable[ITSystem] | None = None,
    now: datetime | None = None,
) -> MaintenanceWindow:
    """Keep the change's window on its planned window and its systems, plus `extra` (systems
    that depend on them; refused otherwise). With `extra=None` it keeps the extra systems it had
    that still depend on the change's systems. A window moved past `now` is evaluated again at
    its end."""
    now = now or timezone.now()
    window = MaintenanceWindow.objects.filter(change=change).first()
    systems = list(change.systems.all())
    if extra is None:
        kept = list(window.extra_systems.all()) if window else []
        related = related_systems(s.pk for s in systems) if kept else {}
        extra = [s for s in kept if getattr(related.get(s.pk), "relation", "") == DOWNSTREAM]
    else:
        extra = extra_systems_clean(systems=systems, extra=extra)
    if window is None:
        window = MaintenanceWindow(change=change, created_by=change.author)
    window.title = change.title
    window.starts_at, window.ends_at = change.planned_start_at, change.planned_end_at
    if window.ends_at > now:
        window.released_at = None
    window.save()
    window.systems.set([*systems, *extra])
    window.extra_systems.set(extra)
    return window


def maintenance_window_close(*, change: Change, now: datetime) -> None:
    """The change is over (completed or cancelled): its window ends now, if it had begun."""
    MaintenanceWindow.objects.filter(change=change, starts_at__lt=now, ends_at__gt=now).update(
        ends_at=now
    )


# --- bare windows ----------------------------------------------------------------------------


@transaction.atomic
def maintenance_window_open(
    *,
    actor: Actor,
    title: str,
    systems: Iterable[ITSystem],
    starts_at: datetime,
    ends_at: datetime,
) -> MaintenanceWindow:
    """A window without a change: IT puts these systems in maintenance for a while."""
    _require_it_staff(actor, "open maintenance windows")
    systems = list(systems or [])
    if not systems:
        raise ValidationError({"systems": "Pick at least one IT system."})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The window must end after it starts."})
    window = MaintenanceWindow(
        title=(title or "").strip(), starts_at=starts_at, ends_at=ends_at, created_by=actor
    )
    window.full_clean(exclude=["systems"], validate_constraints=False)
    window.save()
    window.systems.set(systems)
    return window


@transaction.atomic
def maintenance_window_end(
    *, actor: Actor, window: MaintenanceWindow, now: datetime | None = None
) -> MaintenanceWindow:
    """End a bare window now: what still fires pages at the next evaluation (a window that has
    not begun, or has ended, is a conflict)."""
    _require_it_staff(actor, "end maintenance windows")
    now = now or timezone.now()
    window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
    if window.change_id is not None:
        raise Conflict("A change's window ends with the change: complete or cancel it.")
    if window.ends_at <= now:
        raise Conflict("This window has already ended.", code="bad_transition")
    if window.starts_at >= now:
        raise Conflict("This window has not begun: nothing to end.", code="bad_transition")
    window.ends_at = now
    window.save(update_fields=["ends_at"])
    return window


# --- held alerts -----------------------------------------------------------------------------


def held_alert_hold(
    *,
    window: MaintenanceWindow,
    system: ITSystem,
    key: str,
    source: str,
    title: str,
    description: str,
    severity: str,
    started_at: datetime,
    now: datetime,
) -> HeldAlert:
    """Store (or refresh) the alert the window holds instead of opening its outage. An alert
    that had cleared and fires again is firing again."""
    held, created = HeldAlert.objects.get_or_create(
        window=window,
        key=key,
        defaults={
            "system": system,
            "source": source,
            "title": title[:200],
            "description": description,
            "severity": severity,
            "started_at": started_at,
            "last_seen_at": now,
        },
    )
    if not created:
        held.title, held.description, held.severity = title[:200], description, severity
        held.last_seen_at = max(held.last_seen_at, now)
        held.events += 1
        held.cleared_at = None
        held.save()
    return held


def held_alerts_clear(
    *,
    key: str | None = None,
    prefix: str | None = None,
    except_keys: Iterable[str] = (),
    now: datetime,
) -> int:
    """The monitor says it is over: alerts held with this key (or key prefix) and not yet
    released stop firing, so the window's end pages nobody for them. Returns how many."""
    held = HeldAlert.objects.filter(cleared_at__isnull=True, released_at__isnull=True)
    if key is not None:
        held = held.filter(key=key)
    elif prefix is not None:
        held = held.filter(key__startswith=prefix)
    else:
        return 0
    return held.exclude(key__in=list(except_keys)).update(cleared_at=now, last_seen_at=now)


def windows_to_release(*, now: datetime, limit: int = 100) -> list[MaintenanceWindow]:
    """Windows that ended and were not evaluated yet, claimed with SKIP LOCKED (the caller's
    transaction holds them), so two beats never evaluate one twice."""
    return list(
        MaintenanceWindow.objects.select_for_update(skip_locked=True)
        .filter(released_at__isnull=True, ends_at__lte=now)
        .order_by("ends_at", "id")[:limit]
    )


def firing_held(window: MaintenanceWindow) -> list[HeldAlert]:
    return list(
        HeldAlert.objects.filter(window=window, cleared_at__isnull=True, released_at__isnull=True)
        .select_related("system")
        .order_by("started_at", "id")
    )


# --- blackouts -------------------------------------------------------------------------------

BLACKOUT_FIELDS = (
    "title",
    "reason",
    "system",
    "time_zone",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "rrule",
)


def _blackout_clean(blackout: Blackout) -> None:
    """Field errors first, each naming its field; then the UTC bounds of every occurrence."""
    if not is_time_zone(blackout.time_zone):
        raise ValidationError(
            {"time_zone": f"Unknown time zone {str(blackout.time_zone)[:64]!r}: use an IANA name."}
        )
    for name, kind in (
        ("start_date", date),
        ("start_time", time),
        ("end_date", date),
        ("end_time", time),
    ):
        if not isinstance(getattr(blackout, name), kind):
            raise ValidationError({name: "This field is required."})
    for name in ("start_date", "end_date"):
        if not SEARCHED[0].year < getattr(blackout, name).year < SEARCHED[1].year:
            raise ValidationError(
                {name: f"Give a date between {SEARCHED[0].year + 1} and {SEARCHED[1].year - 1}."}
            )
    start = datetime.combine(blackout.start_date, blackout.start_time)
    end = datetime.combine(blackout.end_date, blackout.end_time)
    if end <= start:
        raise ValidationError({"end_time": "The blackout must end after it starts."})
    blackout.rrule = (blackout.rrule or "").strip()
    if blackout.rrule.upper().startswith("RRULE:"):
        blackout.rrule = blackout.rrule[6:]
    try:
        if blackout.rrule:
            parse_rrule(blackout.rrule, dtstart=start)
        blackout.first_start_at, blackout.last_end_at = blackout_bounds(blackout)
    except (ValueError, OverflowError) as exc:
        raise ValidationError({"rrule": str(exc)}) from exc


def blackout_save(*, actor: Actor, blackout: Blackout | None = None, **fields: Any) -> Blackout:
    """Create (no `blackout`) or edit a blackout; IT staff only; audited."""
    _require_it_staff(actor, "set blackouts")
    unknown = set(fields) - set(BLACKOUT_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})
    blackout = blackout or Blackout(created_by=actor)
    for name, value in fields.items():
        setattr(blackout, name, value)
    blackout.title = (blackout.title or "").strip()
    _blackout_clean(blackout)
    return audited_change(actor, blackout, lambda: save_validated(blackout))


def blackout_delete(*, actor: Actor, blackout: Blackout) -> None:
    _require_it_staff(actor, "remove blackouts")
    audited_delete(actor, blackout)


def justification_record(
    *, actor: Actor, change: Change, conflicts: list[str], justification: str
) -> None:
    """Scheduling through conflicts is audited with the reasons and the justification."""
    audit_record(
        actor=actor,
        action=AuditEntry.Action.UPDATE,
        instance=change,
        before={},
        after={"scheduled_through_conflicts": conflicts, "conflict_justification": justification},
    )
