"""A reader searches the directory (htmx live search, no page load) and opens a project."""

import re

import pytest
from playwright.sync_api import Page, expect

from registry.models import ProjectAlias
from tests.browser_support import sign_in
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_live_search_narrows_the_list_and_opens_the_project(page: Page, live_server) -> None:
    PersonFactory(user__username="reader")
    owner = PersonFactory(user__username="olga", display_name="Olga Owner")
    payroll = ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectAlias.objects.create(project=payroll, alias="payday")
    ProjectRoleFactory(project=payroll, person=owner)
    ProjectFactory(name="Atlas Wiki", slug="atlas-wiki")

    sign_in(page, live_server.url, "reader")
    page.goto(f"{live_server.url}/")
    results = page.locator("#results")
    expect(results).to_contain_text("Atlas Wiki")
    expect(results).to_contain_text("Zephyr Payroll")
    # Set on this document: still there after the search means no full page load happened.
    page.evaluate("window.__stewardNoReload = true")

    page.locator("#q").press_sequentially("payday")

    expect(results).not_to_contain_text("Atlas Wiki")
    expect(results).to_contain_text("Zephyr Payroll")
    expect(results).to_contain_text("Olga Owner")
    expect(page).to_have_url(re.compile(r"\?q=payday$"))
    assert page.evaluate("window.__stewardNoReload") is True

    page.locator("#results a.title", has_text="Zephyr Payroll").click()

    expect(page).to_have_url(f"{live_server.url}/projects/zephyr-payroll/")
    expect(page.locator("h1")).to_contain_text("Zephyr Payroll")
    expect(page.locator("main")).to_contain_text("Olga Owner")


def test_search_without_javascript_still_works(browser, live_server) -> None:
    """Pages work without JavaScript for reading: the form submits as a plain GET."""
    PersonFactory(user__username="reader")
    ProjectFactory(name="Zephyr Payroll", slug="zephyr-payroll")
    ProjectFactory(name="Atlas Wiki", slug="atlas-wiki")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server.url, "reader")
        page.goto(f"{live_server.url}/")
        page.fill("#q", "zephyr")
        page.click("form.search button[type=submit]")
        expect(page).to_have_url(re.compile(r"\?q=zephyr$"))
        expect(page.locator("#results")).to_contain_text("Zephyr Payroll")
        expect(page.locator("#results")).not_to_contain_text("Atlas Wiki")
    finally:
        context.close()
