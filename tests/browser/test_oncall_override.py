"""An owner adds an override on the on-call schedule page: the form posts with htmx, the schedule
swaps in place with the override listed, and the override is stored."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from oncall import services as oncall_services
from oncall.models import Override
from tests.browser_support import sign_in
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_adds_an_override_with_htmx(page: Page, live_server) -> None:
    owner = PersonFactory(user__username="olga", display_name="Olga Owner", time_zone="UTC")
    backup = PersonFactory(display_name="Bob Backup", time_zone="UTC")
    project = ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectRoleFactory(project=project, person=owner)
    ProjectRoleFactory(project=project, person=backup, role="backup")
    rotation = oncall_services.rotation_create(actor=None, name="Primary", project=project)
    oncall_services.layer_create(
        actor=None,
        rotation=rotation,
        members=[owner],
        time_zone="UTC",
        start_date=dt.date(2024, 1, 1),
        handoff_time=dt.time(9, 0),
        length="weekly",
    )
    start = (timezone.now() + dt.timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(hours=8)

    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/projects/{project.slug}/oncall/?tz=UTC")
    schedule = page.locator("#oncall-schedule")
    expect(schedule).to_contain_text("Primary")
    page.evaluate("window.__stewardNoReload = true")

    form = page.locator("#oncall-schedule form[hx-post$='/oncall/overrides/?tz=UTC']")
    form.locator("select[name=rotation]").select_option(label="Primary")
    form.locator("select[name=person]").select_option(label="Bob Backup (UTC)")
    form.locator("input[name=start_at]").fill(start.strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=end_at]").fill(end.strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=reason]").fill("Olga at the dentist")
    form.get_by_role("button", name="Add override").click()

    expect(page.locator("#oncall-schedule")).to_contain_text("Olga at the dentist")
    expect(page.locator("#oncall-schedule")).to_contain_text("Bob Backup")
    assert page.evaluate("window.__stewardNoReload") is True
    override = Override.objects.get()
    assert (override.person, override.start_at, override.end_at) == (backup, start, end)


def test_an_override_that_ends_before_it_starts_is_refused_in_place(
    page: Page, live_server
) -> None:
    owner = PersonFactory(user__username="olga", display_name="Olga Owner", time_zone="UTC")
    project = ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectRoleFactory(project=project, person=owner)
    oncall_services.rotation_create(actor=None, name="Primary", project=project)
    start = timezone.now() + dt.timedelta(days=2)

    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/projects/{project.slug}/oncall/?tz=UTC")
    form = page.locator("#oncall-schedule form[hx-post$='/oncall/overrides/?tz=UTC']")
    form.locator("select[name=person]").select_option(label="Olga Owner (UTC)")
    form.locator("input[name=start_at]").fill(start.strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=end_at]").fill(
        (start - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    )
    form.get_by_role("button", name="Add override").click()

    expect(page.locator("#oncall-schedule .errorlist")).to_be_visible()
    assert not Override.objects.exists()
