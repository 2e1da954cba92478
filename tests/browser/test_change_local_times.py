"""IT staff register a change: the impact preview shows each owner's clock at the planned start
in the owner's own zone (named), whatever IT's own zone, and the change is saved at the instant
IT typed in theirs."""

import re
import zoneinfo
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect

from changes.models import Change
from tests.browser_support import sign_in
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DUBLIN = zoneinfo.ZoneInfo("Europe/Dublin")
# Typed by IT in Dublin: 15:00 on Wed 10 Mar 2027 (GMT there; Los Angeles is already on PDT
# from the 14th, so still PST: 07:00; Kolkata, +05:30: 20:30).
PLANNED = datetime(2027, 3, 10, 15, 0, tzinfo=DUBLIN)


def test_it_registers_a_change_and_sees_each_owners_own_clock(page: Page, live_server) -> None:
    it_staff_user(user__username="ines", display_name="Ines IT", time_zone="Europe/Dublin")
    sso = SystemFactory(name="SSO", slug="sso")
    owners = {
        "Lena LA": "America/Los_Angeles",
        "Ravi Kolkata": "Asia/Kolkata",
        "Ada Adelaide": "Australia/Adelaide",
    }
    for name, zone in owners.items():
        project = ProjectFactory(name=f"{name.split()[0]}'s app")
        ProjectRoleFactory(project=project, person=PersonFactory(display_name=name, time_zone=zone))
        DependencyFactory(source_project=project, target_system=sso)

    sign_in(page, live_server.url, "ines")
    page.goto(f"{live_server.url}/it/changes/new/")
    page.fill("#id_title", "SSO certificate rotation")
    page.fill("#id_planned_start_at", PLANNED.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_planned_end_at", PLANNED.replace(hour=16).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("#id_systems", label="SSO")

    preview = page.locator("#impact-preview")
    expect(preview.locator(".impact-summary")).to_contain_text("3 projects")
    for name, zone in owners.items():
        there = PLANNED.astimezone(zoneinfo.ZoneInfo(zone))
        owner = preview.locator(".owner", has_text=name)
        expect(owner).to_contain_text(f"{there:%a %H:%M} {zone}")
    # Checked against zoneinfo above; the three clocks, spelled out, for whoever reads this:
    expect(preview).to_contain_text("Wed 07:00 America/Los_Angeles")
    expect(preview).to_contain_text("Wed 20:30 Asia/Kolkata")
    expect(preview).to_contain_text("Thu 01:30 Australia/Adelaide")

    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/it/changes/\d+/$"))
    change = Change.objects.get()
    assert change.planned_start_at == PLANNED  # the instant IT meant, in IT's zone
