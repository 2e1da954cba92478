"""The rotation and escalation editors: forms over the same services as the API, errors beside
their fields and nothing half-written, a preview computed from the unsaved form, and fixed query
counts."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from oncall.models import EscalationPolicy, Rotation, RotationLayer
from registry.models import AuditEntry, ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory, it_staff_user
from tests.oncall.helpers import layer, person, rotation

pytestmark = pytest.mark.django_db

NEW = "/projects/payroll/oncall/rotations/new/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team():
    project = ProjectFactory(slug="payroll", name="Payroll")
    owner = person("Owner", time_zone="Europe/Dublin")
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    people = {
        name: person(name, time_zone=zone)
        for name, zone in (
            ("Aoife", "Europe/Dublin"),
            ("Brian", "Europe/Dublin"),
            ("Wei", "Asia/Singapore"),
            ("Siti", "Asia/Singapore"),
        )
    }
    for p in people.values():
        ProjectRoleFactory(project=project, person=p, role=ProjectRole.Role.BACKUP)
    return project, owner, people


def _layer(i: int, tz: str, members, **extra) -> dict:
    data = {
        f"layer-{i}-name": "",
        f"layer-{i}-time_zone": tz,
        f"layer-{i}-start_date": "2026-01-05",
        f"layer-{i}-handoff_time": "08:00",
        f"layer-{i}-length": "daily",
        f"layer-{i}-length_count": "1",
        f"layer-{i}-restrict_start": "08:00",
        f"layer-{i}-restrict_end": "20:00",
        f"layer-{i}-members": [str(m.pk) for m in members] + [""],
    }
    data.update({f"layer-{i}-{k}": v for k, v in extra.items()})
    return data


def _follow_the_sun(people, action: str = "save", **layer2) -> dict:
    return {
        "name": "Follow the sun",
        "layer": "2",
        "action": action,
        **_layer(0, "Europe/Dublin", [people["Aoife"], people["Brian"]]),
        **_layer(1, "Asia/Singapore", [people["Wei"], people["Siti"]], **layer2),
    }


def test_owner_builds_a_two_layer_rotation(team):
    project, owner, people = team
    response = client_for(owner.user).post(NEW, _follow_the_sun(people), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/projects/payroll/oncall/"
    rot = Rotation.objects.get(project=project)
    layers = list(rot.layers.order_by("order"))
    assert [(lay.time_zone, lay.restrict_start, lay.restrict_end) for lay in layers] == [
        ("Europe/Dublin", time(8), time(20)),
        ("Asia/Singapore", time(8), time(20)),
    ]
    assert [m.person.display_name for m in layers[1].memberships.order_by("order")] == [
        "Wei",
        "Siti",
    ]
    assert AuditEntry.objects.filter(object_type="oncall.rotationlayer").count() == 2


def test_bad_layers_show_errors_beside_their_fields_and_nothing_is_saved(team):
    project, owner, people = team
    data = _follow_the_sun(people, time_zone="Europe/Atlantis", restrict_end="")
    data["layer-0-members"] = [""]
    response = client_for(owner.user).post(NEW, data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400
    assert html.startswith('<div id="rotation-editor">')
    assert 'id="id_layer-1-time_zone_errors"' in html
    assert 'id="id_layer-1-restrict_end_errors"' in html
    assert "needs both a start and an end" in html
    assert 'id="id_layer-0-members_errors"' in html and "at least one member" in html
    assert not Rotation.objects.exists() and not RotationLayer.objects.exists()


def test_a_failing_save_writes_nothing(team, monkeypatch):
    """The service writes the rotation and its layers in one transaction: a layer refused at the
    last moment (here: a member deleted meanwhile) leaves no rotation behind."""
    project, owner, people = team
    from oncall import services

    real = services.layer_create

    def second_layer_fails(**kwargs):
        if kwargs.get("order") == 1:
            raise services.ValidationError({"members": "Someone left."})
        return real(**kwargs)

    monkeypatch.setattr(services, "layer_create", second_layer_fails)
    response = client_for(owner.user).post(NEW, _follow_the_sun(people), HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "Someone left." in response.content.decode()
    assert not Rotation.objects.exists() and not RotationLayer.objects.exists()


def test_preview_shows_the_unsaved_rotation_and_saves_nothing(team):
    project, owner, people = team
    response = client_for(owner.user).post(
        NEW + "?tz=Europe/Dublin", _follow_the_sun(people, action="preview"), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Preview, not saved yet" in html
    assert html.count('class="track"') == 14
    assert 'table class="coverage"' in html
    assert "Aoife" in html and "Wei" in html and "Asia/Singapore" in html
    # Dublin 08:00-20:00 then Singapore 08:00-20:00 (00:00-12:00 UTC): 20:00-24:00 is a gap.
    assert 'class="uncovered"' in html and 'class="covered"' in html
    assert not Rotation.objects.exists()


def test_add_and_remove_layers_keep_what_was_typed(team):
    project, owner, people = team
    client = client_for(owner.user)
    data = {"name": "Primary", "layer": "1", "action": "add-layer"}
    data.update(_layer(0, "Europe/Dublin", [people["Aoife"]]))
    html = client.post(NEW, data, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="layer" value="2"' in html
    assert 'name="layer-0-time_zone" value="Europe/Dublin"' in html and "Remove layer 2" in html
    assert f'<option value="{people["Aoife"].pk}" selected>' in html
    data = {"name": "Primary", "layer": "2", "action": "remove-layer:0"}
    data.update(_layer(0, "Europe/Dublin", [people["Aoife"]]))
    data.update(_layer(1, "Asia/Singapore", [people["Wei"]]))
    html = client.post(NEW, data, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="layer" value="1"' in html
    assert 'name="layer-0-time_zone" value="Asia/Singapore"' in html
    assert "layer-1-time_zone" not in html
    assert not Rotation.objects.exists()


def test_editing_replaces_the_layers(team):
    project, owner, people = team
    rot = rotation(project, name="Primary")
    layer(rot, [people["Aoife"]], start_date=date(2026, 1, 5))
    url = f"/projects/payroll/oncall/rotations/{rot.pk}/"
    html = client_for(owner.user).get(url).content.decode()
    assert 'value="Primary"' in html and f'<option value="{people["Aoife"].pk}" selected>' in html
    response = client_for(owner.user).post(url, _follow_the_sun(people))
    assert response.status_code == 302
    rot.refresh_from_db()
    assert rot.name == "Follow the sun" and rot.layers.count() == 2


def test_readers_cannot_open_or_post_the_editors_and_it_staff_can(team):
    project, owner, people = team
    reader = client_for(person("Reader").user)
    assert reader.get(NEW).status_code == 403
    assert reader.post(NEW, _follow_the_sun(people)).status_code == 403
    assert reader.get("/projects/payroll/oncall/escalation/").status_code == 403
    assert not Rotation.objects.exists()
    it = client_for(it_staff_user(user__username="it"))
    assert it.post(NEW, _follow_the_sun(people)).status_code == 302
    assert Rotation.objects.filter(project=project).count() == 1


def test_someone_elses_rotation_is_not_editable_through_this_project(team):
    project, owner, people = team
    foreign = rotation(ProjectFactory(slug="other"), name="Theirs")
    url = f"/projects/payroll/oncall/rotations/{foreign.pk}/"
    assert client_for(owner.user).get(url).status_code == 404


def test_the_project_page_offers_set_up_to_its_owner(team):
    project, owner, people = team
    html = client_for(owner.user).get("/projects/payroll/").content.decode()
    assert NEW in html
    html = client_for(owner.user).get("/projects/payroll/oncall/").content.decode()
    assert "Set up a rotation" in html and "Set up escalation" in html
    reader_html = client_for(person("Reader").user).get("/projects/payroll/oncall/").content
    assert b"Set up a rotation" not in reader_html


# --- escalation ---------------------------------------------------------------------------------

POLICY = "/projects/payroll/oncall/escalation/"


def _levels(*levels: dict, repeat: str = "2", action: str = "save") -> dict:
    data = {"level": str(len(levels)), "repeat_count": repeat, "action": action}
    for i, level in enumerate(levels):
        data.update({f"level-{i}-{k}": v for k, v in level.items()})
    return data


def test_owner_sets_up_and_edits_an_escalation_policy(team):
    project, owner, people = team
    rot = rotation(project, name="Primary")
    layer(rot, [people["Aoife"]])
    client = client_for(owner.user)
    response = client.post(
        POLICY,
        _levels(
            {"target": "rotation", "rotation": str(rot.pk), "delay_minutes": "5"},
            # A person chosen under a non-person target is ignored, not refused.
            {"target": "owners", "person": str(people["Wei"].pk), "delay_minutes": "15"},
            repeat="1",
        ),
    )
    assert response.status_code == 302
    policy = EscalationPolicy.objects.get(project=project)
    assert policy.repeat_count == 1
    assert [
        (lv.target, lv.rotation_id, lv.person_id, lv.delay_minutes) for lv in policy.levels.all()
    ] == [
        ("rotation", rot.pk, None, 5),
        ("owners", None, None, 15),
    ]
    html = client.get(POLICY).content.decode()
    assert f'<option value="{rot.pk}" selected>' in html
    response = client.post(POLICY, _levels({"target": "owners", "delay_minutes": "10"}))
    assert response.status_code == 302
    assert [lv.target for lv in policy.levels.all()] == ["owners"]


def test_bad_levels_show_errors_beside_their_fields_and_nothing_is_saved(team):
    project, owner, people = team
    client = client_for(owner.user)
    response = client.post(
        POLICY,
        _levels(
            {"target": "rotation", "rotation": "", "delay_minutes": "5"},
            {"target": "person", "delay_minutes": "99999"},
            repeat="11",
        ),
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_level-0-rotation_errors"' in html and "names a rotation" in html
    assert 'id="id_level-1-delay_minutes_errors"' in html
    assert 'id="id_repeat_count_errors"' in html
    response = client.post(POLICY, _levels({"target": "owners", "delay_minutes": "0"}))
    assert response.status_code == 400
    assert "would loop through its levels at once" in response.content.decode()
    assert not EscalationPolicy.objects.exists()


# --- query counts -------------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_editors_keep_a_fixed_number_of_queries(team):
    project, owner, people = team
    rot = rotation(project, name="Primary")
    layer(rot, [people["Aoife"]])
    client = client_for(owner.user)
    client.post(POLICY, _levels({"target": "owners", "delay_minutes": "5"}))
    url = f"/projects/payroll/oncall/rotations/{rot.pk}/"
    small = (_queries(client, url), _queries(client, NEW), _queries(client, POLICY))
    layer(rot, [people["Wei"], people["Siti"], person("Extra")], restrict_days=["sat"])
    layer(rot, [people["Brian"], people["Aoife"]])
    rotation(project, name="Second")
    client.post(
        POLICY,
        _levels(
            {"target": "rotation", "rotation": str(rot.pk), "delay_minutes": "5"},
            {"target": "person", "person": str(people["Wei"].pk), "delay_minutes": "5"},
        ),
    )
    assert (_queries(client, url), _queries(client, NEW), _queries(client, POLICY)) == small
