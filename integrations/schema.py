"""The monitors' receivers in /api/schema/ (a drf-spectacular postprocessing hook).

They are plain Django views, authenticated by an integration or heartbeat key rather than a
user, in the shapes PagerDuty and Alertmanager define, so drf-spectacular cannot see them; they
are described here so that API clients, and Schemathesis in the security suite, know them too.
"""

from __future__ import annotations

from typing import Any

from .payloads import EVENT_ACTIONS, PAGERDUTY_SEVERITIES

TAG = "integrations"

STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ERRORS = {"type": "array", "items": {"type": "string"}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(properties: dict, required: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


EVENT = _object(
    {
        "routing_key": {"type": "string", "maxLength": 64},
        "event_action": {"type": "string", "enum": list(EVENT_ACTIONS)},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": _object(
            {
                "summary": {"type": "string", "maxLength": 1024},
                "source": {"type": "string", "maxLength": 255},
                "severity": {"type": "string", "enum": list(PAGERDUTY_SEVERITIES)},
                "timestamp": {"type": "string", "format": "date-time"},
                "component": {"type": "string", "maxLength": 255},
                "group": {"type": "string", "maxLength": 255},
                "class": {"type": "string", "maxLength": 255},
                "custom_details": {},
            },
            ["summary", "source", "severity"],
        ),
        "images": {"type": "array", "items": _object({"src": {"type": "string"}}, ["src"])},
        "links": {"type": "array", "items": _object({"href": {"type": "string"}}, ["href"])},
        "client": {"type": "string", "maxLength": 255},
        "client_url": {"type": "string", "maxLength": 1000},
    },
    ["routing_key", "event_action"],
)
CHANGE_EVENT = _object(
    {
        "routing_key": {"type": "string", "maxLength": 64},
        "payload": _object(
            {
                "summary": {"type": "string", "maxLength": 1024},
                "source": {"type": "string", "maxLength": 255},
                "timestamp": {"type": "string", "format": "date-time"},
                "custom_details": {"type": "object"},
            },
            ["summary"],
        ),
        "links": {
            "type": "array",
            "items": _object(
                {"href": {"type": "string", "format": "uri", "maxLength": 1000}, "text": {}},
                ["href"],
            ),
        },
    },
    ["routing_key", "payload"],
)
EVENT_REFUSED = _object(
    {"status": {"type": "string"}, "message": {"type": "string"}, "errors": ERRORS},
    ["status", "message", "errors"],
)
ALERT = _object(
    {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string"},
        "generatorURL": {"type": "string"},
        "fingerprint": {"type": "string", "maxLength": 200},
    },
    ["status"],
)
NOTIFICATION = _object(
    {
        "version": {"type": "string", "enum": ["4"]},
        "groupKey": {"type": "string", "maxLength": 10000},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "receiver": {"type": "string", "maxLength": 255},
        "groupLabels": STRING_MAP,
        "commonLabels": STRING_MAP,
        "commonAnnotations": STRING_MAP,
        "externalURL": {"type": "string", "maxLength": 1000},
        "alerts": {"type": "array", "minItems": 1, "items": ALERT},
    },
    ["version", "groupKey", "status", "alerts"],
)
REFUSED = _object({"status": {"type": "string"}, "errors": ERRORS}, ["status", "errors"])
REJECTED_ALERT = _object(
    {
        "alert": {"type": "integer"},
        "fingerprint": {"type": "string"},
        "alertname": {"type": "string"},
        "errors": ERRORS,
    },
    ["alert", "errors"],
)
GROUP_STORED = _object(
    {
        "status": {"type": "string", "enum": ["success", "partial"]},
        "outcome": {"type": "string"},
        "outage": {"type": "integer", "nullable": True},
        "event": {"type": "integer"},
        "accepted": {"type": "array", "items": {"type": "integer"}},
        "rejected": {"type": "array", "items": REJECTED_ALERT},
    },
    ["status", "outcome", "event", "accepted", "rejected"],
)
THROTTLED = _json(_object({"status": {"type": "string"}}), "Too many for this key; `Retry-After`.")
UNAVAILABLE = _json(_object({"status": {"type": "string"}}), "Not stored; retry.")


def _key(description: str) -> dict:
    return {
        "name": "key",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _alertmanager(operation_id: str, parameters: list) -> dict:
    return {
        "post": {
            "operationId": operation_id,
            "summary": "Alertmanager webhook receiver (JSON version 4)",
            "description": "Authenticated by an IT system's integration key, in the URL or as "
            "a Bearer credential or Basic password. Alerts that cannot be stored are named in "
            "`rejected` (and shown to IT) while the others are stored: a 2xx, since "
            "Alertmanager drops a whole notification answered 4xx.",
            "tags": [TAG],
            "security": [{}],
            "parameters": parameters,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": NOTIFICATION}},
            },
            "responses": {
                "202": _json(GROUP_STORED, "Stored; `rejected` lists alerts set aside."),
                "400": _json(REFUSED, "Not an Alertmanager notification: every problem."),
                "401": _json(REFUSED, "No integration key, or not one Steward knows."),
                "413": _json(REFUSED, "Over 512 KB."),
                "429": THROTTLED,
                "503": UNAVAILABLE,
            },
        }
    }


def _heartbeat() -> dict:
    responses = {
        "200": _json(
            _object(
                {
                    "status": {"type": "string"},
                    "heartbeat": {"type": "string"},
                    "next_ping_by": {"type": "string", "format": "date-time"},
                },
                ["status", "heartbeat", "next_ping_by"],
            ),
            "Ping recorded.",
        ),
        "404": _json(REFUSED, "No heartbeat has this key."),
        "429": THROTTLED,
        "503": UNAVAILABLE,
    }
    parameters = [_key("The heartbeat's key.")]
    return {
        method: {
            "operationId": f"heartbeat_ping_{method}",
            "summary": "Ping a heartbeat (GET or POST, what cron monitors send)",
            "tags": [TAG],
            "security": [{}],
            "parameters": parameters,
            "responses": responses,
        }
        for method in ("get", "post")
    }


def receivers_document(result: dict, generator, request, public) -> dict:
    """Add the receivers' paths to the generated document."""
    paths = result.setdefault("paths", {})
    paths["/v2/enqueue"] = {
        "post": {
            "operationId": "events_enqueue",
            "summary": "Send an alert event (PagerDuty Events API v2)",
            "description": "The routing key is an IT system's integration key. PagerDuty's "
            "answers: 202, 400 for any event that cannot be used (its clients drop it), 429.",
            "tags": [TAG],
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": EVENT}},
            },
            "responses": {
                "202": _json(
                    _object(
                        {
                            "status": {"type": "string"},
                            "message": {"type": "string"},
                            "dedup_key": {"type": "string"},
                        },
                        ["status", "message", "dedup_key"],
                    ),
                    "Event processed.",
                ),
                "400": _json(EVENT_REFUSED, "Invalid event: every problem, each field named."),
                "429": THROTTLED,
                "503": UNAVAILABLE,
            },
        }
    }
    paths["/v2/change/enqueue"] = {
        "post": {
            "operationId": "change_events_enqueue",
            "summary": "Send a change event (PagerDuty Change Events API)",
            "description": "Record a release or deployment that happened. The routing key is a "
            "project's integration key (a release of the project, a suspect for its incidents) "
            "or an IT system's (a release of the system, a suspect for the incidents of every "
            "project depending on it). `payload.timestamp` (default now) needs an offset; the "
            "first link is the release's URL. PagerDuty's answers: 202, 400 for any event that "
            "cannot be used (an unknown routing key too), 429.",
            "tags": [TAG],
            "security": [{}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CHANGE_EVENT}},
            },
            "responses": {
                "202": _json(
                    _object(
                        {"status": {"type": "string"}, "message": {"type": "string"}},
                        ["status", "message"],
                    ),
                    "Change event processed.",
                ),
                "400": _json(EVENT_REFUSED, "Invalid event: every problem, each field named."),
                "429": THROTTLED,
                "503": UNAVAILABLE,
            },
        }
    }
    paths["/integrations/alertmanager/"] = _alertmanager("alertmanager_receive", [])
    paths["/integrations/alertmanager/{key}/"] = _alertmanager(
        "alertmanager_receive_keyed", [_key("The IT system's integration key.")]
    )
    paths["/integrations/heartbeat/{key}/"] = _heartbeat()
    return result
