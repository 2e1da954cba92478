"""Outages through their services, against PostgreSQL (and who may write changes and outages):
the impact snapshot, pages, dedup keys, the timeline, resolution."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from changes import services as change_services
from changes.models import Change
from incidents.models import Outage
from incidents.services import outages as outage_services
from steward.errors import Conflict
from tests.changes.notified import notice_recipients, notification_count, paged_projects

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday
START = NOW + timedelta(days=2)
END = START + timedelta(hours=2)


def draft(it_user, systems, **fields):
    return change_services.change_create(
        actor=it_user,
        title=fields.pop("title", "Patch SSO"),
        planned_start_at=fields.pop("planned_start_at", START),
        planned_end_at=fields.pop("planned_end_at", END),
        systems=systems,
        **fields,
    )


def test_only_it_staff_write_changes_and_outages(graph, it_user):
    owner = graph.people_owner.user
    with pytest.raises(PermissionDenied):
        draft(owner, [graph.dc])
    change = draft(it_user, [graph.dc])
    for write in (
        change_services.change_schedule,
        change_services.change_cancel,
        change_services.change_start,
    ):
        with pytest.raises(PermissionDenied):
            write(actor=owner, change=change)
    with pytest.raises(PermissionDenied):
        outage_services.outage_open(actor=owner, title="Down", systems=[graph.dc])
    change.refresh_from_db()
    assert change.state == Change.State.DRAFT
    assert not Outage.objects.exists()


# --- changes: transitions ------------------------------------------------------------------------


def test_opening_an_outage_snapshots_impact_and_pages_each_touched_project_at_once(graph, it_user):
    outage = outage_services.outage_open(
        actor=it_user, title="DC power", systems=[graph.dc], severity="sev1", now=NOW
    )

    assert outage.status == Outage.Status.INVESTIGATING
    assert set(outage.impacted.values_list("project__slug", flat=True)) == {"people", "connect"}
    assert paged_projects(outage) == {graph.people.pk, graph.connect.pk}
    assert [u.message for u in outage.updates.all()] == ["Outage opened."]


def test_an_outage_needs_systems_and_a_known_severity_and_nothing_is_paged(graph, it_user):
    with pytest.raises(ValidationError) as exc:
        outage_services.outage_open(actor=it_user, title="Down", systems=[])
    assert "systems" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        outage_services.outage_open(
            actor=it_user, title="Down", systems=[graph.dc], severity="sev9"
        )
    assert "severity" in exc.value.message_dict
    assert not Outage.objects.exists()
    assert notification_count() == 0


def test_an_open_outage_owns_its_dedup_key_until_resolved(graph, it_user):
    first = outage_services.outage_open(
        actor=it_user, title="A", systems=[graph.sso], dedup_key="k1"
    )
    with pytest.raises(Conflict):
        outage_services.outage_open(actor=it_user, title="B", systems=[graph.sso], dedup_key="k1")
    outage_services.outage_resolve(actor=it_user, outage=first)
    outage_services.outage_open(actor=it_user, title="C", systems=[graph.sso], dedup_key="k1")
    assert Outage.objects.count() == 2


def test_updates_make_a_timeline_and_notify_owners_each_time(graph, it_user):
    outage = outage_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], now=NOW
    )
    first = outage_services.outage_update(
        actor=it_user, outage=outage, status="identified", message="Cert expired", now=NOW
    )
    second = outage_services.outage_update(
        actor=it_user, outage=outage, message="Renewing", now=NOW + timedelta(minutes=5)
    )

    outage.refresh_from_db()
    assert outage.status == Outage.Status.IDENTIFIED
    assert [u.status for u in outage.updates.all()] == ["investigating", "identified", "identified"]
    assert notice_recipients(outage, f"outage.updated.{first.pk}") == {graph.people_owner.pk}
    assert notice_recipients(outage, f"outage.updated.{second.pk}") == {graph.people_owner.pk}


def test_resolving_stops_pages_tells_owners_and_cannot_happen_twice(graph, it_user):
    outage = outage_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], now=NOW
    )
    outage_services.outage_resolve(
        actor=it_user, outage=outage, message="Back", now=NOW + timedelta(hours=1)
    )
    outage.refresh_from_db()
    assert (outage.status, outage.resolved_at) == ("resolved", NOW + timedelta(hours=1))
    assert notice_recipients(outage, "outage.resolved") == {graph.people_owner.pk}
    sent = notification_count()

    with pytest.raises(Conflict, match="A resolved outage cannot be resolved."):
        outage_services.outage_resolve(actor=it_user, outage=outage)
    with pytest.raises(Conflict, match="A resolved outage cannot be updated."):
        outage_services.outage_update(actor=it_user, outage=outage, message="More")
    assert notification_count() == sent
    assert outage.updates.count() == 2
