"""Project incidents: the lifecycle through the services and the pages, who may run them, what
subscribers and owners hear, and what bad input gets."""

import re
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident, IncidentUpdate
from incidents.services import incidents as services
from incidents.services.subscriptions import UNSUBSCRIBE_SALT, subscription_from_token
from notifications.models import Notification
from registry.models import AuditEntry, ProjectRole
from steward.errors import Conflict
from tests.factories import (
    ContactMethodFactory,
    IncidentFactory,
    PersonFactory,
    ProjectRoleFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(graph):
    ContactMethodFactory(person=graph.people_owner)
    return graph.people_owner.user


@pytest.fixture
def maintainer(graph):
    person = PersonFactory(display_name="Mo Maintainer")
    ProjectRoleFactory(project=graph.people, person=person, role=ProjectRole.Role.MAINTAINER)
    ContactMethodFactory(person=person)
    return person.user


def messages_for(incident, topic_prefix=""):
    ct = ContentType.objects.get_for_model(Incident)
    return Notification.objects.filter(
        event_type=ct, event_id=incident.pk, topic__startswith=topic_prefix
    )


def test_the_lifecycle_from_open_to_resolved_tells_subscribers_and_the_other_owners(
    graph, owner, maintainer
):
    subscription = SubscriptionFactory(project=graph.people, address="fan@example.org")
    SubscriptionFactory(project=graph.wiki, address="other@example.org")
    t0 = timezone.now()

    incident = services.incident_open(
        actor=owner,
        project=graph.people,
        title="Search is down",
        impact="major",
        message="Searching fails for everyone.",
        now=t0,
    )
    assert incident.status == "investigating" and incident.acknowledged_at is None
    opened = messages_for(incident, "incident.opened")
    # The subscriber by their own address; the maintainer by notice; not the owner who wrote it.
    assert sorted(n.address for n in opened) == sorted(["fan@example.org", maintainer.person.email])
    subjects = {n.address: n.subject for n in opened}
    # The team reads its own title; a subscriber, who may be anyone, the public wording.
    assert subjects[maintainer.person.email] == "Incident: Search is down (People)"
    assert subjects["fan@example.org"] == "Incident: Service disruption (People)"
    assert "other@example.org" not in {n.address for n in Notification.objects.all()}

    update = services.incident_update_post(
        actor=maintainer,
        incident=incident,
        message="Found it: the index is corrupt.",
        status="identified",
        now=t0 + timedelta(minutes=7),
    )
    incident.refresh_from_db()
    assert update.status == "identified" and incident.status == "identified"
    assert incident.acknowledged_at == t0 + timedelta(minutes=7)
    assert messages_for(incident, f"incident.updated.{update.pk}").count() == 2  # fan, owner

    services.incident_update_post(
        actor=owner,
        incident=incident,
        message="Rebuilding.",
        status="monitoring",
        now=t0 + timedelta(minutes=20),
    )
    services.incident_resolve(
        actor=owner, incident=incident, message="Back.", now=t0 + timedelta(minutes=45)
    )
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at == t0 + timedelta(minutes=45)
    # The first update stays the acknowledgement.
    assert incident.acknowledged_at == t0 + timedelta(minutes=7)
    assert [u.status for u in incident.updates.order_by("created_at", "id")] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert {n.address for n in messages_for(incident, "incident.resolved")} == {
        "fan@example.org",
        maintainer.person.email,
    }
    # Every subscriber message carries the unsubscribe link of that subscription, and the link
    # to the incident.
    # (The token carries a timestamp: read it back rather than compare strings.)
    to_fan = messages_for(incident).filter(address="fan@example.org")
    assert to_fan.count() == 4
    for message in to_fan:
        token = re.search(r"/subscriptions/unsubscribe/([^/\s]+)/", message.body).group(1)
        found = subscription_from_token(
            token, salt=UNSUBSCRIBE_SALT, max_age=60, noun="unsubscribe link"
        )
        assert found == subscription
    assert all(n.link.endswith(f"/incidents/{incident.pk}/") for n in to_fan)
    entries = AuditEntry.objects.filter(
        object_type="incidents.incident", object_id=str(incident.pk)
    )
    assert entries.count() == 4  # opened, two updates, resolved
    assert entries.filter(action="create").count() == 1


def test_an_update_to_a_resolved_incident_is_a_conflict_and_writes_nothing(graph, owner):
    incident = services.incident_open(actor=owner, project=graph.people, title="Slow")
    services.incident_resolve(actor=owner, incident=incident)
    before = (IncidentUpdate.objects.count(), Notification.objects.count())

    with pytest.raises(Conflict) as caught:
        services.incident_update_post(actor=owner, incident=incident, message="Still?")
    assert caught.value.code == "incident_resolved"
    assert "resolved" in caught.value.message
    with pytest.raises(Conflict):
        services.incident_resolve(actor=owner, incident=incident)
    assert (IncidentUpdate.objects.count(), Notification.objects.count()) == before


def test_resolving_without_any_update_acknowledges_at_the_resolution(graph, owner):
    t0 = timezone.now()
    incident = services.incident_open(actor=owner, project=graph.people, title="Blip", now=t0)
    services.incident_update_post(
        actor=owner,
        incident=incident,
        message="Fixed",
        status="resolved",
        now=t0 + timedelta(minutes=3),
    )
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.acknowledged_at == incident.resolved_at == t0 + timedelta(minutes=3)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("owner", True), ("maintainer", True), ("it", True), ("backup", False), ("reader", False)],
)
def test_who_may_open_an_incident(graph, owner, maintainer, it_user, reader, who, allowed):
    actor = {
        "owner": owner,
        "maintainer": maintainer,
        "it": it_user,
        "backup": graph.people_backup.user,
        "reader": reader,
    }[who]
    if allowed:
        assert services.incident_open(actor=actor, project=graph.people, title="x").pk
    else:
        with pytest.raises(PermissionDenied):
            services.incident_open(actor=actor, project=graph.people, title="x")
        assert not Incident.objects.exists()


def test_an_owner_of_another_project_may_not_touch_this_ones_incident(graph, owner):
    incident = services.incident_open(actor=owner, project=graph.people, title="Down")
    stranger = graph.wiki_owner.user
    with pytest.raises(PermissionDenied):
        services.incident_update_post(actor=stranger, incident=incident, message="hi")
    with pytest.raises(PermissionDenied):
        services.incident_resolve(actor=stranger, incident=incident)
    with pytest.raises(PermissionDenied):
        services.incident_cause_set(actor=stranger, incident=incident)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "impact": "apocalyptic"}, "impact"),
        ({"title": "ok", "message": "y" * 10001}, "message"),
        ({"title": "ok", "started_at": timezone.now() + timedelta(days=1)}, "started_at"),
        ({"title": "ok", "started_at": timezone.now() - timedelta(days=40)}, "started_at"),
        ({"title": "bad\x00"}, "title"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(graph, owner, kwargs, field):
    with pytest.raises(ValidationError) as caught:
        services.incident_open(actor=owner, project=graph.people, **kwargs)
    assert field in caught.value.message_dict
    assert not Incident.objects.exists() and not Notification.objects.exists()


def test_an_empty_update_or_an_unknown_status_is_refused(graph, owner):
    incident = services.incident_open(actor=owner, project=graph.people, title="Down")
    with pytest.raises(ValidationError) as caught:
        services.incident_update_post(actor=owner, incident=incident, message="  ")
    assert "message" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.incident_update_post(actor=owner, incident=incident, message="m", status="gone")
    assert "status" in caught.value.message_dict


def test_the_cause_is_one_change_or_one_outage(graph, owner, it_user):
    from changes import services as change_services
    from incidents.services import outages as outage_services

    incident = services.incident_open(actor=owner, project=graph.people, title="Login fails")
    outage = outage_services.outage_open(
        actor=it_user,
        title="SSO down",
        systems=[graph.sso],
        started_at=incident.started_at - timedelta(minutes=30),
    )
    change = change_services.change_create(
        actor=it_user,
        title="Patch SSO",
        systems=[graph.sso],
        planned_start_at=incident.started_at - timedelta(hours=2),
        planned_end_at=incident.started_at - timedelta(hours=1),
    )
    with pytest.raises(ValidationError) as caught:
        services.incident_cause_set(actor=owner, incident=incident, change=change, outage=outage)
    assert "cause" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:  # still a draft: it did not happen
        services.incident_cause_set(actor=owner, incident=incident, change=change)
    assert "change" in caught.value.message_dict

    services.incident_cause_set(actor=owner, incident=incident, outage=outage)
    incident.refresh_from_db()
    assert incident.cause_outage == outage and incident.cause_change is None
    services.incident_cause_set(actor=owner, incident=incident)
    incident.refresh_from_db()
    assert incident.cause_outage is None


# --- pages ---------------------------------------------------------------------------------------


def test_an_owner_opens_updates_and_resolves_from_the_pages(client, graph, owner):
    client.force_login(owner)
    page = client.get(f"/projects/{graph.people.slug}/incidents/new/")
    assert page.status_code == 200

    response = client.post(
        f"/projects/{graph.people.slug}/incidents/new/",
        {"title": "<script>alert(1)</script>", "impact": "partial", "message": "Looking"},
    )
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.pk}/"
    body = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert "Post an update" in body

    response = client.post(
        f"/incidents/{incident.pk}/updates/",
        {"status": "identified", "impact": "partial", "message": "Found it"},
    )
    assert response.status_code == 302
    response = client.post(f"/incidents/{incident.pk}/resolve/", {"message": "Fixed"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved"

    late = client.post(
        f"/incidents/{incident.pk}/updates/",
        {"status": "monitoring", "impact": "partial", "message": "More"},
    )
    assert late.status_code == 409
    assert "takes no more updates" in late.content.decode()
    assert incident.updates.count() == 3


def test_the_open_form_shows_errors_inline(client, graph, owner):
    client.force_login(owner)
    response = client.post(
        f"/projects/{graph.people.slug}/incidents/new/", {"title": "", "impact": "major"}
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not Incident.objects.exists()


def test_readers_see_an_incident_but_not_its_forms_and_cannot_post(client, graph, owner, reader):
    incident = IncidentFactory(project=graph.people, title="Slow")
    client.force_login(reader)
    body = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Slow" in body and "Post an update" not in body
    assert client.get(f"/projects/{graph.people.slug}/incidents/new/").status_code == 403
    assert (
        client.post(
            f"/incidents/{incident.pk}/updates/",
            {"message": "x", "status": "identified", "impact": "major"},
        ).status_code
        == 403
    )
    assert client.post(f"/incidents/{incident.pk}/resolve/").status_code == 403
    assert Incident.objects.get().status == "investigating"


def test_anonymous_visitors_see_the_public_part_only_when_status_is_public(client, graph, settings):
    incident = IncidentFactory(project=graph.people, title="Cache bug?", public_summary="Slow")
    settings.STEWARD_STATUS_PUBLIC = True
    body = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Slow" in body and "Suspect changes" not in body
    assert "Cache bug?" not in body  # the internal title
    settings.STEWARD_STATUS_PUBLIC = False
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_incident_page_runs_a_fixed_number_of_queries(client, graph, owner):
    client.force_login(owner)
    small = IncidentFactory(project=graph.people)
    large = IncidentFactory(project=graph.people)
    for i in range(20):
        IncidentUpdate.objects.create(
            incident=large, status="identified", message=f"u{i}", author=owner
        )
    counts = []
    for incident in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/incidents/{incident.pk}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
