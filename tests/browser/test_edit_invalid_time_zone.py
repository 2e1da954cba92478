"""An owner types an invalid time zone (their own, shown as the local time on their project's
page) and an invalid runbook address on their project: each form shows the error inline under the
field, keeps what was typed, and saves nothing."""

import pytest
from playwright.sync_api import Page, expect

from registry.models import Person, Project
from tests.browser_support import sign_in
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner_and_project(db):
    owner = PersonFactory(
        user__username="olga", display_name="Olga Owner", time_zone="Europe/Paris"
    )
    project = ProjectFactory(
        name="Zephyr Payroll", slug="zephyr-payroll", description="Pays people"
    )
    ProjectRoleFactory(project=project, person=owner)
    return owner, project


def test_invalid_time_zone_is_refused_inline_and_nothing_is_saved(
    page: Page, live_server, owner_and_project
) -> None:
    owner, _project = owner_and_project
    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/me/")

    page.fill("#id_display_name", "Olga Renamed")
    page.fill("#id_time_zone", "Mars/Olympus_Mons")
    page.locator("main form.stacked button[type=submit]").first.click()

    errors = page.locator("#id_time_zone_errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("Mars/Olympus_Mons")
    expect(page.locator("#id_time_zone")).to_have_value("Mars/Olympus_Mons")
    owner = Person.objects.get(pk=owner.pk)
    assert (owner.time_zone, owner.display_name) == ("Europe/Paris", "Olga Owner")


def test_invalid_project_url_is_refused_inline_and_nothing_is_saved(
    page: Page, live_server, owner_and_project
) -> None:
    _owner, project = owner_and_project
    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/projects/{project.slug}/edit/")

    page.fill("#id_description", "Changed")
    page.fill("#id_runbook_url", "javascript:alert(1)")
    page.locator("main form button[type=submit]").click()

    errors = page.locator("#id_runbook_url_errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("valid URL")
    expect(page.locator("h1")).to_contain_text("Edit Zephyr Payroll")
    project = Project.objects.get(pk=project.pk)
    assert (project.description, project.runbook_url) == ("Pays people", "")
