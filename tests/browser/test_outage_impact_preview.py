"""IT staff open an outage: picking the system shows its impact (htmx) before anything is sent,
then opening it leads to the outage's page."""

import re

import pytest
from playwright.sync_api import Page, expect

from incidents.models import Outage
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


def test_picking_a_system_previews_the_impact_then_the_outage_opens(
    page: Page, live_server
) -> None:
    it_staff_user(user__username="ines", display_name="Ines IT")
    database = SystemFactory(name="Core database", slug="core-db")
    SystemFactory(name="Printers", slug="printers")
    owner = PersonFactory(display_name="Olga Owner")
    for name in ("Zephyr Payroll", "Atlas Wiki"):
        project = ProjectFactory(name=name)
        ProjectRoleFactory(project=project, person=owner)
        DependencyFactory(source_project=project, target_system=database)

    sign_in(page, live_server.url, "ines")
    page.goto(f"{live_server.url}/it/outages/new/")
    preview = page.locator("#impact-preview")
    expect(preview).to_contain_text("Pick the affected IT systems")

    page.fill("#id_title", "Core database down")
    page.select_option("#id_systems", label="Core database")

    expect(preview.locator(".impact-summary")).to_contain_text("2 projects")
    expect(preview).to_contain_text("Zephyr Payroll")
    expect(preview).to_contain_text("Atlas Wiki")
    expect(preview).to_contain_text("Olga Owner")
    assert not Outage.objects.exists()  # a preview writes nothing

    page.select_option("#id_systems", label="Printers")
    expect(preview).to_contain_text("No project depends on Printers")

    page.select_option("#id_systems", label="Core database")
    expect(preview.locator(".impact-summary")).to_contain_text("2 projects")
    page.get_by_role("button", name="Open and page").click()

    expect(page).to_have_url(re.compile(r"/it/outages/\d+/$"))
    expect(page.locator("h1")).to_contain_text("Core database down")
    outage = Outage.objects.get()
    assert page.url.endswith(f"/it/outages/{outage.pk}/")
    expect(page.locator("main")).to_contain_text("Zephyr Payroll")
