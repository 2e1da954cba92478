"""rotations/, rotations/{id}/oncall/?at=, overrides, escalation-policies/, support/; escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from rest_framework.test import APIClient

from oncall import services as oncall_services
from oncall.escalation import escalation_levels, escalation_repeats
from oncall.models import EscalationPolicy, Rotation, RotationLayer
from registry.models import ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory, SystemFactory, TeamFactory
from tests.oncall.helpers import layer, person, rotation, utc

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def owned():
    project = ProjectFactory(slug="payroll")
    owner = person("Owner")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    return project, owner


LAYER = {
    "time_zone": "Europe/Berlin",
    "start_date": "2025-01-06",
    "handoff_time": "09:00",
    "length": "weekly",
}


def test_create_a_rotation_with_layers_and_ask_who_is_on_call(owned):
    project, owner = owned
    ann, bob = person("Ann"), person("Bob")
    response = api(owner.user).post(
        "/api/v1/rotations/",
        {
            "name": "Primary",
            "project": "payroll",
            "layers": [{**LAYER, "members": [ann.pk, bob.pk]}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["layers"][0]["members"] == [ann.pk, bob.pk]
    rid = body["id"]
    at = api(owner.user).get(
        f"/api/v1/rotations/{rid}/oncall/", {"at": "2025-01-14T12:00:00+01:00"}
    )
    assert at.status_code == 200
    assert at.json()["on_call"]["name"] == "Bob"
    assert at.json()["next"]["name"] == "Ann"
    assert at.json()["next"]["start"] == "2025-01-20T08:00:00Z"
    before = api(owner.user).get(f"/api/v1/rotations/{rid}/oncall/", {"at": "2024-12-01T00:00:00Z"})
    assert before.json()["on_call"] is None
    bad = api(owner.user).get(f"/api/v1/rotations/{rid}/oncall/", {"at": "tomorrow"})
    assert bad.status_code == 400 and "at" in bad.json()


@pytest.mark.parametrize(
    "layer_change, field",
    [
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"members": []}, "members"),
        ({"restrict_start": "09:00", "restrict_end": "09:00"}, "restrict_end"),
    ],
)
def test_bad_layers_are_a_400_naming_the_field_and_nothing_is_saved(owned, layer_change, field):
    project, owner = owned
    spec = {**LAYER, "members": [person("Ann").pk], **layer_change}
    response = api(owner.user).post(
        "/api/v1/rotations/",
        {"name": "Primary", "project": "payroll", "layers": [spec]},
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Rotation.objects.exists() and not RotationLayer.objects.exists()


def test_overrides_through_the_api_and_their_errors(owned):
    project, owner = owned
    ann, sub = person("Ann"), person("Sub")
    rot = rotation(project)
    layer(rot, [ann])
    client = api(owner.user)
    url = f"/api/v1/rotations/{rot.pk}/overrides/"
    ok = client.post(
        url, {"person": sub.pk, "start_at": "2030-01-01T00:00Z", "end_at": "2030-01-02T00:00Z"}
    )
    assert ok.status_code == 201
    overlap = client.post(
        url, {"person": ann.pk, "start_at": "2030-01-01T12:00Z", "end_at": "2030-01-03T00:00Z"}
    )
    assert overlap.status_code == 400 and "start_at" in overlap.json()
    backwards = client.post(
        url, {"person": ann.pk, "start_at": "2030-02-02T00:00Z", "end_at": "2030-02-01T00:00Z"}
    )
    assert backwards.status_code == 400 and "end_at" in backwards.json()
    assert (
        client.get(f"/api/v1/rotations/{rot.pk}/oncall/", {"at": "2030-01-01T06:00Z"}).json()[
            "on_call"
        ]["name"]
        == "Sub"
    )
    gone = client.delete(f"/api/v1/rotations/{rot.pk}/overrides/{ok.json()['id']}/")
    assert gone.status_code == 204


def test_readers_cannot_write_rotations_or_policies(owned):
    project, owner = owned
    reader = person("Reader")
    rot = rotation(project)
    client = api(reader.user)
    assert client.post("/api/v1/rotations/", {"name": "X", "project": "payroll"}).status_code == 403
    assert client.patch(f"/api/v1/rotations/{rot.pk}/", {"name": "Y"}).status_code == 403
    assert (
        client.post(
            f"/api/v1/rotations/{rot.pk}/overrides/",
            {"person": reader.pk, "start_at": "2030-01-01T00:00Z", "end_at": "2030-01-02T00:00Z"},
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/escalation-policies/",
            {"project": "payroll", "levels": [{"target": "owners", "delay_minutes": 5}]},
            format="json",
        ).status_code
        == 403
    )
    assert client.get("/api/v1/rotations/").status_code == 200


def test_policy_with_a_zero_length_loop_is_refused(owned):
    project, owner = owned
    response = api(owner.user).post(
        "/api/v1/escalation-policies/",
        {
            "project": "payroll",
            "levels": [
                {"target": "owners", "delay_minutes": 0},
                {"target": "backups", "delay_minutes": 0},
            ],
        },
        format="json",
    )
    assert response.status_code == 400 and "levels" in response.json()
    assert not EscalationPolicy.objects.exists()


def test_policy_levels_resolve_at_the_moment_asked(owned):
    project, owner = owned
    ann, bob, boss = person("Ann"), person("Bob"), person("Boss")
    backup = person("Backup")
    ProjectRoleFactory(project=project, person=backup, role=ProjectRole.Role.BACKUP, order=1)
    team = TeamFactory()
    team.members.set([boss])
    rot = rotation(project)
    layer(rot, [ann, bob], length=RotationLayer.Length.DAILY)
    system = SystemFactory()
    contact = person("Contact")
    system.contacts.add(contact)
    response = api(owner.user).post(
        "/api/v1/escalation-policies/",
        {
            "project": "payroll",
            "repeat_count": 1,
            "levels": [
                {"target": "rotation", "rotation": rot.pk, "delay_minutes": 5},
                {"target": "backups", "delay_minutes": 15},
                {"target": "team", "team": team.pk, "delay_minutes": 30},
                {"target": "it_contacts", "delay_minutes": 0},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    levels = escalation_levels(project, [system], utc(2025, 1, 7, 12))
    assert [([p.display_name for p in people], delay) for people, delay in levels] == [
        (["Bob"], timedelta(minutes=5)),
        (["Backup"], timedelta(minutes=15)),
        (["Boss"], timedelta(minutes=30)),
        (["Contact"], timedelta(0)),
    ]
    assert escalation_levels(project, [system], utc(2025, 1, 8, 12))[0][0] == [ann]
    assert escalation_repeats(project) == 1
    # A rotation target must be one of the project's own rotations.
    foreign = rotation(ProjectFactory(), name="Foreign")
    policy = EscalationPolicy.objects.get()
    change = api(owner.user).patch(
        f"/api/v1/escalation-policies/{policy.pk}/",
        {"levels": [{"target": "rotation", "rotation": foreign.pk, "delay_minutes": 5}]},
        format="json",
    )
    assert change.status_code == 400 and "levels" in change.json()
    assert policy.levels.count() == 4


def test_default_escalation_is_on_call_then_owners_then_backups_then_it_contacts(owned):
    project, owner = owned
    ann = person("Ann")
    rot = rotation(project)
    layer(rot, [ann])
    levels = escalation_levels(project, [], utc(2025, 2, 1))
    assert [[p.display_name for p in people] for people, _ in levels] == [
        ["Ann"],
        ["Owner"],
        [],
        [],
    ]
    without = escalation_levels(ProjectFactory(), [], utc(2025, 2, 1))
    assert without[0][0] == []


def test_support_endpoint_names_on_call_now_and_next(owned):
    project, owner = owned
    ann, bob = person("Ann", time_zone="Asia/Kolkata"), person("Bob", time_zone="America/New_York")
    rot = rotation(project)
    layer(rot, [ann, bob], length=RotationLayer.Length.DAILY)
    body = api(owner.user).get("/api/v1/projects/payroll/support/").json()
    assert len(body["on_call_now"]) == 1 and len(body["on_call_next"]) == 1
    names = {body["on_call_now"][0]["name"], body["on_call_next"][0]["name"]}
    assert names == {"Ann", "Bob"}
    offsets = {"Ann": ("+05:30",), "Bob": ("-05:00", "-04:00")}
    for supporter in body["on_call_now"] + body["on_call_next"]:
        assert supporter["local_time"].endswith(offsets[supporter["name"]])
    [now], [upcoming] = body["on_call_now"], body["on_call_next"]
    assert now["rotation"] == upcoming["rotation"] == "Primary"
    assert now["shift_start"] is None and now["shift_end"] == upcoming["shift_start"]
    start = datetime.fromisoformat(upcoming["shift_start"])
    assert datetime.fromisoformat(upcoming["shift_end"]) - start == timedelta(days=1)
    assert (start.hour, start.minute) == (9, 0)  # the layer's handoff time, in UTC


def test_every_supporter_role_the_support_api_writes_is_in_its_published_schema(owned):
    """Clients generated from /api/schema/ refuse a role the schema does not list."""
    project, owner = owned
    rot = rotation(project)
    layer(rot, [person("Ann"), person("Bob")], length=RotationLayer.Length.DAILY)
    client = api(owner.user)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    listed = set(schema["components"]["schemas"]["SupporterRoleEnum"]["enum"])

    body = client.get("/api/v1/projects/payroll/support/").json()

    lists = ("owners", "maintainers", "backups", "on_call_now", "on_call_next")
    written = {s["role"] for key in lists for s in body[key]}
    assert {"owner", "on_call", "on_call_next"} <= written
    assert written <= listed, written - listed


def test_team_rotation_is_written_by_team_members(owned):
    project, owner = owned
    team = TeamFactory()
    member = person("Member")
    team.members.set([member])
    created = api(member.user).post("/api/v1/rotations/", {"name": "Team", "team": team.slug})
    assert created.status_code == 201
    outsider = api(person("Outsider").user).post(
        "/api/v1/rotations/", {"name": "Team 2", "team": team.slug}
    )
    assert outsider.status_code == 403
    assert oncall_services.can_edit_rotation(member.user, Rotation.objects.get())
