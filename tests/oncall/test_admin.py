"""The on-call admin applies the on-call services' checks and the per-object rights."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from oncall.models import EscalationPolicy, Override, Rotation, RotationMember
from registry.models import ProjectRole
from tests.factories import (
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    UserFactory,
    it_staff_user,
)
from tests.oncall.helpers import layer, rotation, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _override_form(rot, person, start, end) -> dict[str, str]:
    return {
        "rotation": str(rot.pk),
        "person": str(person.pk),
        "covered": "",
        "start_at_0": start.strftime("%Y-%m-%d"),
        "start_at_1": start.strftime("%H:%M:%S"),
        "end_at_0": end.strftime("%Y-%m-%d"),
        "end_at_1": end.strftime("%H:%M:%S"),
        "reason": "holiday",
    }


def test_an_overlapping_override_is_refused_in_the_admin(admin_client, settings):
    settings.TIME_ZONE = "UTC"
    rot = rotation()
    ana, ben = PersonFactory(), PersonFactory()
    layer(rot, [ana])
    Override.objects.create(
        rotation=rot, person=ana, start_at=utc(2026, 1, 1, 0), end_at=utc(2026, 1, 2, 0)
    )

    response = admin_client.post(
        reverse("admin:oncall_override_add"),
        _override_form(rot, ben, utc(2026, 1, 1, 12), utc(2026, 1, 3, 0)),
    )

    assert response.status_code == 200
    assert "This overlaps the override where" in response.content.decode()
    assert Override.objects.count() == 1


def test_an_override_that_fits_is_saved_from_the_admin(admin_client, settings):
    settings.TIME_ZONE = "UTC"
    rot = rotation()
    ana = PersonFactory()
    layer(rot, [ana])

    response = admin_client.post(
        reverse("admin:oncall_override_add"),
        _override_form(rot, ana, utc(2026, 2, 1, 0), utc(2026, 2, 2, 0)),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Override.objects.get().reason == "holiday"


def _level_formset(levels: list[dict[str, str]]) -> dict[str, str]:
    data = {
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": "0",
        "levels-MIN_NUM_FORMS": "1",
        "levels-MAX_NUM_FORMS": "1000",
    }
    for i, level in enumerate(levels):
        for name, value in level.items():
            data[f"levels-{i}-{name}"] = value
    return data


def test_a_policy_whose_levels_all_wait_zero_minutes_is_refused(admin_client):
    project = ProjectFactory()
    data = {"project": str(project.pk), "repeat_count": "2"}
    data |= _level_formset(
        [
            {"order": "0", "target": "owners", "delay_minutes": "0"},
            {"order": "1", "target": "backups", "delay_minutes": "0"},
        ]
    )

    response = admin_client.post(reverse("admin:oncall_escalationpolicy_add"), data)

    assert response.status_code == 200
    assert "the policy would loop through its levels at once" in response.content.decode()
    assert not EscalationPolicy.objects.exists()


def test_a_layer_left_without_members_is_refused(admin_client):
    rot = rotation()
    ana = PersonFactory()
    lay = layer(rot, [ana])
    membership = RotationMember.objects.get(layer=lay)
    data = {
        "rotation": str(rot.pk),
        "order": "0",
        "name": "",
        "time_zone": "UTC",
        "start_date": "2025-01-06",
        "handoff_time": "09:00:00",
        "length": "weekly",
        "length_count": "1",
        "restrict_start": "",
        "restrict_end": "",
        "restrict_days": "[]",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "1",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(membership.pk),
        "memberships-0-layer": str(lay.pk),
        "memberships-0-person": str(ana.pk),
        "memberships-0-order": "0",
        "memberships-0-DELETE": "on",
    }

    response = admin_client.post(reverse("admin:oncall_rotationlayer_change", args=[lay.pk]), data)

    assert response.status_code == 200
    assert RotationMember.objects.filter(layer=lay).exists()


def _rename(client, rot, name: str):
    return client.post(
        reverse("admin:oncall_rotation_change", args=[rot.pk]),
        {
            "name": name,
            "project": str(rot.project_id),
            "team": "",
            "layers-TOTAL_FORMS": "0",
            "layers-INITIAL_FORMS": "0",
            "layers-MIN_NUM_FORMS": "0",
            "layers-MAX_NUM_FORMS": "1000",
        },
    )


def test_staff_who_do_not_own_the_project_cannot_change_its_rotation(client):
    rot = rotation()
    rotation_rights = Permission.objects.filter(codename__endswith="_rotation")
    stranger = UserFactory(is_staff=True)
    stranger.user_permissions.add(*rotation_rights)
    client.force_login(stranger)

    assert _rename(client, rot, "Hijacked").status_code == 403
    rot.refresh_from_db()
    assert rot.name == "Primary"

    owner = PersonFactory(user__is_staff=True)
    owner.user.user_permissions.add(*rotation_rights)
    ProjectRoleFactory(project=rot.project, person=owner, role=ProjectRole.Role.OWNER)
    client.force_login(owner.user)
    assert _rename(client, rot, "Day shift").status_code == 302
    rot.refresh_from_db()
    assert rot.name == "Day shift"


def _add_system_rotation(client, system):
    return client.post(
        reverse("admin:oncall_rotation_add"),
        {
            "name": "Taken over",
            "project": "",
            "team": "",
            "system": str(system.pk),
            "layers-TOTAL_FORMS": "0",
            "layers-INITIAL_FORMS": "0",
            "layers-MIN_NUM_FORMS": "0",
            "layers-MAX_NUM_FORMS": "1000",
        },
    )


def test_only_it_staff_add_an_it_systems_rotation_in_the_admin(client):
    system = SystemFactory(name="SSO")
    rotation_rights = Permission.objects.filter(codename__endswith="_rotation")
    owner = PersonFactory(user__is_staff=True)
    owner.user.user_permissions.add(*rotation_rights)
    client.force_login(owner.user)

    assert _add_system_rotation(client, system).status_code == 403
    assert not Rotation.objects.filter(system=system).exists()

    it = it_staff_user(user__is_staff=True)
    it.user_permissions.add(*rotation_rights)
    client.force_login(it)
    assert _add_system_rotation(client, system).status_code == 302
    assert Rotation.objects.get(system=system).name == "Taken over"
