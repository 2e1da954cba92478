"""IT systems' own on-call: rotations and escalation policies that belong to an IT system, written
by IT staff only, and who a page for the system reaches."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from oncall import services as oncall_services
from oncall.escalation import system_escalation
from oncall.models import EscalationPolicy, Rotation
from oncall.selectors import system_oncall
from registry.models import ProjectRole
from tests.factories import (
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    TeamFactory,
    it_staff_user,
)
from tests.oncall.helpers import layer, person, utc

pytestmark = pytest.mark.django_db

MONDAY = utc(2025, 1, 6, 12)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def sso():
    return SystemFactory(name="SSO", slug="sso")


@pytest.fixture
def it():
    return it_staff_user(user__username="ivy", display_name="Ivy IT")


def _system_rotation(system, members, *, name="IT on call", **layer_kwargs) -> Rotation:
    rotation = oncall_services.rotation_create(actor=None, name=name, system=system)
    layer(rotation, members, **layer_kwargs)
    return rotation


# --- the model ------------------------------------------------------------------------------------


def test_a_rotation_belongs_to_exactly_one_of_project_team_and_system(sso):
    project, team = ProjectFactory(), TeamFactory()
    for owners in ({"project": project, "system": sso}, {"team": team, "system": sso}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Rotation.objects.create(name="Two owners", **owners)
    assert Rotation.objects.create(name="IT", system=sso).system == sso


def test_a_policy_belongs_to_a_project_or_a_system_never_both(sso):
    with pytest.raises(IntegrityError), transaction.atomic():
        EscalationPolicy.objects.create(project=ProjectFactory(), system=sso)
    with pytest.raises(IntegrityError), transaction.atomic():
        EscalationPolicy.objects.create()
    assert EscalationPolicy.objects.create(system=sso).owner == sso


# --- services: IT staff write a system's on-call, per object --------------------------------------


def test_only_it_staff_create_a_systems_rotation(sso, it):
    owner = person("Olga")
    project = ProjectFactory()
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    with pytest.raises(PermissionDenied):
        oncall_services.rotation_create(actor=owner.user, name="Mine now", system=sso)
    assert not Rotation.objects.filter(system=sso).exists()

    rotation = oncall_services.rotation_create(actor=it, name="IT on call", system=sso)
    with pytest.raises(PermissionDenied):
        oncall_services.rotation_update(actor=owner.user, rotation=rotation, name="Hijacked")
    oncall_services.rotation_update(actor=it, rotation=rotation, name="SSO on call")
    rotation.refresh_from_db()
    assert rotation.name == "SSO on call"


def test_a_rotation_names_one_owner(sso):
    with pytest.raises(ValidationError) as refused:
        oncall_services.rotation_create(
            actor=None, name="Both", project=ProjectFactory(), system=sso
        )
    assert "project" in refused.value.message_dict
    assert not Rotation.objects.exists()


def test_a_systems_policy_pages_its_own_rotations_and_no_owners(sso, it):
    rotation = _system_rotation(sso, [person("Ana")])
    elsewhere = oncall_services.rotation_create(actor=None, name="Other", system=SystemFactory())
    for levels, field_text in (
        ([{"target": "owners"}], "has no owners"),
        ([{"target": "rotation", "rotation": elsewhere}], "is not a rotation of SSO"),
    ):
        with pytest.raises(ValidationError) as refused:
            oncall_services.escalation_policy_create(actor=it, system=sso, levels=levels)
        assert field_text in refused.value.message_dict["levels"][0]
    assert not EscalationPolicy.objects.filter(system=sso).exists()

    policy = oncall_services.escalation_policy_create(
        actor=it,
        system=sso,
        levels=[{"target": "rotation", "rotation": rotation, "delay_minutes": 5}],
    )
    assert policy.system == sso and policy.project is None
    with pytest.raises(ValidationError) as twice:
        oncall_services.escalation_policy_create(
            actor=it, system=sso, levels=[{"target": "it_contacts"}]
        )
    assert "already has an escalation policy" in twice.value.message_dict["system"][0]


def test_an_owner_cannot_write_a_systems_policy(sso):
    owner = person("Olga")
    with pytest.raises(PermissionDenied):
        oncall_services.escalation_policy_create(
            actor=owner.user, system=sso, levels=[{"target": "it_contacts"}]
        )
    policy = oncall_services.escalation_policy_create(
        actor=None, system=sso, levels=[{"target": "it_contacts"}]
    )
    with pytest.raises(PermissionDenied):
        oncall_services.escalation_policy_update(actor=owner.user, policy=policy, repeat_count=0)
    with pytest.raises(PermissionDenied):
        oncall_services.escalation_policy_delete(actor=owner.user, policy=policy)
    assert EscalationPolicy.objects.filter(pk=policy.pk, repeat_count=2).exists()


# --- who is on call, who is paged -----------------------------------------------------------------


def test_who_is_on_call_for_a_system_follows_the_sun(sso):
    dublin = person("Dara", time_zone="Europe/Dublin")
    sydney = person("Sam", time_zone="Australia/Sydney")
    # Dara covers 08:00–20:00 Dublin time, Sam the rest from Sydney (a second, backup layer).
    _system_rotation(
        sso,
        [dublin],
        time_zone="Europe/Dublin",
        length="daily",
        restrict_start=time(8),
        restrict_end=time(20),
    )
    rotation = Rotation.objects.get(system=sso)
    layer(rotation, [sydney], time_zone="Australia/Sydney", length="daily")

    noon = system_oncall(sso, at=MONDAY)  # 12:00 in Dublin
    assert [s.person for s in noon.on_call_now] == [dublin]
    night = system_oncall(sso, at=MONDAY + timedelta(hours=10))  # 22:00 in Dublin
    assert [s.person for s in night.on_call_now] == [sydney]
    assert night.on_call_now[0].local_time.utcoffset() == timedelta(hours=11)


def test_a_system_without_rotations_has_nobody_on_call(sso):
    result = system_oncall(sso, at=MONDAY)
    assert (result.on_call_now, result.has_rotations) == ([], False)


def test_a_systems_page_reaches_its_on_call_then_contacts_then_team(sso):
    on_call, contact, member = person("Ana"), person("Cy"), person("Tia")
    sso.contacts.add(contact)
    sso.team = TeamFactory(is_it=True)
    sso.save()
    sso.team.members.add(member)
    _system_rotation(sso, [on_call])

    escalation = system_escalation(sso, MONDAY)
    assert [people for people, _delay in escalation.levels] == [[on_call], [contact], [member]]


def test_a_systems_policy_decides_who_is_paged(sso, it):
    ana, ben = person("Ana"), person("Ben")
    rotation = _system_rotation(sso, [ana])
    oncall_services.escalation_policy_create(
        actor=it,
        system=sso,
        repeat_count=1,
        levels=[
            {"target": "rotation", "rotation": rotation, "delay_minutes": 3},
            {"target": "person", "person": ben, "delay_minutes": 7},
        ],
    )
    escalation = system_escalation(sso, MONDAY)
    assert escalation.levels == [([ana], timedelta(minutes=3)), ([ben], timedelta(minutes=7))]
    assert escalation.repeats == 1


# --- the API --------------------------------------------------------------------------------------


def test_it_staff_create_a_systems_rotation_and_policy_through_the_api(sso, it):
    ana = person("Ana")
    created = api(it).post(
        "/api/v1/rotations/",
        {
            "name": "SSO on call",
            "system": "sso",
            "layers": [
                {
                    "time_zone": "Europe/Dublin",
                    "start_date": "2025-01-06",
                    "handoff_time": "09:00",
                    "length": "weekly",
                    "members": [ana.pk],
                }
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["system"], created.json()["project"]) == ("sso", None)
    listed = api(it).get("/api/v1/rotations/?system=sso").json()["results"]
    assert [r["id"] for r in listed] == [created.json()["id"]]

    policy = api(it).post(
        "/api/v1/escalation-policies/",
        {"system": "sso", "levels": [{"target": "rotation", "rotation": created.json()["id"]}]},
        format="json",
    )
    assert policy.status_code == 201, policy.content
    assert policy.json()["system"] == "sso"


def test_an_owner_cannot_create_a_systems_rotation_through_the_api(sso):
    owner = person("Olga")
    refused = api(owner.user).post(
        "/api/v1/rotations/", {"name": "Mine", "system": "sso"}, format="json"
    )
    assert refused.status_code == 403
    assert not Rotation.objects.exists()


def test_a_policy_naming_both_a_project_and_a_system_is_refused(sso, it):
    refused = api(it).post(
        "/api/v1/escalation-policies/",
        {
            "system": "sso",
            "project": ProjectFactory(slug="payroll").slug,
            "levels": [{"target": "it_contacts"}],
        },
        format="json",
    )
    assert refused.status_code == 400
    assert "project" in refused.json()
    assert not EscalationPolicy.objects.exists()
