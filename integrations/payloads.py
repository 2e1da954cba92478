"""Reading what monitors send: a PagerDuty Events API v2 event (an alert event or a change
event) and an Alertmanager webhook notification (version 4), checked field by field. Every problem is collected, each naming its
field, so one 400 answer lists them all; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from incidents.models import Outage
from steward.strict_json import UnusableJSON, strict_loads
from steward.times import instant_problem

# PagerDuty's own limit for one event; Alertmanager notifications are held to the same.
MAX_BODY_BYTES = 512 * 1024

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = {
    "critical": Outage.Severity.SEV1,
    "error": Outage.Severity.SEV2,
    "warning": Outage.Severity.SEV3,
    "info": Outage.Severity.SEV4,
}
# Alertmanager's `severity` label is free text; these are the usual spellings.
ALERT_SEVERITIES = {
    "critical": Outage.Severity.SEV1,
    "page": Outage.Severity.SEV1,
    "emergency": Outage.Severity.SEV1,
    "high": Outage.Severity.SEV2,
    "error": Outage.Severity.SEV2,
    "major": Outage.Severity.SEV2,
    "warning": Outage.Severity.SEV3,
    "medium": Outage.Severity.SEV3,
    "minor": Outage.Severity.SEV3,
    "info": Outage.Severity.SEV4,
    "low": Outage.Severity.SEV4,
    "none": Outage.Severity.SEV4,
}
SEVERITY_ORDER = [
    Outage.Severity.SEV1,
    Outage.Severity.SEV2,
    Outage.Severity.SEV3,
    Outage.Severity.SEV4,
]


class InvalidPayload(Exception):
    """The body cannot be used; `errors` names each problem."""

    def __init__(self, errors: list[str], *, status: int = 400) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.status = status


def body_json(body: bytes) -> Any:
    """The parsed body, or InvalidPayload naming why it cannot be used: not JSON, or holding a
    value nothing can store (steward.strict_json). U+0000, which PostgreSQL text and jsonb cannot
    hold, becomes U+FFFD instead, so the event is still stored (and shows where it was)."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidPayload(
            [f"The body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes (512 KB)."],
            status=413,
        )
    if not body.strip():
        raise InvalidPayload(["The body is empty; send a JSON object."])
    try:
        return strict_loads(body, nul="replace", timestamps=False)
    except UnusableJSON as exc:
        raise InvalidPayload([_sentence(str(exc))]) from None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _parse_time(value: str) -> datetime | None:
    """An aware datetime, in UTC; None when it is not one or is too near the year 1 or 9999 to
    be stored and shown (steward.times)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None or instant_problem(parsed):
        return None
    return parsed.astimezone(UTC)


def _payload_timestamp(payload: dict, errors: list[str]) -> datetime | None:
    """An event's `payload.timestamp` (optional), in UTC."""
    stamp = _text(payload, "timestamp", errors, prefix="payload.")
    if not stamp:
        return None
    parsed = _parse_time(stamp)
    if parsed is None:
        errors.append(
            "'payload.timestamp' must be an ISO 8601 date and time with an offset, between the "
            f"years 1 and 9999 (got {stamp[:100]!r})."
        )
    return parsed


def _text(
    data: dict,
    name: str,
    errors: list[str],
    *,
    prefix: str = "",
    required: bool = False,
    max_length: int | None = None,
) -> str:
    label = f"{prefix}{name}"
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(f"'{label}' is missing or blank.")
        return ""
    if not isinstance(value, str):
        errors.append(f"'{label}' must be a string.")
        return ""
    if max_length is not None and len(value) > max_length:
        errors.append(f"'{label}' is {len(value)} characters; the limit is {max_length}.")
        return ""
    return value


# --- PagerDuty Events API v2 -------------------------------------------------------------------


@dataclass(frozen=True)
class AlertEvent:
    routing_key: str
    action: str
    dedup_key: str
    summary: str = ""
    source: str = ""
    severity: str = ""
    timestamp: datetime | None = None
    component: str = ""
    group: str = ""
    event_class: str = ""
    custom_details: Any = None
    links: list[dict] = field(default_factory=list)
    client: str = ""
    client_url: str = ""

    @property
    def outage_severity(self) -> str:
        return PAGERDUTY_SEVERITIES.get(self.severity, Outage.Severity.SEV2)


def routing_key_of(data: Any) -> str | None:
    """The routing key if the body has a usable one (for rate limiting before anything else)."""
    if isinstance(data, dict) and isinstance(data.get("routing_key"), str):
        return data["routing_key"].strip() or None
    return None


def _objects(data: dict, name: str, required_key: str, errors: list[str]) -> list[dict]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"'{name}' must be a list.")
        return []
    good = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(f"'{name}[{index}]' must be an object.")
        elif not isinstance(item.get(required_key), str) or not item[required_key].strip():
            errors.append(f"'{name}[{index}].{required_key}' is missing or blank.")
        else:
            good.append(item)
    return good


def alert_event_parse(data: Any) -> AlertEvent:
    """A PagerDuty Events API v2 alert event (trigger, acknowledge or resolve), or InvalidPayload
    listing every problem. Field rules follow PagerDuty's: `payload` with summary, source and
    severity for a trigger; `dedup_key` required to acknowledge or resolve."""
    if not isinstance(data, dict):
        raise InvalidPayload(["The body must be a JSON object (an event)."])
    errors: list[str] = []
    routing_key = _text(data, "routing_key", errors, required=True, max_length=64)
    action = _text(data, "event_action", errors, required=True)
    if action and action not in EVENT_ACTIONS:
        errors.append(
            f"'event_action' must be one of trigger, acknowledge, resolve (got {action!r})."
        )
        action = ""
    dedup_key = _text(
        data, "dedup_key", errors, required=action in ("acknowledge", "resolve"), max_length=255
    )
    fields: dict[str, Any] = {}
    if action == "trigger" or (not action and "payload" in data):
        payload = data.get("payload")
        if not isinstance(payload, dict):
            errors.append(
                "'payload' is missing or not an object."
                if payload is None
                else "'payload' must be an object."
            )
        else:
            fields["summary"] = _text(
                payload, "summary", errors, prefix="payload.", required=True, max_length=1024
            )
            fields["source"] = _text(
                payload, "source", errors, prefix="payload.", required=True, max_length=255
            )
            severity = _text(payload, "severity", errors, prefix="payload.", required=True)
            if severity and severity not in PAGERDUTY_SEVERITIES:
                errors.append(
                    "'payload.severity' must be one of critical, error, warning, info "
                    f"(got {severity!r})."
                )
            fields["severity"] = severity
            fields["timestamp"] = _payload_timestamp(payload, errors)
            for name, attr in (
                ("component", "component"),
                ("group", "group"),
                ("class", "event_class"),
            ):
                fields[attr] = _text(payload, name, errors, prefix="payload.", max_length=255)
            fields["custom_details"] = payload.get("custom_details")
    _objects(data, "images", "src", errors)
    fields["links"] = _objects(data, "links", "href", errors)
    fields["client"] = _text(data, "client", errors, max_length=255)
    fields["client_url"] = _text(data, "client_url", errors, max_length=1000)
    if errors:
        raise InvalidPayload(errors)
    return AlertEvent(routing_key=routing_key.strip(), action=action, dedup_key=dedup_key, **fields)


# --- PagerDuty change events -----------------------------------------------------------------


@dataclass(frozen=True)
class ChangeEvent:
    """A PagerDuty change event: something changed (a deploy, a configuration) that is not a
    problem. `url` is its first link; `details` keeps what else the sender said."""

    routing_key: str
    summary: str
    source: str = ""
    timestamp: datetime | None = None
    url: str = ""
    details: dict = field(default_factory=dict)


def _http_url(value: str) -> bool:
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return False
    return True


def change_event_parse(data: Any) -> ChangeEvent:
    """A change event (PagerDuty's `/v2/change/enqueue`), or InvalidPayload listing every
    problem: `routing_key` and `payload.summary` are required, as at PagerDuty; a timestamp
    must carry its offset, custom details are an object and links go to http(s) URLs."""
    if not isinstance(data, dict):
        raise InvalidPayload(["The body must be a JSON object (a change event)."])
    errors: list[str] = []
    routing_key = _text(data, "routing_key", errors, required=True, max_length=64)
    payload = data.get("payload")
    fields: dict[str, Any] = {}
    if not isinstance(payload, dict):
        errors.append(
            "'payload' is missing or not an object."
            if payload is None
            else "'payload' must be an object."
        )
        payload = {}
    fields["summary"] = _text(
        payload, "summary", errors, prefix="payload.", required=True, max_length=1024
    )
    fields["source"] = _text(payload, "source", errors, prefix="payload.", max_length=255)
    fields["timestamp"] = _payload_timestamp(payload, errors)
    custom = payload.get("custom_details")
    if custom is not None and not isinstance(custom, dict):
        errors.append("'payload.custom_details' must be an object.")
    links = _objects(data, "links", "href", errors)
    for index, link in enumerate(links):
        if len(link["href"]) > 1000 or not _http_url(link["href"]):
            errors.append(
                f"'links[{index}].href' must be an http(s) URL of 1000 characters at most."
            )
    if errors:
        raise InvalidPayload(errors)
    details = {}
    if custom:
        details["custom_details"] = custom
    if links:
        details["links"] = links
    return ChangeEvent(
        routing_key=routing_key.strip(),
        url=links[0]["href"] if links else "",
        details=details,
        **fields,
    )


# --- Alertmanager webhook, version 4 -----------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    fingerprint: str
    index: int = 0  # its place in the notification's `alerts`

    @property
    def severity(self) -> str:
        return ALERT_SEVERITIES.get(
            str(self.labels.get("severity", "")).lower(), Outage.Severity.SEV2
        )

    @property
    def title(self) -> str:
        return (
            self.annotations.get("summary")
            or self.annotations.get("title")
            or self.labels.get("alertname")
            or "Alert"
        )


@dataclass(frozen=True)
class RejectedAlert:
    """An alert of a usable notification that cannot be stored, and why."""

    index: int
    errors: list[str]
    fingerprint: str = ""
    alertname: str = ""

    def as_json(self) -> dict:
        return {
            "alert": self.index,
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class AlertGroup:
    receiver: str
    status: str
    group_key: str
    alerts: list[Alert]
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int
    # Alerts left out of `alerts`, each with its problems: the rest of the group is still kept.
    rejected: list[RejectedAlert] = field(default_factory=list)

    def without(self, rejected: list[RejectedAlert]) -> AlertGroup:
        """This group with more alerts set aside."""
        out = {r.index for r in rejected}
        return replace(
            self,
            alerts=[a for a in self.alerts if a.index not in out],
            rejected=sorted([*self.rejected, *rejected], key=lambda r: r.index),
        )


def _string_map(data: dict, name: str, errors: list[str], *, prefix: str = "") -> dict[str, str]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append(f"'{prefix}{name}' must be an object of strings.")
        return {}
    return value


def _alert_parse(raw: Any, index: int) -> Alert | RejectedAlert:
    prefix = f"alerts[{index}]."
    if not isinstance(raw, dict):
        return RejectedAlert(index, [f"'alerts[{index}]' must be an object."])
    errors: list[str] = []
    alert_status = _text(raw, "status", errors, prefix=prefix, required=True)
    if alert_status and alert_status not in ("firing", "resolved"):
        errors.append(f"'{prefix}status' must be firing or resolved (got {alert_status!r}).")
    labels = _string_map(raw, "labels", errors, prefix=prefix)
    stamp = _text(raw, "startsAt", errors, prefix=prefix)
    starts_at = _parse_time(stamp) if stamp else None
    if stamp and starts_at is None:
        errors.append(
            f"'{prefix}startsAt' must be an RFC 3339 date and time between the years 1 and "
            f"9999 (got {stamp[:100]!r})."
        )
    annotations = _string_map(raw, "annotations", errors, prefix=prefix)
    fingerprint = _text(raw, "fingerprint", errors, prefix=prefix, max_length=200)
    if errors:
        fingerprint = raw.get("fingerprint")
        raw_labels = raw.get("labels")
        name = raw_labels.get("alertname") if isinstance(raw_labels, dict) else None
        return RejectedAlert(
            index,
            errors,
            fingerprint=fingerprint[:200] if isinstance(fingerprint, str) else "",
            alertname=name[:200] if isinstance(name, str) else "",
        )
    return Alert(
        status=alert_status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        fingerprint=fingerprint,
        index=index,
    )


def alert_group_parse(data: Any) -> AlertGroup:
    """An Alertmanager webhook notification (JSON version "4"). A notification that is not one
    (wrong version, no group key, no alerts…) raises InvalidPayload listing every problem, its
    alerts' too; otherwise each alert that cannot be used is set aside in `rejected`, with its
    problems, and the others are kept: one bad alert must not cost the group."""
    if not isinstance(data, dict):
        raise InvalidPayload(["The body must be a JSON object (an Alertmanager notification)."])
    errors: list[str] = []
    version = data.get("version")
    if version != "4":
        errors.append(f"'version' must be \"4\" (Alertmanager's webhook format); got {version!r}.")
    status = _text(data, "status", errors, required=True)
    if status and status not in ("firing", "resolved"):
        errors.append(f"'status' must be firing or resolved (got {status!r}).")
    group_key = _text(data, "groupKey", errors, required=True, max_length=10000)
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        errors.append("'alerts' must be a non-empty list.")
        raw_alerts = []
    parsed = [_alert_parse(raw, index) for index, raw in enumerate(raw_alerts)]
    alerts = [a for a in parsed if isinstance(a, Alert)]
    rejected = [a for a in parsed if isinstance(a, RejectedAlert)]
    truncated = data.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        errors.append("'truncatedAlerts' must be a whole number.")
        truncated = 0
    group = AlertGroup(
        receiver=_text(data, "receiver", errors, max_length=255),
        status=status,
        group_key=group_key,
        alerts=alerts,
        group_labels=_string_map(data, "groupLabels", errors),
        common_labels=_string_map(data, "commonLabels", errors),
        common_annotations=_string_map(data, "commonAnnotations", errors),
        external_url=_text(data, "externalURL", errors, max_length=1000),
        truncated_alerts=truncated,
        rejected=rejected,
    )
    if errors:
        raise InvalidPayload(errors + [e for r in rejected for e in r.errors])
    return group


def worst_severity(severities: list[str]) -> str:
    return min(severities, key=SEVERITY_ORDER.index) if severities else Outage.Severity.SEV2
