"""Schemathesis against the app's own OpenAPI schema, through the WSGI app, as every role.

For every operation in /api/schema/ and every role (anonymous, reader, owner of another project,
owner, IT staff, admin, each with an API token):

- generated valid requests, with the path pointing at real objects of a small world
  (tests/security/world.py): no 5xx, and the status code, content type and body the schema
  describes;
- generated invalid requests (negative mode): no 5xx;
- no write (POST/PUT/PATCH/DELETE answered 2xx) for a role that may not make it: ALLOWED_WRITES.

Each example runs in a savepoint rolled back afterwards, so every example starts from the same
world (a DELETE does not hide the object from the next one). Hypothesis is derandomized with no
example database: CI sees the same requests every run. The budget is small on purpose
(EXAMPLES/NEGATIVE_EXAMPLES per operation and role) to keep this under a few minutes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.media_types import YAML_MEDIA_TYPES
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from incidents.api.incidents import OpenItemOut
from oncall.api import ContactOut
from steward import fragments
from steward.wsgi import application
from tests.security.world import ROLES, World, world_build

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("STEWARD_SCHEMATHESIS_EXAMPLES", "4"))
NEGATIVE_EXAMPLES = int(os.environ.get("STEWARD_SCHEMATHESIS_NEGATIVE_EXAMPLES", "2"))
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# Writes any signed-in person may make, whatever the path points at. The preview endpoints are
# POSTs that write nothing.
SIGNED_IN_WRITES = {
    "POST /api/v1/projects/",
    "POST /api/v1/reports/",
    # Anyone who owns an app that depends on the system the body names (portal.services).
    "POST /api/v1/system-reports/",
    "POST /api/v1/subscriptions/",
    "POST /api/v1/changes/preview/",
    "POST /api/v1/outages/preview/",
    # The quietest-slot search writes nothing either.
    "POST /api/v1/changes/slots/",
}
WEBHOOK_WRITES = {
    "POST /api/v1/webhooks/",
    "PATCH /api/v1/webhooks/{id}/",
    "DELETE /api/v1/webhooks/{id}/",
    "POST /api/v1/webhooks/{id}/ping/",
    "POST /api/v1/webhooks/{id}/rotate-secret/",
    "POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver/",
}
# Reviews of a project's incidents: its editors and IT staff (reviews.services.may_edit).
REVIEW_WRITES = {
    "POST /api/v1/reviews/",
    "PATCH /api/v1/reviews/{id}/",
    "POST /api/v1/reviews/{id}/action-items/",
    "PATCH /api/v1/action-items/{id}/",
}
# The owner of `world.project`, its on-call, whose person, page and subscription the paths name.
OWNER_WRITES = SIGNED_IN_WRITES | {
    "PATCH /api/v1/projects/{slug}/",
    "DELETE /api/v1/projects/{slug}/",
    "POST /api/v1/projects/{slug}/roles/",
    "DELETE /api/v1/projects/{slug}/roles/{person_id}/",
    "POST /api/v1/projects/{slug}/releases/",
    "PATCH /api/v1/people/{id}/",
    "POST /api/v1/people/{person_pk}/contact-methods/",
    "PATCH /api/v1/people/{person_pk}/contact-methods/{id}/",
    "DELETE /api/v1/people/{person_pk}/contact-methods/{id}/",
    "POST /api/v1/incidents/",
    "PATCH /api/v1/incidents/{id}/",
    "POST /api/v1/incidents/{id}/cause/",
    "POST /api/v1/incidents/{id}/resolve/",
    "POST /api/v1/incidents/{id}/updates/",
    "POST /api/v1/rotations/",
    "PATCH /api/v1/rotations/{id}/",
    "DELETE /api/v1/rotations/{id}/",
    "POST /api/v1/rotations/{id}/overrides/",
    "DELETE /api/v1/rotations/{id}/overrides/{override_pk}/",
    "POST /api/v1/escalation-policies/",
    "PATCH /api/v1/escalation-policies/{id}/",
    "DELETE /api/v1/escalation-policies/{id}/",
    "POST /api/v1/dependencies/",
    "PATCH /api/v1/dependencies/{id}/",
    "DELETE /api/v1/dependencies/{id}/",
    "POST /api/v1/changes/{id}/respond/",
    "DELETE /api/v1/subscriptions/{id}/",
    "POST /api/v1/notifications/{id}/ack/",
    # `world.review` is of the owner's project's incident, `world.action_item` the owner's.
    *REVIEW_WRITES,
    # `world.webhook` is on the owner's project.
    *WEBHOOK_WRITES,
    # Adopting an orphaned project (directory): its people may.
    "POST /api/v1/projects/{slug}/adopt/",
}
IT_WRITES = (
    SIGNED_IN_WRITES
    | WEBHOOK_WRITES
    | REVIEW_WRITES
    | {
        # IT staff add people before they sign in (registry.services.person_add), mark them as
        # left or back (directory.services), and adopt orphaned projects.
        "POST /api/v1/people/",
        "POST /api/v1/people/{person_id}/deactivate/",
        "POST /api/v1/people/{person_id}/reactivate/",
        "POST /api/v1/projects/{slug}/adopt/",
        "POST /api/v1/systems/",
        "PATCH /api/v1/systems/{slug}/",
        "DELETE /api/v1/systems/{slug}/",
        "POST /api/v1/teams/",
        "PATCH /api/v1/teams/{slug}/",
        "DELETE /api/v1/teams/{slug}/",
        "POST /api/v1/dependencies/",
        "PATCH /api/v1/dependencies/{id}/",
        "DELETE /api/v1/dependencies/{id}/",
        "POST /api/v1/changes/",
        "PATCH /api/v1/changes/{id}/",
        "POST /api/v1/changes/{id}/schedule/",
        "POST /api/v1/changes/{id}/start/",
        "POST /api/v1/changes/{id}/complete/",
        "POST /api/v1/changes/{id}/cancel/",
        "POST /api/v1/changes/{id}/rollback/",
        "POST /api/v1/changes/book/",
        # Maintenance windows and blackouts (changes.windows).
        "POST /api/v1/maintenance-windows/",
        "POST /api/v1/maintenance-windows/{id}/end/",
        "POST /api/v1/blackouts/",
        "PATCH /api/v1/blackouts/{id}/",
        "DELETE /api/v1/blackouts/{id}/",
        "POST /api/v1/outages/",
        "POST /api/v1/outages/{id}/cause/",
        "POST /api/v1/outages/{id}/resolve/",
        "POST /api/v1/outages/{id}/updates/",
        "POST /api/v1/system-reports/{id}/outage/",
        # Backstage catalog import (imports/backstage): IT staff and admins only.
        "POST /api/v1/catalog/import/",
        # Team rotations: IT staff manage teams, so their rotations too; and they set up any
        # project's on-call (oncall.services.can_edit_project_oncall).
        "POST /api/v1/rotations/",
        "PATCH /api/v1/rotations/{id}/",
        "DELETE /api/v1/rotations/{id}/",
        "POST /api/v1/rotations/{id}/overrides/",
        "DELETE /api/v1/rotations/{id}/overrides/{override_pk}/",
        "POST /api/v1/escalation-policies/",
        "PATCH /api/v1/escalation-policies/{id}/",
        "DELETE /api/v1/escalation-policies/{id}/",
        # IT staff may run any project's incident (incidents.services.incidents.may_run_incidents).
        "POST /api/v1/incidents/",
        "PATCH /api/v1/incidents/{id}/",
        "POST /api/v1/incidents/{id}/cause/",
        "POST /api/v1/incidents/{id}/resolve/",
        "POST /api/v1/incidents/{id}/updates/",
    }
)
ALLOWED_WRITES: dict[str, set[str] | None] = {
    "anonymous": set(),
    "reader": SIGNED_IN_WRITES,
    "other_owner": SIGNED_IN_WRITES,
    "owner": OWNER_WRITES,
    "it": IT_WRITES,
    "admin": None,  # everything
}
# The monitors' receivers (integrations/schema.py), in the schema beside the API.
RECEIVERS = {
    "POST /v2/enqueue",
    "POST /v2/change/enqueue",
    "POST /integrations/alertmanager/",
    "POST /integrations/alertmanager/{key}/",
    "GET /integrations/heartbeat/{key}/",
    "POST /integrations/heartbeat/{key}/",
}
# The token endpoint answers 200 to the right password, which generated data never is. The
# receivers are authenticated by a key in the body or the URL, whoever sends it.
NOT_WRITES = {"POST /api/v1/auth/token/"} | RECEIVERS


@schemathesis.deserializer(*YAML_MEDIA_TYPES)
def _yaml_text(ctx, response) -> str:
    """The catalog export is a multi-document YAML stream, described as a string: the text
    itself (schemathesis' own YAML deserializer, replaced here for every YAML media type since
    it matches by family, reads a single document only)."""
    return response.content.decode(response.encoding or "utf-8")


# DRF's own refusals, the same shape on every operation: `{"detail": "..."}`. The schema does not
# list them per operation (drf-spectacular adds only what a view declares), so the status-code
# check is not applied to them; their body and content type still are.
GENERIC_REFUSALS = {401, 403, 404, 405}


def _generic_refusal(response) -> bool:
    if response.status_code not in GENERIC_REFUSALS:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == {"detail"}


def path_parameters(world: World, path: str) -> dict[str, object]:
    """Real objects for the path's parameters, so requests reach code past the 404."""
    first = path.removeprefix("/api/v1/").split("/")[0]
    ids = {
        "changes": world.change.pk,
        "outages": world.outage.pk,
        "incidents": world.incident.pk,
        "notifications": world.notification.pk,
        "dependencies": world.dependency.pk,
        "rotations": world.rotation.pk,
        "escalation-policies": world.policy_id,
        "people": world.people["owner"].pk,
        "reports": world.report.pk,
        "system-reports": world.system_report.pk,
        "subscriptions": world.subscription.pk,
        "audit": 1,
        "webhooks": world.webhook.pk,
        "maintenance-windows": world.window.pk,
        "blackouts": world.blackout.pk,
        "reviews": world.review.pk,
        "action-items": world.action_item.pk,
    }
    slugs = {
        "projects": world.project.slug,
        "status": world.project.slug,
        "systems": world.system.slug,
        "teams": world.team.slug,
    }
    values: dict[str, object] = {}
    for name in re.findall(r"{(\w+)}", path):
        if name == "slug":
            values[name] = slugs[first]
        elif name == "id" and first == "people" and "contact-methods" in path:
            values[name] = world.contact.pk
        elif name == "id":
            values[name] = ids[first]
        elif name in {"person_pk", "person_id"}:
            values[name] = world.people["owner"].pk
        elif name == "override_pk":
            values[name] = world.override_id
        elif name == "delivery_id":
            values[name] = world.webhook_delivery.pk
        elif name == "key" and "heartbeat" in path:
            values[name] = world.heartbeat.key
        elif name == "key":
            values[name] = world.system.integration_key
    return values


@pytest.fixture
def world() -> World:
    return world_build()


@pytest.fixture
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    # The WSGI handler closes the connection at the end of each request; the test's transaction
    # lives on it, so keep it open as Django's test client does.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _operations(api_schema):
    for result in api_schema.get_all_operations():
        yield result.ok()


def _run(strategy, *, examples: int, check) -> str | None:
    """Run `check(case)` on `examples` generated cases; the first failure's message, or None."""
    failure: list[str] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report what was found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:
        if failure:
            return
        try:
            with transaction.atomic():
                check(case)
                transaction.set_rollback(True)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — reported with the case
            failure.append(f"{type(exc).__name__}: {str(exc)[:1500]}\n    {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # negative mode: nothing in this operation can be made invalid
        return None
    return failure[0] if failure else None


def _conformance(role: str, headers: dict, label: str, method: str):
    """The check of a valid request: no write the role may not make, no 5xx, and the status
    code, content type and body (every field's type, enum and nullability) the schema says."""
    allowed = ALLOWED_WRITES[role]

    def conforms(case) -> None:
        response = case.call(headers=headers)
        if (
            method in WRITES
            and label not in NOT_WRITES
            and allowed is not None
            and label not in allowed
            and 200 <= response.status_code < 300
        ):
            raise AssertionError(
                f"{role} may not make this write but got {response.status_code}: "
                f"{response.text[:300]}"
            )
        checks = [not_a_server_error, content_type_conformance, response_schema_conformance]
        if not _generic_refusal(response):
            checks.append(status_code_conformance)
        case.validate_response(response, checks=checks, headers=headers)

    return conforms


@pytest.mark.parametrize("role", ROLES)
def test_api_as_role(role: str, world: World, api_schema) -> None:
    headers = world.token_headers(role)
    failures: list[str] = []
    operations = sorted(_operations(api_schema), key=lambda op: op.method.upper() == "DELETE")
    assert len(operations) > 50, "the schema lost its operations"
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert not RECEIVERS - labels, f"the schema lost the monitors' receivers: {RECEIVERS - labels}"

    for operation in operations:
        method = operation.method.upper()
        label = f"{method} {operation.path}"
        params = path_parameters(world, operation.path)

        conforms = _conformance(role, headers, label, method)

        def no_server_error(case) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error], headers=headers)

        found = _run(
            operation.as_strategy(path_parameters=params), examples=EXAMPLES, check=conforms
        )
        if found:
            failures.append(f"{label} (valid input): {found}")
        found = _run(
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=params),
            examples=NEGATIVE_EXAMPLES,
            check=no_server_error,
        )
        if found:
            failures.append(f"{label} (invalid input): {found}")

    assert not failures, f"{len(failures)} operations misbehave as {role}:\n\n" + "\n\n".join(
        failures
    )


def _deviating(serializer, monkeypatch, **wrong) -> None:
    """Make `serializer` answer `wrong` values for some of its fields."""
    original = serializer.to_representation
    monkeypatch.setattr(
        serializer, "to_representation", lambda self, value: {**original(self, value), **wrong}
    )
    # Other code: what the served code kept (`steward.fragments`) is not read, as after a release.
    monkeypatch.setattr(fragments, "SALT", f"{fragments.SALT}-deviating")


@pytest.mark.parametrize(
    "role, label, serializer, wrong",
    [
        # A role the published enum does not list (as `on_call_next` once was not).
        ("reader", "GET /api/v1/projects/{slug}/support/", ContactOut, {"reason": "asleep"}),
        # A field the schema says is never null.
        ("anonymous", "GET /api/v1/status/{slug}/", OpenItemOut, {"summary": None}),
        ("anonymous", "GET /api/v1/status/", OpenItemOut, {"acknowledged": "yes"}),
    ],
)
def test_a_response_that_deviates_from_its_schema_fails_the_check(
    role, label, serializer, wrong, world: World, api_schema, monkeypatch
) -> None:
    """The check above is not a status-code check only: a body off its schema fails it."""
    [operation] = [
        op for op in _operations(api_schema) if f"{op.method.upper()} {op.path}" == label
    ]
    strategy = operation.as_strategy(path_parameters=path_parameters(world, operation.path))
    check = _conformance(role, world.token_headers(role), label, "GET")
    assert _run(strategy, examples=1, check=check) is None  # as served, it conforms
    _deviating(serializer, monkeypatch, **wrong)
    found = _run(strategy, examples=1, check=check)
    assert found is not None and "schema" in found.lower(), found
