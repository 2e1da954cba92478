"""Outgoing webhooks: which endpoints hear which event, what they are sent (the Standard Webhooks
signature checked with that project's own library), the delivery log, redelivery, and who may
manage them. Deliveries are sent here by calling the pipeline's send service against a local
HTTP sink; tests/notifications/test_webhooks_e2e.py sends them through a real worker."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from changes import services as change_services
from changes.models import Change
from incidents.models import Outage
from incidents.services import outages as outage_services
from notifications import services as delivery
from notifications.models import Notification, Page
from notifications.selectors import pages_for_event
from registry.models import AuditEntry, Dependency, ITSystem, Person, Project, ProjectRole
from steward.errors import Conflict
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from webhooks import services as webhooks
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)


@dataclass
class World:
    dc: ITSystem
    sso: ITSystem
    database: ITSystem
    people: Project
    wiki: Project
    owner: Person
    wiki_owner: Person
    it: object
    people_hook: WebhookEndpoint
    wiki_hook: WebhookEndpoint
    sso_hook: WebhookEndpoint
    dc_hook: WebhookEndpoint


@pytest.fixture
def world(db, http_sink) -> World:
    """People ──▶ SSO ──▶ Datacenter; Wiki ──▶ Database. A webhook on each project and on SSO
    and the datacenter, all to the local sink."""
    dc = SystemFactory(name="Datacenter", slug="dc")
    sso = SystemFactory(name="SSO", slug="sso")
    database = SystemFactory(name="Database", slug="database")
    people = ProjectFactory(name="People", slug="people")
    wiki = ProjectFactory(name="Wiki", slug="wiki")
    DependencyFactory(source_system=sso, target_system=dc)
    DependencyFactory(
        source_project=people, target_system=sso, criticality=Dependency.Criticality.HARD
    )
    DependencyFactory(source_project=wiki, target_system=database)
    owner = PersonFactory(display_name="Pia Owner")
    wiki_owner = PersonFactory(display_name="Wim Owner")
    ProjectRoleFactory(project=people, person=owner, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=wiki, person=wiki_owner, role=ProjectRole.Role.OWNER)
    it = it_staff_user(display_name="Ivan IT")

    def hook(path, **owner_of):
        return webhooks.webhook_endpoint_create(actor=it, url=http_sink.url(path), **owner_of)

    return World(
        dc=dc,
        sso=sso,
        database=database,
        people=people,
        wiki=wiki,
        owner=owner,
        wiki_owner=wiki_owner,
        it=it,
        people_hook=hook("/people", project=people),
        wiki_hook=hook("/wiki", project=wiki),
        sso_hook=hook("/sso", system=sso),
        dc_hook=hook("/dc", system=dc),
    )


def documents(endpoint: WebhookEndpoint) -> list[dict]:
    return [
        json.loads(body)
        for body in endpoint.deliveries.order_by("id").values_list("body", flat=True)
    ]


def types(endpoint: WebhookEndpoint) -> list[str]:
    return [d["type"] for d in documents(endpoint)]


def open_outage(world: World, *systems: ITSystem, title="SSO down"):
    return outage_services.outage_open(actor=world.it, title=title, systems=list(systems), now=NOW)


def send_all() -> None:
    for pk in Notification.objects.filter(
        webhook_endpoint__isnull=False, state="pending"
    ).values_list("pk", flat=True):
        delivery.notification_send(notification_id=pk, now=timezone.now())


# --- who hears what ---------------------------------------------------------------------------


def test_an_outage_reaches_the_touched_projects_and_its_own_systems_endpoints(world):
    outage = open_outage(world, world.sso)

    [people_doc] = documents(world.people_hook)
    [sso_doc] = documents(world.sso_hook)
    assert documents(world.wiki_hook) == []  # not touched
    assert documents(world.dc_hook) == []  # SSO depends on it, not the other way round
    assert people_doc["type"] == "outage.opened"
    assert people_doc["outage"]["id"] == outage.pk
    assert people_doc["outage"]["title"] == "SSO down"
    assert people_doc["outage"]["systems"] == [{"slug": "sso", "name": "SSO", "kind": "other"}]
    assert people_doc["outage"]["url"].endswith(f"/it/outages/{outage.pk}/")
    assert people_doc["project"]["slug"] == "people"
    assert "system" not in people_doc
    assert sso_doc["system"]["slug"] == "sso"
    assert "project" not in sso_doc
    assert people_doc["id"] != sso_doc["id"]


def test_an_outage_upstream_reaches_projects_transitively_but_only_that_systems_endpoint(world):
    open_outage(world, world.dc, title="Datacenter power")

    assert types(world.people_hook) == ["outage.opened"]  # People → SSO → Datacenter
    assert types(world.dc_hook) == ["outage.opened"]
    assert types(world.sso_hook) == []
    assert types(world.wiki_hook) == []


def test_the_whole_outage_lifecycle_in_order_and_each_event_once(world):
    outage = open_outage(world, world.sso)
    outage_services.outage_update(
        actor=world.it, outage=outage, message="Found it", status="identified", now=NOW
    )
    page = Page.objects.get(project=world.people)
    delivery.page_ack(page=page, person=world.owner, via="web", now=NOW)
    delivery.page_ack(page=page, person=world.owner, via="web", now=NOW)  # harmless twice
    outage_services.outage_resolve(actor=world.it, outage=outage, message="Back", now=NOW)

    expected = ["outage.opened", "outage.updated", "outage.acknowledged", "outage.resolved"]
    assert types(world.people_hook) == expected
    assert types(world.sso_hook) == expected
    ack = documents(world.people_hook)[2]["acknowledgement"]
    assert ack == {"project": "people", "by": "Pia Owner", "via": "web", "at": NOW.isoformat()}
    assert documents(world.people_hook)[1]["update"] == {
        "status": "identified",
        "message": "Found it",
    }
    assert documents(world.people_hook)[3]["outage"]["status"] == "resolved"


def test_a_systems_endpoint_hears_the_first_acknowledgement_only(world):
    other = ProjectFactory(name="Other", slug="other")
    DependencyFactory(source_project=other, target_system=world.sso)
    outage = open_outage(world, world.sso)
    for page in pages_for_event(outage):  # by project name
        delivery.page_ack(page=page, person=None, via="api", now=NOW)

    assert types(world.sso_hook) == ["outage.opened", "outage.acknowledged"]
    assert documents(world.sso_hook)[1]["acknowledgement"]["project"] == "other"
    assert types(world.people_hook) == ["outage.opened", "outage.acknowledged"]


def test_a_change_from_scheduled_to_completed_and_a_move(world):
    change = change_services.change_create(
        actor=world.it,
        title="Upgrade SSO",
        systems=[world.sso],
        planned_start_at=NOW + dt.timedelta(days=2),
        planned_end_at=NOW + dt.timedelta(days=2, hours=1),
    )
    change_services.change_schedule(actor=world.it, change=change, now=NOW)
    change_services.change_update(
        actor=world.it,
        change=change,
        planned_start_at=NOW + dt.timedelta(days=3),
        planned_end_at=NOW + dt.timedelta(days=3, hours=1),
        now=NOW,
    )
    change_services.change_update(
        actor=world.it,
        change=change,
        planned_start_at=NOW + dt.timedelta(days=4),
        planned_end_at=NOW + dt.timedelta(days=4, hours=1),
        now=NOW,
    )
    change_services.change_start(actor=world.it, change=change, now=NOW)
    change_services.change_complete(actor=world.it, change=change, now=NOW)

    expected = [
        "change.scheduled",
        "change.moved",
        "change.moved",
        "change.started",
        "change.completed",
    ]
    assert types(world.people_hook) == expected
    assert types(world.sso_hook) == expected
    moved = documents(world.people_hook)[2]
    assert moved["change"]["revision"] == 2
    assert moved["previous_window"]["planned_start_at"] == (NOW + dt.timedelta(days=3)).isoformat()
    assert moved["change"]["planned_start_at"] == (NOW + dt.timedelta(days=4)).isoformat()
    assert documents(world.people_hook)[4]["change"]["state"] == Change.State.COMPLETED


def test_a_cancelled_change_is_heard_only_if_it_had_been_scheduled(world):
    def change():
        return change_services.change_create(
            actor=world.it,
            title="Maybe",
            systems=[world.sso],
            planned_start_at=NOW + dt.timedelta(days=2),
            planned_end_at=NOW + dt.timedelta(days=2, hours=1),
        )

    change_services.change_cancel(actor=world.it, change=change(), now=NOW)  # a draft: nobody knew
    assert types(world.people_hook) == []
    scheduled = change()
    change_services.change_schedule(actor=world.it, change=scheduled, now=NOW)
    change_services.change_cancel(actor=world.it, change=scheduled, now=NOW)
    assert types(world.people_hook) == ["change.scheduled", "change.cancelled"]


def test_an_endpoint_hears_only_the_events_it_chose_and_none_when_disabled(world):
    webhooks.webhook_endpoint_update(
        actor=world.it, endpoint=world.people_hook, events=["outage.resolved"]
    )
    webhooks.webhook_endpoint_update(actor=world.it, endpoint=world.sso_hook, is_active=False)
    outage = open_outage(world, world.sso)
    outage_services.outage_resolve(actor=world.it, outage=outage, now=NOW)

    assert types(world.people_hook) == ["outage.resolved"]
    assert types(world.sso_hook) == []


def test_a_failing_event_writes_no_delivery(world):
    with pytest.raises(ValidationError):
        outage_services.outage_open(actor=world.it, title="", systems=[world.sso], now=NOW)
    assert not Notification.objects.filter(webhook_endpoint__isnull=False).exists()


# --- what is sent -----------------------------------------------------------------------------


def test_deliveries_are_signed_so_a_standard_webhooks_library_verifies_them(world, http_sink):
    open_outage(world, world.sso)
    send_all()

    by_path = {r.path: r for r in http_sink.requests}
    assert set(by_path) == {"/people", "/sso"}
    request = by_path["/people"]
    verified = Webhook(world.people_hook.secret).verify(request.body, request.headers)
    assert verified == documents(world.people_hook)[0]
    assert request.headers["webhook-id"] == verified["id"]
    assert request.headers["idempotency-key"] == verified["id"]
    assert request.headers["x-steward-event"] == "outage.opened"
    # Another endpoint's secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        Webhook(world.sso_hook.secret).verify(request.body, request.headers)
    assert set(
        Notification.objects.filter(webhook_endpoint__isnull=False).values_list("state", flat=True)
    ) == {"sent"}


def test_a_redelivery_sends_the_same_document_and_id_signed_with_the_current_secret(
    world, http_sink
):
    http_sink.plan("/people", [404])  # the receiver was not deployed yet: a permanent failure
    open_outage(world, world.sso)
    send_all()
    [original] = world.people_hook.deliveries.all()
    assert original.state == "failed"
    assert original.attempt_log.get().status_code == 404
    rotated = webhooks.webhook_secret_rotate(actor=world.it, endpoint=world.people_hook)

    copy = webhooks.webhook_redeliver(actor=world.it, notification=original)
    send_all()

    copy.refresh_from_db()
    assert copy.state == "sent" and copy.redelivery_of == original
    first, second = [r for r in http_sink.requests if r.path == "/people"]
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert Webhook(rotated.secret).verify(second.body, second.headers)["type"] == "outage.opened"
    with pytest.raises(WebhookVerificationError):
        Webhook(world.sso_hook.secret).verify(second.body, second.headers)
    # A redelivery of the redelivery counts on from the original.
    again = webhooks.webhook_redeliver(actor=world.it, notification=copy)
    assert again.redelivery_of == original
    assert again.idempotency_key == f"{original.idempotency_key}:re2"


def test_a_delivery_under_way_cannot_be_redelivered(world):
    open_outage(world, world.sso)
    [pending] = world.people_hook.deliveries.all()
    with pytest.raises(Conflict):
        webhooks.webhook_redeliver(actor=world.it, notification=pending)


def test_a_delivery_to_an_endpoint_disabled_since_is_cancelled_not_sent(world, http_sink):
    open_outage(world, world.sso)
    webhooks.webhook_endpoint_update(actor=world.it, endpoint=world.people_hook, is_active=False)
    send_all()
    assert [r.path for r in http_sink.requests] == ["/sso"]
    assert world.people_hook.deliveries.get().state == "cancelled"


def test_a_ping_reaches_the_endpoint(world, http_sink):
    row = webhooks.webhook_ping(actor=world.it, endpoint=world.wiki_hook)
    send_all()
    [request] = http_sink.requests
    document = Webhook(world.wiki_hook.secret).verify(request.body, request.headers)
    assert document["type"] == "ping" and document["project"]["slug"] == "wiki"
    row.refresh_from_db()
    assert row.state == "sent"


# --- managing endpoints -----------------------------------------------------------------------


def test_owners_manage_their_projects_webhooks_and_only_it_staff_a_systems(world, http_sink):
    owner = world.owner.user
    created = webhooks.webhook_endpoint_create(
        actor=owner, project=world.people, url=http_sink.url("/mine")
    )
    assert created.created_by == owner
    with pytest.raises(PermissionDenied):
        webhooks.webhook_endpoint_create(actor=owner, project=world.wiki, url=http_sink.url("/x"))
    with pytest.raises(PermissionDenied):
        webhooks.webhook_endpoint_create(actor=owner, system=world.sso, url=http_sink.url("/x"))
    with pytest.raises(PermissionDenied):
        webhooks.webhook_endpoint_delete(actor=world.wiki_owner.user, endpoint=created)
    webhooks.webhook_endpoint_delete(actor=owner, endpoint=created)
    assert not WebhookEndpoint.objects.filter(pk=created.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://example.com/" + "x" * 600}, "url"),
        ({"url": "https://example.com/x", "events": ["outage.exploded"]}, "events"),
        ({"url": "https://example.com/x", "events": "outage.opened"}, "events"),
    ],
)
def test_bad_endpoint_input_names_the_field_and_writes_nothing(world, fields, field):
    before = WebhookEndpoint.objects.count(), AuditEntry.objects.count()
    with pytest.raises(ValidationError) as caught:
        webhooks.webhook_endpoint_create(actor=world.it, project=world.people, **fields)
    assert field in caught.value.message_dict
    assert (WebhookEndpoint.objects.count(), AuditEntry.objects.count()) == before


def test_the_audit_trail_never_holds_the_secret(world):
    webhooks.webhook_secret_rotate(actor=world.it, endpoint=world.people_hook)
    webhooks.webhook_endpoint_update(
        actor=world.it, endpoint=world.people_hook, description="Team bot"
    )
    entries = AuditEntry.objects.filter(object_type="webhooks.webhookendpoint")
    assert entries.count() == 4 + 2  # four created by the world, then the rotation and the edit
    world.people_hook.refresh_from_db()
    assert not any(world.people_hook.secret in json.dumps(e.changes) for e in entries)
    assert entries.order_by("id").last().changes == {"description": ["", "Team bot"]}


# --- HTTP ------------------------------------------------------------------------------------


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_api_lists_only_the_endpoints_the_caller_manages(world):
    mine = api(world.owner.user).get("/api/v1/webhooks/").json()
    everything = api(world.it).get("/api/v1/webhooks/").json()
    assert [e["project"] for e in mine["results"]] == ["people"]
    assert mine["results"][0]["secret"] == world.people_hook.secret
    assert len(everything["results"]) == 4
    assert (
        api(world.wiki_owner.user).get(f"/api/v1/webhooks/{world.people_hook.pk}/").status_code
        == 404
    )


def test_the_api_creates_edits_and_refuses(world, http_sink):
    client = api(world.owner.user)
    created = client.post(
        "/api/v1/webhooks/",
        {"project": "people", "url": http_sink.url("/new"), "events": ["outage.opened"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["secret"].startswith("whsec_")
    refused = client.post(
        "/api/v1/webhooks/",
        {"project": "wiki", "url": http_sink.url("/new")},
        content_type="application/json",
    )
    assert refused.status_code == 403
    bad = client.post(
        "/api/v1/webhooks/",
        {"project": "people", "url": "javascript:alert(1)", "events": ["nope"]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"events"}  # the serializer names the event first
    bad_url = client.post(
        "/api/v1/webhooks/",
        {"project": "people", "url": "javascript:alert(1)"},
        content_type="application/json",
    )
    assert bad_url.status_code == 400 and "url" in bad_url.json()
    pk = created.json()["id"]
    edited = client.patch(
        f"/api/v1/webhooks/{pk}/", {"is_active": False}, content_type="application/json"
    )
    assert edited.status_code == 200 and edited.json()["is_active"] is False


def test_the_api_delivery_log_redelivery_and_ping(world, http_sink):
    http_sink.plan("/people", [410])
    open_outage(world, world.sso)
    send_all()
    client = api(world.owner.user)
    hook = world.people_hook.pk
    log = client.get(f"/api/v1/webhooks/{hook}/deliveries/").json()
    assert [(d["event_type"], d["state"]) for d in log] == [("outage.opened", "failed")]
    assert log[0]["attempts_log"][0]["status_code"] == 410
    assert log[0]["document"]["outage"]["title"] == "SSO down"

    redelivered = client.post(f"/api/v1/webhooks/{hook}/deliveries/{log[0]['id']}/redeliver/")
    assert redelivered.status_code == 201
    under_way = client.post(
        f"/api/v1/webhooks/{hook}/deliveries/{redelivered.json()['id']}/redeliver/"
    )
    assert under_way.status_code == 409
    assert client.post(f"/api/v1/webhooks/{hook}/ping/").status_code == 201
    other = api(world.wiki_owner.user)
    assert other.post(f"/api/v1/webhooks/{hook}/ping/").status_code == 404


def test_the_pages_for_owners_and_it_staff(world, http_sink):
    owner = api(world.owner.user)
    page = owner.get("/projects/people/webhooks/")
    assert page.status_code == 200
    assert http_sink.url("/people") in page.content.decode()
    assert api(world.wiki_owner.user).get("/projects/people/webhooks/").status_code == 403
    assert owner.get("/systems/sso/webhooks/").status_code == 403
    assert api(world.it).get("/systems/sso/webhooks/").status_code == 200

    added = owner.post(
        "/projects/people/webhooks/",
        {"url": http_sink.url("/chat"), "events": ["outage.opened", "outage.resolved"]},
    )
    endpoint = WebhookEndpoint.objects.get(url=http_sink.url("/chat"))
    assert added.status_code == 302 and added["Location"] == f"/webhooks/{endpoint.pk}/"
    assert endpoint.events == ["outage.opened", "outage.resolved"]
    refused = owner.post("/projects/people/webhooks/", {"url": "not a url"})
    assert refused.status_code == 200
    assert "Enter a valid URL" in refused.content.decode()


def test_the_endpoint_page_shows_the_log_in_a_fixed_number_of_queries(world, http_sink):
    client = api(world.owner.user)
    url = f"/webhooks/{world.people_hook.pk}/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    open_outage(world, world.sso)
    send_all()
    few = queries()
    for n in range(5):
        open_outage(world, world.sso, title=f"Again {n}")
        outage_services.outage_resolve(
            actor=world.it, outage=Outage.objects.get(title=f"Again {n}"), now=NOW
        )
    send_all()
    assert world.people_hook.deliveries.count() == 11
    assert queries() == few

    [row] = world.people_hook.deliveries.filter(subject="outage.resolved")[:1]
    redone = client.post(f"/webhooks/{world.people_hook.pk}/deliveries/{row.pk}/redeliver/")
    assert redone.status_code == 302
    assert world.people_hook.deliveries.filter(redelivery_of=row).count() == 1


# --- where Steward will not send ----------------------------------------------------------------


def test_loopback_metadata_and_private_addresses_are_refused_unless_allowed(
    world, http_sink, settings
):
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = []  # production's default
    for url in (
        http_sink.url("/x"),
        "http://localhost:8000/",
        "http://169.254.169.254/latest/",
        "http://10.1.2.3/hooks",
    ):
        with pytest.raises(ValidationError) as caught:
            webhooks.webhook_endpoint_create(actor=world.it, project=world.people, url=url)
        assert "Steward does not send there" in caught.value.message_dict["url"][0]
    # A private network of the company, opened by the operator.
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["10.1.0.0/16"]
    allowed = webhooks.webhook_endpoint_create(
        actor=world.it, project=world.people, url="http://10.1.2.3/hooks", is_active=False
    )
    assert allowed.pk

    # An endpoint made before the rule: its deliveries fail for good, nothing reaches it.
    open_outage(world, world.sso)
    send_all()
    assert http_sink.requests == []
    row = world.people_hook.deliveries.get()
    assert row.state == "failed"
    assert "127.0.0.1 is a loopback address; Steward does not send there" in row.last_error


def test_the_claim_returns_an_outgoing_webhooks_rows_with_their_endpoint(world):
    from tests.notifications.test_fanout import assert_claimed_as_the_orm_reads_them

    open_outage(world, world.sso)
    rows = Notification.objects.filter(webhook_endpoint__isnull=False, state="pending")
    ids = sorted(rows.values_list("pk", flat=True))
    assert ids
    later = timezone.now() + dt.timedelta(days=1)
    claimed = delivery.notifications_claim(notification_ids=ids, now=later)
    assert [n.pk for n in claimed] == ids
    assert all(n.webhook_endpoint_id for n in claimed)
    assert_claimed_as_the_orm_reads_them(claimed)
