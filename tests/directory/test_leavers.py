"""Leavers (issue 15): deactivating someone orphans the projects they were the last active owner
of, tells IT once, takes them off every rotation from that moment (the next member covers, and
a rotation nobody can cover is flagged with its gap), and deletes nothing. Coming back restores
nothing silently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from directory import services
from notifications.models import Notification
from oncall.coverage import uncovered_ranges
from oncall.models import RotationLayer
from oncall.schedule import oncall_at, rotation_shifts
from registry.models import AuditEntry, Person, Project, ProjectRole
from tests.factories import (
    ContactMethodFactory,
    ProjectFactory,
    ProjectRoleFactory,
    TeamFactory,
    it_staff_user,
)
from tests.oncall.helpers import fresh, layer, person, rotation, utc

pytestmark = pytest.mark.django_db

DAILY = RotationLayer.Length.DAILY
NOW = utc(2025, 2, 3, 12)  # a Monday


@pytest.fixture
def world():
    """Ann is the only owner of Wiki; Bob maintains it. Wiki's "Primary" rotation takes turns
    between Ann and Bob, day by day; its "Nights" rotation is Ann's alone."""
    it = it_staff_user(user__username="ita", display_name="Ita")
    ContactMethodFactory(person=it.person)
    ann, bob = person("Ann"), person("Bob")
    for someone in (ann, bob):
        ContactMethodFactory(person=someone)
    wiki = ProjectFactory(name="Wiki", slug="wiki", team=TeamFactory())
    ProjectRoleFactory(project=wiki, person=ann, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=wiki, person=bob, role=ProjectRole.Role.MAINTAINER)
    primary = rotation(wiki, name="Primary")
    layer(primary, [ann, bob], length=DAILY)
    nights = rotation(wiki, name="Nights")
    layer(nights, [ann], length=DAILY)
    # Carol co-owns Blog with Ann: Blog keeps an active owner.
    carol = person("Carol")
    blog = ProjectFactory(name="Blog", slug="blog")
    ProjectRoleFactory(project=blog, person=ann, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=blog, person=carol, role=ProjectRole.Role.OWNER)
    return {"it": it, "ann": ann, "bob": bob, "wiki": wiki, "blog": blog, "primary": primary,
            "nights": nights}  # fmt: skip


def _topics(prefix: str) -> list[tuple[str, int]]:
    return sorted(
        Notification.objects.filter(topic__startswith=prefix).values_list("topic", "recipient_id")
    )


def test_the_only_owner_leaving_orphans_the_project_tells_it_once_and_frees_the_rotations(
    world, client
):
    ann, bob, it = world["ann"], world["bob"], world["it"]
    # Before: Ann is on call on Primary on even days, and always on Nights.
    assert {s.person.pk for s in rotation_shifts(fresh(world["primary"]), NOW, NOW + timedelta(days=4))} == {ann.pk, bob.pk}  # fmt: skip

    orphaned = services.person_deactivate(actor=it, person=ann, source=services.Source.IT, now=NOW)

    assert [p.slug for p in orphaned] == ["wiki"]
    ann.refresh_from_db()
    ann.user.refresh_from_db()
    assert ann.deactivated_at == NOW and not ann.user.is_active
    wiki, blog = Project.objects.get(slug="wiki"), Project.objects.get(slug="blog")
    assert wiki.orphaned_at == NOW and blog.orphaned_at is None
    # Nothing is deleted: Ann is still Wiki's owner on record, and the history names her.
    assert ProjectRole.objects.filter(project=wiki, person=ann, role="owner").exists()
    entry = AuditEntry.objects.filter(object_type="registry.person", object_id=str(ann.pk)).first()
    assert entry.changes["is_active"] == [True, False] and entry.changes["source"][1] == "it"
    # IT staff are told once, through the delivery pipeline; a second deactivation (a repeated
    # SCIM PATCH, the next LDAP sync) writes nothing and tells nobody again.
    told = _topics("project.orphaned.")
    assert [recipient for _topic, recipient in told] == [it.person.pk]
    assert services.person_deactivate(actor=None, person=ann, source="scim", now=NOW) == []
    assert _topics("project.orphaned.") == told

    # From that moment the rotations skip her: Bob covers every Primary shift...
    week = rotation_shifts(fresh(world["primary"]), NOW, NOW + timedelta(days=7))
    assert {s.person.pk for s in week} == {bob.pk}
    assert oncall_at(fresh(world["primary"]), NOW + timedelta(days=2)).person == bob
    # ...and nobody can cover Nights: the gap is flagged to the rotation's owners (Bob).
    assert uncovered_ranges([fresh(world["nights"])], NOW, NOW + timedelta(days=14)) == [
        (NOW, NOW + timedelta(days=14))
    ]
    gaps = Notification.objects.filter(topic__startswith="rotation.gap.")
    assert {n.recipient_id for n in gaps} == {bob.pk}
    assert all("Nights" in n.subject for n in gaps)
    # Before she left, her shifts stand as they were.
    assert oncall_at(fresh(world["nights"]), NOW - timedelta(hours=1)).person == ann

    # Orphaned on the directory, the project page (with Adopt) and the API.
    client.force_login(bob.user)
    assert "Orphaned" in client.get("/?q=wiki").content.decode()
    page = client.get("/projects/wiki/").content.decode()
    assert "Orphaned" in page and "/projects/wiki/adopt/" in page
    api = APIClient()
    api.force_authenticate(bob.user)
    body = api.get("/api/v1/projects/wiki/").json()
    assert body["orphaned"] is True and body["orphaned_at"]
    assert api.get("/api/v1/projects/blog/").json()["orphaned"] is False
    # And in the registry's part of /healthz (news for IT, not a 503).
    assert client.get("/healthz").json()["registry"] == {"status": "ok", "orphaned_projects": 1}
    # Her sessions and sign-in stop: the account is inactive.
    client.force_login(ann.user)
    assert client.get("/me/").status_code == 302


def test_coming_back_restores_nothing_silently_and_adopting_clears_orphaned(world):
    ann, bob, it = world["ann"], world["bob"], world["it"]
    team = world["wiki"].team
    team.members.add(ann)
    services.person_deactivate(actor=it, person=ann, source="it", now=NOW)
    team.members.remove(ann)  # while she was away (the identity provider's groups)

    later = NOW + timedelta(days=3)
    services.person_reactivate(actor=it, person=ann, source="it", now=later)

    ann.refresh_from_db()
    ann.user.refresh_from_db()
    assert ann.deactivated_at is None and ann.user.is_active
    # Not handed back: the project stays orphaned, the team she was removed from stays so.
    assert Project.objects.get(slug="wiki").orphaned_at == NOW
    assert not team.members.filter(pk=ann.pk).exists()
    # Back on the rotations from now, and their owners (she is one again) are told so.
    returned = Notification.objects.filter(topic__startswith="rotation.returned.")
    assert {n.recipient_id for n in returned} == {ann.pk, bob.pk}

    # Someone outside the project's team and roles may not adopt it.
    stranger = person("Stranger")
    with pytest.raises(PermissionDenied):
        services.project_adopt(actor=stranger.user, project=world["wiki"])
    # IT adopts it: IT's person is an owner, and it is no longer orphaned.
    services.project_adopt(actor=it, project=world["wiki"])
    wiki = Project.objects.get(slug="wiki")
    assert wiki.orphaned_at is None
    assert ProjectRole.objects.filter(project=wiki, person=it.person, role="owner").exists()


def test_only_it_staff_mark_people_as_left_over_the_api_and_the_page(world, client):
    ann, bob, it = world["ann"], world["bob"], world["it"]
    api = APIClient()
    api.force_authenticate(bob.user)
    assert api.post(f"/api/v1/people/{ann.pk}/deactivate/").status_code == 403
    assert Person.objects.get(pk=ann.pk).deactivated_at is None
    client.force_login(bob.user)
    assert client.post(f"/directory/people/{ann.pk}/deactivate/").status_code == 403
    assert client.get("/directory/people/").status_code == 403

    api.force_authenticate(it)
    answer = api.post(f"/api/v1/people/{ann.pk}/deactivate/")
    assert answer.status_code == 200 and answer.json()["active"] is False
    assert api.post(f"/api/v1/people/{it.person.pk}/deactivate/").status_code == 400
    answer = api.post(f"/api/v1/people/{ann.pk}/reactivate/")
    assert answer.status_code == 200 and answer.json()["active"] is True
    # The maintainer adopts over the API.
    api.force_authenticate(bob.user)
    services.person_deactivate(actor=it, person=ann, source="it")
    answer = api.post("/api/v1/projects/wiki/adopt/")
    assert answer.status_code == 200 and answer.json()["orphaned"] is False
    assert api.post("/api/v1/projects/wiki/adopt/").status_code == 400  # not orphaned now


def test_the_people_page_has_a_fixed_number_of_queries(
    world, client, django_assert_max_num_queries
):
    client.force_login(world["it"])
    services.person_deactivate(actor=world["it"], person=world["ann"], source="it", now=NOW)
    client.get("/directory/people/")
    for n in range(30):
        person(f"Extra{n}")
    with django_assert_max_num_queries(9):
        page = client.get("/directory/people/")
    html = page.content.decode()
    assert page.status_code == 200 and "Wiki" in html and "Reactivate" in html


def test_the_admin_action_goes_through_the_leaver_service(world, admin_client):
    ann = world["ann"]
    response = admin_client.post(
        "/admin/registry/person/",
        {"action": "mark_as_left", "_selected_action": [ann.pk]},
    )
    assert response.status_code == 302
    ann.refresh_from_db()
    assert ann.deactivated_at is not None
    assert Project.objects.get(slug="wiki").orphaned_at is not None


def test_a_leaver_is_neither_listed_as_support_nor_paged(world):
    """They keep their role on Blog for the record; who supports Blog, who to contact and who
    an outage pages are the people still here."""
    from oncall.escalation import escalation_levels, escalation_many
    from oncall.selectors import support_for

    services.person_deactivate(actor=world["it"], person=world["ann"], source="it")
    blog = Project.objects.prefetch_related("roles__person").get(slug="blog")
    assert ProjectRole.objects.filter(project=blog, person=world["ann"]).exists()

    support = support_for(blog, at=NOW, with_on_call=False)
    assert [s.person.display_name for s in support.supporters] == ["Carol"]
    levels = escalation_levels(blog, None, NOW)
    assert "Ann" not in {p.display_name for people, _delay in levels for p in people}
    many = escalation_many([blog], NOW, it_contacts=[])[blog.pk].levels
    assert "Ann" not in {p.display_name for people, _delay in many for p in people}


def test_the_team_lead_is_asked_to_adopt_and_its_members_when_it_has_no_lead_here(world):
    team = world["wiki"].team
    lead, member = person("Lea"), person("Max")
    team.members.add(lead, member)
    assert set(services.adopters_from_team(world["wiki"])) == {lead, member}
    team.leads.add(lead)
    assert list(services.adopters_from_team(world["wiki"])) == [lead]
    services.person_deactivate(actor=world["it"], person=lead, source="it")
    assert list(services.adopters_from_team(world["wiki"])) == [member]
