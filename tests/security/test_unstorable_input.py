"""Input that can never be stored, as a class: every JSON body Steward reads (the monitors'
receivers and every write of the API, walked from /api/schema/) and every page's query string,
each given the values that used to reach PostgreSQL or Python's limits and come back as a 5xx
(which monitors retry forever): NaN and infinities, nesting that recurses, integers of thousands
of digits, lone surrogates, U+0000, bytes that are not UTF-8, timestamps that overflow. Each is a
4xx in the endpoint's documented shape, naming where the value was, and writes nothing.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client

from incidents.models import Outage
from integrations.models import InboundEvent
from tests.factories import SystemFactory
from tests.integrations.conftest import alertmanager, pagerduty
from tests.security.test_authorization_matrix import EXPECTED, _values
from tests.security.test_schemathesis import path_parameters
from tests.security.world import World, world_build

pytestmark = pytest.mark.django_db

MARK = "@@nasty@@"


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.STEWARD_INBOUND_RATE_LIMIT = 0  # hundreds of requests on one key


@pytest.fixture
def system(db):
    """An IT system whose integration key the monitors present."""
    return SystemFactory(name="Core database", slug="core-db")


# Raw JSON text put where a value goes: (name, fragment, what the answer must say).
VALUES = {
    "NaN": ("NaN", "NaN"),
    "Infinity": ("Infinity", "Infinity"),
    "-Infinity": ("-Infinity", "-Infinity"),
    "1e999": ("1e999", "out of range"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nests deeper"),
    "nesting past the bound": ("[" * 70 + "]" * 70, "nests deeper"),
    "5000 digits": ("9" * 5000, "5000 digits"),
    "10**30": (str(10**30), "larger than"),
    "-10**30": (str(-(10**30)), "larger than"),
    "lone high surrogate": ('"a\\ud800b"', "surrogate"),
    "lone low surrogate": ('"\\udfff"', "surrogate"),
    "key with a surrogate": ('{"\\ud83d": 1}', "surrogate"),
}
# Only where text is stored as it is: the receivers keep U+0000 as U+FFFD.
NUL = {"NUL": ('"a\\u0000b"', "U+0000"), "NUL in a key": ('{"a\\u0000": 1}', "U+0000")}
TIMESTAMPS = {
    "9999-12-31 at -14:00": ('"9999-12-31T23:59:59-14:00"', "9999"),
    "0001-01-01 at +14:00": ('"0001-01-01T00:00:00+14:00"', "9999"),
    "year 10000": ('"+10000-01-01T00:00:00Z"', "9999"),
    # Stored, then past the year 9999 (or before 1) in a zone on the other side of UTC.
    "9999-12-31 in UTC": ('"9999-12-31T23:00:00Z"', "9999"),
    "0001-01-01 in UTC": ('"0001-01-01T00:00:00Z"', "9999"),
    "naive 9999-12-31": ('"9999-12-31T12:00:00"', "9999"),
}
BODIES = {
    "not UTF-8": (b'{"a": "\xff\xfe"}', "UTF-8"),
    "UTF-16": ('{"a": 1}'.encode("utf-16"), "UTF-8"),
    "truncated": (b'{"a": [1, 2', "not valid JSON"),
    "NaN alone": (b"NaN", "NaN"),
    "deep alone": (b"[" * 200_000, "nests deeper"),
}


def _with(document: dict, path: tuple, fragment: str) -> bytes:
    """`document` as JSON with the value at `path` replaced by the raw `fragment`."""
    document = copy.deepcopy(document)
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = MARK
    return json.dumps(document).replace(json.dumps(MARK), fragment).encode()


def _cases(document: dict, path: tuple, values: dict) -> list:
    return [
        pytest.param(_with(document, path, fragment), said, id=name)
        for name, (fragment, said) in values.items()
    ]


# --- the monitors' receivers -----------------------------------------------------------------


def _events_cases():
    event = pagerduty(type("S", (), {"integration_key": "KEY"})())
    return [
        *_cases(event, ("payload", "summary"), VALUES),
        *_cases(event, ("payload", "custom_details", "load avg"), VALUES),
        *_cases(event, ("payload", "timestamp"), TIMESTAMPS),
        *[pytest.param(body, said, id=name) for name, (body, said) in BODIES.items()],
    ]


@pytest.mark.parametrize(("body", "said"), _events_cases())
def test_the_events_api_refuses_what_cannot_be_stored_in_its_shape(client, system, body, said):
    body = body.replace(b'"KEY"', json.dumps(system.integration_key).encode())

    response = client.post("/v2/enqueue", data=body, content_type="application/json")

    # PagerDuty's documented refusal, which its clients drop instead of retrying.
    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert answer["status"] == "invalid event"
    assert answer["message"] == "Event object is invalid"
    assert any(said in error for error in answer["errors"]), answer
    assert not InboundEvent.objects.exists() and not Outage.objects.exists()


def _alertmanager_cases():
    notification = alertmanager()
    return [
        *_cases(notification, ("commonAnnotations", "summary"), VALUES),
        *_cases(notification, ("alerts", 0, "annotations", "summary"), VALUES),
        *[pytest.param(body, said, id=name) for name, (body, said) in BODIES.items()],
    ]


@pytest.mark.parametrize(("body", "said"), _alertmanager_cases())
def test_alertmanager_refuses_what_cannot_be_stored_in_its_shape(client, system, body, said):
    url = f"/integrations/alertmanager/{system.integration_key}/"

    response = client.post(url, data=body, content_type="application/json")

    assert response.status_code == 400, response.content[:300]
    answer = response.json()
    assert answer["status"] == "invalid"
    assert any(said in error for error in answer["errors"]), answer
    assert not InboundEvent.objects.exists() and not Outage.objects.exists()


@pytest.mark.parametrize(
    "stamp", [fragment for fragment, _ in TIMESTAMPS.values()], ids=list(TIMESTAMPS)
)
def test_an_alert_whose_time_overflows_is_set_aside_and_the_group_kept(client, system, stamp):
    notification = alertmanager()
    notification["alerts"].append(copy.deepcopy(notification["alerts"][0]))
    body = _with(notification, ("alerts", 1, "startsAt"), stamp)
    url = f"/integrations/alertmanager/{system.integration_key}/"

    response = client.post(url, data=body, content_type="application/json")

    assert response.status_code == 202, response.content[:300]
    assert response.json()["accepted"] == [0]
    [rejected] = response.json()["rejected"]
    assert rejected["alert"] == 1 and "'alerts[1].startsAt'" in rejected["errors"][0]
    assert Outage.objects.get().started_at.year == 2025


# --- every write of the API ------------------------------------------------------------------


def _schema() -> dict:
    return json.loads(Client().get("/api/schema/", HTTP_ACCEPT="application/json").content)


def _json_body_properties(schema: dict, operation: dict) -> dict:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema")
    if body is None:
        return {}
    while "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body.get("properties", {})


def _writes(schema: dict):
    for path, item in schema["paths"].items():
        if not path.startswith("/api/"):
            continue  # the monitors' receivers, with shapes of their own: tested above
        for method in ("post", "patch", "put"):
            if method in item:
                properties = _json_body_properties(schema, item[method])
                if properties:
                    yield method.upper(), path, properties


def _api_body(properties: dict, fragment: str, *, only_times: bool) -> bytes:
    names = [
        name
        for name, spec in properties.items()
        if not only_times or spec.get("format") == "date-time"
    ]
    return ("{" + ", ".join(f"{json.dumps(n)}: {fragment}" for n in names) + "}").encode()


def test_every_api_write_refuses_what_cannot_be_stored_naming_the_field():
    world = world_build()
    schema = _schema()
    client = Client(headers=world.token_headers("admin"), raise_request_exception=False)
    writes = list(_writes(schema))
    assert len(writes) > 30, "the schema lost its writes"
    failures = []
    values = {**VALUES, **NUL, **TIMESTAMPS}
    for method, path, properties in writes:
        url = path.format(**path_parameters(world, path))
        for name, (fragment, said) in values.items():
            only_times = name in TIMESTAMPS
            body = _api_body(properties, fragment, only_times=only_times)
            if body == b"{}":
                continue
            with transaction.atomic():
                response = client.generic(method, url, body, content_type="application/json")
                transaction.set_rollback(True)
            answer = response.json() if response.get("Content-Type") == "application/json" else {}
            named = isinstance(answer, dict) and any(
                key in properties and said in str(answer[key]) for key in answer
            )
            # Nesting deep enough to stop the parser is found before any field is.
            whole = name == "deep nesting" and said in str(answer.get("detail"))
            # 403/404/405/409 come before the body is read for some writes: never a 5xx, and a 400
            # names the field and the reason.
            if response.status_code >= 500 or (
                response.status_code == 400 and not (named or whole)
            ):
                failures.append(f"{method} {url} {name}: {response.status_code} {answer}")
    assert not failures, "\n".join(failures[:40])


@pytest.mark.parametrize(
    ("body", "said"), [pytest.param(b, s, id=n) for n, (b, s) in BODIES.items()]
)
def test_an_api_body_that_is_not_json_text_is_a_400(body, said):
    world = world_build()
    client = Client(headers=world.token_headers("admin"))

    response = client.post("/api/v1/projects/", body, content_type="application/json")

    assert response.status_code == 400
    assert said in response.json()["detail"]


# --- every page's query string -----------------------------------------------------------------

QUERY_VALUES = {
    "NUL": "a%00b",
    "surrogate bytes": "%ED%A0%80",
    "not UTF-8": "%FF%FE",
    "huge integer": "9" * 5000,
    "overflowing date": "9999-12-31T23:59:59-14:00",
    "last day": "9999-12-31",
    "first day": "0001-01-01",
    "huge epoch": "253402300800000",
    "year 0": "0000-01-01",
    "year 10000": "10000-01-01",
}
# Every parameter name a view or a filter reads.
QUERY_NAMES = [
    "q",
    "search",
    "page",
    "format",
    "tz",
    "state",
    "open",
    "project",
    "scope",
    "system",
    "start",
    "end",
    "at",
    "from",
    "to",
    "day",
    "period",
    "first",
    "last",
    "year",
    "month",
    "week",
    "kind",
    "status",
    "severity",
    "team",
    "person",
    "target_system",
    "source_project",
    "source_system",
    "object_id",
    "limit",
    "offset",
    "ordering",
    "next",
    "dry_run",
]


def test_no_page_or_endpoint_answers_5xx_to_unstorable_query_values(world_for_pages):
    world, client = world_for_pages
    values = _values(world)
    failures = []
    for name, (method, path, _statuses) in sorted(EXPECTED.items()):
        if method != "GET":
            continue
        url = path.format(**values)
        for label, raw in QUERY_VALUES.items():
            query = "&".join(f"{key}={raw}" for key in QUERY_NAMES)
            with transaction.atomic():
                response = client.get(f"{url}?{query}")
                transaction.set_rollback(True)
            if response.status_code >= 500:
                failures.append(f"{name} {url} {label}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.fixture
def world_for_pages() -> tuple[World, Client]:
    world = world_build()
    client = Client(raise_request_exception=False)  # every 5xx is listed, not the first raised
    client.force_login(world.users["admin"])
    return world, client


def test_a_form_post_with_nul_and_surrogate_bytes_is_not_a_5xx(world_for_pages):
    world, client = world_for_pages
    values = _values(world)
    failures = []
    for name, (method, path, _statuses) in sorted(EXPECTED.items()):
        if method != "POST" or path.startswith(("/api/", "/v2/", "/integrations/alertmanager")):
            continue
        url = path.format(**values)
        for raw in ("a%00b", "%ED%A0%80", "%FF"):
            body = "&".join(
                f"{key}={raw}" for key in ("title", "name", "message", "address", *QUERY_NAMES)
            )
            with transaction.atomic():
                response = client.post(url, body, content_type="application/x-www-form-urlencoded")
                transaction.set_rollback(True)
            if response.status_code >= 500:
                failures.append(f"{name} {url} {quote(raw)}: {response.status_code}")
        # The same as multipart/form-data (what a form with a file sends).
        fields = {key: "a\x00b" for key in ("title", "name", "message", "address", *QUERY_NAMES)}
        with transaction.atomic():
            response = client.post(url, fields)
            transaction.set_rollback(True)
        if response.status_code >= 500:
            failures.append(f"{name} {url} multipart NUL: {response.status_code}")
    assert not failures, "\n".join(failures)


# --- what is at the bounds is still taken ----------------------------------------------------

AT_THE_BOUNDS = {
    "nesting of 64": "[" * 63 + "1" + "]" * 63,
    "the largest bigint": str(2**63 - 1),
    "the smallest bigint": str(-(2**63 - 1)),
    "a large finite float": "1.7e308",
    "an escaped surrogate pair": '"\\ud83d\\udca5"',
    "the first day every zone can show": '"0001-01-02T00:00:00Z"',
    "the last day every zone can show": '"9999-12-30T00:00:00Z"',
    "9999-12-30 at +14:00": '"9999-12-30T00:00:00+14:00"',
    "a date-like text": '"2024-13-45T99:99 is not a time"',
}


@pytest.mark.parametrize("fragment", AT_THE_BOUNDS.values(), ids=AT_THE_BOUNDS.keys())
def test_values_at_the_bounds_are_read(fragment):
    from steward.strict_json import strict_loads

    document = strict_loads(f'{{"x": {fragment}}}'.encode())

    assert document["x"] == json.loads(fragment)


def test_a_byte_order_mark_is_not_part_of_the_document(client, system):
    body = b"\xef\xbb\xbf" + json.dumps(pagerduty(system)).encode()

    response = client.post("/v2/enqueue", data=body, content_type="application/json")

    assert response.status_code == 202, response.content


# --- times typed in a form -------------------------------------------------------------------

EDGE_TIMES = {
    "last hour of 9999": "9999-12-31T23:00",
    "first hour of year 1": "0001-01-01T00:00",
}


def _form_cases(world: World) -> list[tuple[str, dict, str]]:
    """(form URL, a body that is valid but for the time, the time field)."""
    return [
        (
            "/it/changes/new/",
            {
                "title": "Patch",
                "type": "normal",
                "risk": "low",
                "planned_start_at": "2030-01-01T10:00",
                "planned_end_at": "2030-01-01T11:00",
                "systems": [world.system.pk],
            },
            "planned_start_at",
        ),
        (
            "/it/changes/new/",
            {
                "title": "Patch",
                "type": "normal",
                "risk": "low",
                "planned_start_at": "2030-01-01T10:00",
                "planned_end_at": "2030-01-01T11:00",
                "systems": [world.system.pk],
            },
            "planned_end_at",
        ),
        (
            f"/projects/{world.project.slug}/incidents/new/",
            {"title": "Down", "impact": "degraded"},
            "started_at",
        ),
    ]


@pytest.mark.parametrize("time", EDGE_TIMES.values(), ids=EDGE_TIMES.keys())
def test_a_time_no_zone_can_show_is_refused_in_forms_naming_the_field(world_for_pages, time):
    world, client = world_for_pages
    for url, body, field in _form_cases(world):
        response = client.post(url, {**body, field: time})

        assert response.status_code in (200, 400), (url, field, response.status_code)
        form = response.context["form"]
        assert "every time zone" in " ".join(form.errors.get(field, [])), (url, form.errors)


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_a_nul_in_a_form_field_is_a_400_naming_it_and_changes_nothing(world_for_pages, multipart):
    world, client = world_for_pages
    url = f"/it/outages/{world.outage.pk}/resolve/"

    if multipart:
        response = client.post(url, {"message": "fixed\x00"})
    else:
        response = client.post(
            url, "message=fixed%00", content_type="application/x-www-form-urlencoded"
        )

    assert response.status_code == 400
    assert response.content.decode().startswith("message: ")
    world.outage.refresh_from_db()
    assert world.outage.resolved_at is None
