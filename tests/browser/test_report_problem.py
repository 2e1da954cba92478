"""A user reports a problem on a project page (htmx, in place): what is already known makes it a
"me too", and the user is offered a subscription instead of a ticket, which one click takes."""

import pytest
from playwright.sync_api import Page, expect

from incidents.models import Subscription
from portal.models import ProblemReport
from tests.browser_support import sign_in
from tests.factories import IncidentFactory, PersonFactory, ProjectFactory, ProjectRoleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(db):
    project = ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectRoleFactory(project=project, person=PersonFactory(display_name="Olga Owner"))
    return project


def test_me_too_report_offers_a_subscription(page: Page, live_server, project) -> None:
    PersonFactory(user__username="una", email="una@example.com")
    IncidentFactory(project=project, title="Payslips show last month")

    sign_in(page, live_server.url, "una")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    page.evaluate("window.__stewardNoReload = true")
    box = page.locator("#report-problem")
    box.locator("textarea[name=description]").fill("My payslip is from October")
    box.get_by_role("button", name="Report the problem").click()

    result = page.locator("#report-problem")
    expect(result).to_contain_text("Thank you")
    expect(result).to_contain_text("Payslips show last month")
    assert page.evaluate("window.__stewardNoReload") is True  # swapped in place
    report = ProblemReport.objects.get()
    assert report.incident is not None

    result.get_by_role("button", name="Email me when it changes").click()

    expect(page.locator("main")).to_contain_text("You follow Zephyr Payroll")
    subscription = Subscription.objects.get(project=project)
    assert subscription.address == "una@example.com"
    assert subscription.confirmed_at is not None


def test_a_first_report_reaches_the_team_and_links_to_following(
    page: Page, live_server, project
) -> None:
    PersonFactory(user__username="una")
    sign_in(page, live_server.url, "una")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    box = page.locator("#report-problem")
    box.locator("textarea[name=description]").fill("The export button does nothing")
    box.get_by_role("button", name="Report the problem").click()

    result = page.locator("#report-problem")
    expect(result).to_contain_text("Your report is with the people who support Zephyr Payroll")
    result.get_by_role("link", name="Follow Zephyr Payroll's status").click()
    expect(page.locator("#subscribe")).to_be_visible()
    assert ProblemReport.objects.get().incident is None


def test_an_empty_report_shows_the_error_in_place(page: Page, live_server, project) -> None:
    PersonFactory(user__username="una")
    sign_in(page, live_server.url, "una")
    page.goto(f"{live_server.url}/projects/{project.slug}/")
    box = page.locator("#report-problem")
    # Past the browser's own `required` check, as a client without it would be.
    box.locator("textarea[name=description]").evaluate("el => el.removeAttribute('required')")
    box.locator("textarea[name=description]").fill("   ")
    box.get_by_role("button", name="Report the problem").click()

    expect(page.locator("#report-problem .errorlist")).to_be_visible()
    assert not ProblemReport.objects.exists()


def test_a_webhook_that_is_not_http_is_refused_in_place(page: Page, live_server, project) -> None:
    PersonFactory(user__username="una")
    sign_in(page, live_server.url, "una")
    page.goto(f"{live_server.url}/projects/{project.slug}/subscribe/")
    form = page.locator("#subscribe")
    form.locator("select[name=channel]").select_option("webhook")
    form.locator("input[name=address]").fill("javascript:alert(1)")
    form.get_by_role("button", name="Subscribe").click()

    expect(page.locator("#subscribe .errorlist")).to_be_visible()
    assert not Subscription.objects.exists()
