"""Suspect changes: IT changes and outages on the systems a project depends on, transitively, in
the 72 hours before its incident began, ranked by time and dependency distance, with the path.

People ──▶ SSO ──▶ Datacenter Austin;  Wiki ──▶ Database  (see conftest)
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from changes.models import Change, Release
from changes.selectors import systems_reached_by
from incidents.models import Outage
from incidents.status import HOP_WEIGHT, suspects_for
from registry.models import Project
from tests.factories import DependencyFactory, IncidentFactory, SystemFactory

pytestmark = pytest.mark.django_db


def change_on(system, *, start, state=Change.State.COMPLETED, started_at=None, title=None):
    change = Change.objects.create(
        title=title or f"Change on {system.name}",
        planned_start_at=start,
        planned_end_at=start + timedelta(hours=1),
        state=state,
        started_at=started_at,
    )
    change.systems.set([system])
    return change


def outage_on(system, *, start, title=None):
    outage = Outage.objects.create(title=title or f"{system.name} down", started_at=start)
    outage.systems.set([system])
    return outage


def release_of(of, *, at, summary=None):
    kind = "project" if isinstance(of, Project) else "system"
    return Release.objects.create(
        **{kind: of}, summary=summary or f"Release of {of.name}", happened_at=at, via="api"
    )


@pytest.fixture
def incident(graph):
    return IncidentFactory(project=graph.people, started_at=timezone.now())


def test_the_reachable_systems_carry_their_distance_and_path(graph):
    reached = systems_reached_by(graph.people)
    assert {r.path: r.depth for r in reached.values()} == {
        ("SSO",): 1,
        ("SSO", "Datacenter Austin"): 2,
    }


def test_suspects_are_ranked_by_time_and_distance_with_the_path(graph, incident):
    began = incident.started_at
    sso_patch = change_on(graph.sso, start=began - timedelta(hours=10), title="SSO patch")
    dc_power = outage_on(graph.dc, start=began - timedelta(hours=2), title="DC power")
    dc_switch = change_on(graph.dc, start=began - timedelta(hours=5), title="DC switch")
    sso_cert = change_on(graph.sso, start=began - timedelta(minutes=30), title="SSO cert")
    # Not suspects: another project's system, outside the window, after the start, never run.
    change_on(graph.database, start=began - timedelta(hours=1))
    change_on(graph.sso, start=began - timedelta(hours=73))
    outage_on(graph.sso, start=began + timedelta(minutes=10))
    change_on(graph.sso, start=began - timedelta(hours=1), state=Change.State.CANCELLED)
    change_on(graph.sso, start=began - timedelta(hours=1), state=Change.State.DRAFT)

    suspects = suspects_for(incident)

    # Scores: cert 0.5 h; power 2 h + one hop (8 h); patch 10 h; switch 5 h + one hop (11 h).
    assert [s.event for s in suspects] == [sso_cert, dc_power, sso_patch, dc_switch]
    assert [s.kind for s in suspects] == ["change", "outage", "change", "change"]
    assert suspects[1].path_display == "People → SSO → Datacenter Austin"
    assert suspects[0].path_display == "People → SSO"
    assert suspects[1].depth == 2 and suspects[1].score == timedelta(hours=2) + HOP_WEIGHT
    assert suspects[0].hours_before == 0.5


def test_distance_decides_between_events_that_started_together(graph, incident):
    at = incident.started_at - timedelta(hours=3)
    far = outage_on(graph.dc, start=at, title="far")
    near = outage_on(graph.sso, start=at, title="near")
    assert [s.event for s in suspects_for(incident)] == [near, far]


def test_a_hop_weighs_six_hours(graph, incident):
    began = incident.started_at
    # One hop further but 6 h 1 min nearer in time: the far one wins.
    near_system = change_on(graph.sso, start=began - timedelta(hours=7, minutes=1))
    far_system = change_on(graph.dc, start=began - timedelta(minutes=59))
    assert [s.event for s in suspects_for(incident)] == [far_system, near_system]
    # 5 h 59 min nearer is not enough (7 h 01 min against 1 h 02 min + 6 h).
    far_system.started_at = began - timedelta(hours=1, minutes=2)
    far_system.save()
    assert [s.event for s in suspects_for(incident)] == [near_system, far_system]


def test_releases_of_the_project_and_of_its_systems_are_suspects(graph, incident):
    began = incident.started_at
    own = release_of(graph.people, at=began - timedelta(hours=7), summary="People v2")
    sso = release_of(graph.sso, at=began - timedelta(hours=2), summary="SSO 9.1")
    dc = release_of(graph.dc, at=began - timedelta(hours=1), summary="DC firmware")
    change = change_on(graph.sso, start=began - timedelta(hours=2))
    # Not suspects: another project's, another branch's system's, too early, after the start.
    release_of(graph.wiki, at=began - timedelta(hours=1))
    release_of(graph.database, at=began - timedelta(hours=1))
    release_of(graph.people, at=began - timedelta(hours=73))
    release_of(graph.sso, at=began + timedelta(minutes=5))

    suspects = suspects_for(incident)

    # Scores: own 7 h − one hop (1 h); SSO release and change 2 h; DC 1 h + one hop (7 h).
    assert [s.event for s in suspects] == [own, change, sso, dc]
    assert [s.kind for s in suspects] == ["release", "change", "release", "release"]
    assert suspects[0].depth == 0 and suspects[0].system is None
    assert suspects[0].path_display == "People"
    assert suspects[2].system == graph.sso and suspects[2].path_display == "People → SSO"
    assert suspects[3].path_display == "People → SSO → Datacenter Austin"


def test_a_project_without_dependencies_still_suspects_its_own_releases(db):
    incident = IncidentFactory(started_at=timezone.now())
    release = release_of(incident.project, at=incident.started_at - timedelta(hours=1))
    assert [s.event for s in suspects_for(incident)] == [release]


def test_the_incident_page_and_api_list_releases_as_suspects(client, graph, incident, reader):
    release_of(graph.people, at=incident.started_at - timedelta(hours=1), summary="People v9")
    Release.objects.create(
        system=graph.dc,
        summary="Firmware 7",
        url="https://vendor.example.com/fw7",
        happened_at=incident.started_at - timedelta(hours=2),
        via="change_event",
    )
    client.force_login(reader)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Release of People:</strong>" in page and "People v9" in page
    assert "Release of Datacenter Austin:</strong>" in page
    assert '<a href="https://vendor.example.com/fw7" rel="noopener">Firmware 7</a>' in page

    suspects = client.get(f"/api/v1/incidents/{incident.pk}/suspects/").json()
    assert [(s["kind"], s["title"], s["system"], s["depth"]) for s in suspects] == [
        ("release", "People v9", None, 0),
        ("release", "Firmware 7", "dc-austin", 2),
    ]
    assert suspects[1]["url"] == "https://vendor.example.com/fw7"
    assert suspects[1]["path_display"] == "People → SSO → Datacenter Austin"


def test_a_change_counts_from_its_actual_start(graph, incident):
    began = incident.started_at
    # Planned long ago, actually started an hour ago: a suspect, one hour before.
    late = change_on(
        graph.sso,
        start=began - timedelta(days=10),
        started_at=began - timedelta(hours=1),
        state=Change.State.IN_PROGRESS,
    )
    # Planned inside the window but actually started before it: not a suspect.
    change_on(graph.sso, start=began - timedelta(hours=1), started_at=began - timedelta(hours=80))
    suspects = suspects_for(incident)
    assert [s.event for s in suspects] == [late]
    assert suspects[0].started_at == began - timedelta(hours=1)


def test_a_change_on_several_systems_is_placed_on_the_nearest(graph, incident):
    change = change_on(graph.dc, start=incident.started_at - timedelta(hours=1))
    change.systems.add(graph.sso)
    (suspect,) = suspects_for(incident)
    assert suspect.system == graph.sso and suspect.depth == 1


def test_the_named_cause_is_marked(graph, incident):
    outage = outage_on(graph.sso, start=incident.started_at - timedelta(hours=1))
    incident.cause_outage = outage
    incident.save()
    (suspect,) = suspects_for(incident)
    assert suspect.is_cause


def test_a_project_without_dependencies_has_no_suspects(db, django_assert_num_queries):
    incident = IncidentFactory()
    with django_assert_num_queries(2):  # reach, releases of the project itself
        assert suspects_for(incident) == []


def test_suspects_take_a_fixed_number_of_queries(graph, incident, django_assert_num_queries):
    began = incident.started_at
    change_on(graph.sso, start=began - timedelta(hours=1))
    outage_on(graph.sso, start=began - timedelta(hours=2))
    release_of(graph.people, at=began - timedelta(hours=3))
    release_of(graph.sso, at=began - timedelta(hours=4))
    # reach, releases, changes, their systems, outages, their systems
    with django_assert_num_queries(6):
        suspects_for(incident)
    # A deeper graph and many more events: still the same.
    deeper = SystemFactory(name="Power")
    DependencyFactory(source_system=graph.dc, target_system=deeper)
    for i in range(15):
        change_on(graph.dc, start=began - timedelta(hours=i + 1))
        outage_on(deeper, start=began - timedelta(hours=i + 2))
        release_of(deeper, at=began - timedelta(hours=i + 3))
    with django_assert_num_queries(6):
        suspects = suspects_for(incident)
    assert len(suspects) == 49
    assert suspects[-1].path_display == "People → SSO → Datacenter Austin → Power"
    assert suspects[-1].kind == "release"


def test_one_click_names_a_suspect_as_the_cause(client, graph, incident):
    client.force_login(graph.people_owner.user)
    outage = outage_on(graph.dc, start=incident.started_at - timedelta(hours=1))
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "People → SSO → Datacenter Austin" in page
    assert "This is the cause" in page

    response = client.post(
        f"/incidents/{incident.pk}/cause/",
        {"kind": "outage", "event": outage.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="suspects"')  # the fragment, not a page
    assert "Named as the cause" in body
    incident.refresh_from_db()
    assert incident.cause_outage == outage

    # Without htmx: a redirect back to the suspects.
    response = client.post(f"/incidents/{incident.pk}/cause/", {"kind": ""})
    assert response.status_code == 302 and response["Location"].endswith("#suspects")
    incident.refresh_from_db()
    assert incident.cause_outage is None


def test_naming_a_missing_event_or_by_a_reader_is_refused(client, graph, incident, reader):
    client.force_login(graph.people_owner.user)
    response = client.post(
        f"/incidents/{incident.pk}/cause/",
        {"kind": "change", "event": 999999},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400 and "No such IT change" in response.content.decode()
    client.force_login(reader)
    outage = outage_on(graph.dc, start=incident.started_at - timedelta(hours=1))
    assert "This is the cause" not in client.get(f"/incidents/{incident.pk}/").content.decode()
    response = client.post(
        f"/incidents/{incident.pk}/cause/", {"kind": "outage", "event": outage.pk}
    )
    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.cause_outage is None


def test_a_release_is_named_as_the_cause_on_the_page_and_in_the_api(client, graph, incident):
    own = release_of(graph.people, at=incident.started_at - timedelta(hours=1), summary="v7")
    client.force_login(graph.people_owner.user)
    response = client.post(
        f"/incidents/{incident.pk}/cause/",
        {"kind": "release", "event": own.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>Cause:</strong>" in body and "Release of People: v7" in body
    assert "Named as the cause" in body
    incident.refresh_from_db()
    assert incident.cause_release == own
    assert [s.is_cause for s in suspects_for(incident)] == [True]

    api = APIClient()
    api.force_authenticate(graph.people_owner.user)
    sso = release_of(graph.sso, at=incident.started_at - timedelta(hours=2))
    answer = api.post(f"/api/v1/incidents/{incident.pk}/cause/", {"release": sso.pk}, format="json")
    assert answer.status_code == 200
    assert answer.json()["cause_release"] == sso.pk and answer.json()["cause_outage"] is None


def test_another_projects_release_or_several_causes_are_refused(graph, incident):
    wiki = release_of(graph.wiki, at=incident.started_at - timedelta(hours=1))
    change = change_on(graph.sso, start=incident.started_at - timedelta(hours=1))
    own = release_of(graph.people, at=incident.started_at - timedelta(hours=1))
    api = APIClient()
    api.force_authenticate(graph.people_owner.user)
    url = f"/api/v1/incidents/{incident.pk}/cause/"
    refused = api.post(url, {"release": wiki.pk}, format="json")
    assert refused.status_code == 400 and "another project" in refused.json()["release"][0]
    both = api.post(url, {"release": own.pk, "change": change.pk}, format="json")
    assert both.status_code == 400 and "cause" in both.json()
    incident.refresh_from_db()
    assert incident.cause_release is None and incident.cause_change is None
