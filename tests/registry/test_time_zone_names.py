"""Only IANA zone names are time zones, at every door a zone comes in by: the profile form, the
people and rotation APIs, the admin (people and rotation layers), the Backstage catalog, the
on-call page's `?tz=` and the browser's zone cookie. `zoneinfo` opens the files below too (they
sit in the zoneinfo folder), so each door must refuse them, not only the names that do not exist.
(The CSV import carries no time zone.)"""

from __future__ import annotations

import zoneinfo

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from imports.backstage.plan import catalog_plan
from oncall.models import RotationLayer
from registry.models import Person
from steward.times import BROWSER_ZONE_COOKIE, is_time_zone, time_zone_names
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory
from tests.oncall.helpers import layer, rotation

pytestmark = pytest.mark.django_db

NOT_ZONES = [
    "localtime",
    "posixrules",
    "Factory",
    "right/UTC",
    "right/Europe/Paris",
    "posix/Europe/Paris",
    "europe/paris",
    "../zoneinfo/UTC",
    "Mars/Olympus",
    "",
]


def test_the_names_are_the_iana_zones_and_nothing_else():
    names = time_zone_names()
    assert {"Asia/Kolkata", "America/Los_Angeles", "Europe/Dublin", "UTC"} <= names
    assert not names & {"localtime", "posixrules", "Factory"}
    assert not [n for n in names if n.startswith(("right/", "posix/"))]
    for name in ("localtime", "posixrules", "right/UTC", "posix/Europe/Paris"):
        zoneinfo.ZoneInfo(name)  # zoneinfo opens them: refusing them is Steward's own rule
        assert not is_time_zone(name)
    # Forms and the API trim what is typed around a name; the rule itself does not.
    assert not is_time_zone(" Europe/Paris") and not is_time_zone("Europe/Paris\n")


@pytest.fixture
def owner():
    project = ProjectFactory(slug="payroll")
    person = PersonFactory(time_zone="Europe/Dublin")
    ProjectRoleFactory(project=project, person=person)
    return person


def _profile_post(time_zone: str) -> dict:
    return {
        "display_name": "Changed",
        "email": "",
        "time_zone": time_zone,
        "hours_mon": "9:00-17:00",
    }


@pytest.mark.parametrize("name", NOT_ZONES)
def test_every_door_refuses_what_is_not_a_zone(name, owner, admin_user):
    client = Client()
    client.force_login(owner.user)
    page = client.post("/me/", _profile_post(name))
    assert page.status_code == 200 and "time_zone" in page.context["form"].errors

    api = APIClient()
    api.force_authenticate(owner.user)
    person = api.patch(f"/api/v1/people/{owner.pk}/", {"time_zone": name}, format="json")
    assert person.status_code == 400 and "time_zone" in person.json()
    layers = api.post(
        "/api/v1/rotations/",
        {
            "name": "Primary",
            "project": "payroll",
            "layers": [
                {
                    "time_zone": name,
                    "start_date": "2025-01-06",
                    "handoff_time": "09:00",
                    "length": "weekly",
                    "members": [owner.pk],
                }
            ],
        },
        format="json",
    )
    assert layers.status_code == 400 and "time_zone" in str(layers.json())

    request = RequestFactory().get("/")
    request.user = admin_user
    person_form = admin.site._registry[Person].get_form(request, owner)(
        instance=owner,
        data={"user": owner.user_id, "display_name": "X", "time_zone": name, "working_hours": "{}"},
    )
    assert not person_form.is_valid() and "time_zone" in person_form.errors
    rot = rotation(owner.project_roles.get().project)
    layer_form = admin.site._registry[RotationLayer].get_form(request)(
        data={
            "rotation": rot.pk,
            "order": 0,
            "time_zone": name,
            "start_date": "2025-01-06",
            "handoff_time": "09:00",
            "length": "weekly",
            "length_count": 1,
            "restrict_days": "[]",
        }
    )
    assert not layer_form.is_valid() and "time_zone" in layer_form.errors

    catalog = (
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: dave\n"
        f"  annotations: {{steward/time-zone: '{name}'}}\nspec:\n  profile: {{email: d@x.org}}\n"
    )
    assert "metadata.annotations.steward/time-zone" in {
        p.field for p in catalog_plan(catalog).problems
    }
    owner.refresh_from_db()
    assert owner.time_zone == "Europe/Dublin" and owner.display_name != "Changed"
    assert not RotationLayer.objects.filter(time_zone=name).exists()


@pytest.mark.parametrize("name", NOT_ZONES)
def test_the_page_and_the_browser_cannot_pick_a_non_zone(name, owner):
    """The on-call page's `?tz=` and the anonymous viewer's zone cookie fall back to the
    viewer's zone (UTC for someone anonymous) instead."""
    rot = rotation(owner.project_roles.get().project)
    layer(rot, [owner])
    client = Client()
    client.force_login(owner.user)
    page = client.get("/projects/payroll/oncall/", {"tz": name})
    assert page.status_code == 200 and page.context["tz_name"] == "Europe/Dublin"

    anonymous = Client()
    anonymous.cookies[BROWSER_ZONE_COOKIE] = name
    status = anonymous.get("/status/")
    assert status.status_code == 200 and status.wsgi_request.time_zone == "UTC"


def test_a_zone_is_taken_at_every_door(owner):
    """The other side of the refusals: the same doors take an IANA name."""
    client = Client()
    client.force_login(owner.user)
    assert client.post("/me/", _profile_post("Asia/Kolkata")).status_code == 302
    owner.refresh_from_db()
    assert owner.time_zone == "Asia/Kolkata"
    anonymous = Client()
    anonymous.cookies[BROWSER_ZONE_COOKIE] = "Australia/Adelaide"
    assert anonymous.get("/status/").wsgi_request.time_zone == "Australia/Adelaide"
