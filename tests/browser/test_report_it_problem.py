"""An owner tells IT that SSO fails for their app, from SSO's page in Chromium: a real Celery
worker pages SSO's own on-call through a real SMTP server (aiosmtpd), a second owner's report
joins the problem without paging again (counted at the SMTP sink), and the on-call acknowledges
from the emailed link, which the owner then sees on the system page."""

import re
from datetime import date, time

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from notifications import services as notification_services
from notifications.models import Page as PageRow
from oncall import services as oncall_services
from portal.models import SystemProblem, SystemProblemReport
from registry.models import ContactMethod, ProjectRole
from tests.browser_support import sign_in
from tests.e2e_support import celery_worker, smtp_sink, wait_for  # noqa: F401
from tests.factories import (
    ContactMethodFactory,
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACK_LINK = re.compile(r"https?://\S+/notifications/ack/[^/\s]+/")
IVY = "ivy@example.com"


def _mails_to(smtp_sink, address: str) -> list:  # noqa: F811
    return [m for m in smtp_sink.messages if address in str(m["To"])]


def _ack_link(message) -> str | None:
    found = ACK_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
    return found.group(0) if found else None


def _owner(username: str, project):
    owner = PersonFactory(user__username=username, display_name=username.title())
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    return owner


def _report_from_the_system_page(page: Page, url: str, app: str, text: str) -> None:
    page.goto(f"{url}/systems/sso/")
    expect(page.locator("#oncall-now")).to_contain_text("Ivy IT")
    page.evaluate("window.__stewardNoReload = true")
    form = page.locator("#it-problems form")
    form.locator("select[name=project]").select_option(label=app)
    form.locator("textarea[name=description]").fill(text)
    form.get_by_role("button", name="Tell IT's on-call").click()


def test_an_owner_pages_it_from_the_system_page_and_it_acknowledges(
    page: Page,
    live_server,
    smtp_sink,  # noqa: F811
    celery_worker,  # noqa: F811
    settings,
) -> None:
    settings.SITE_URL = live_server.url
    celery_worker(smtp_port=smtp_sink.port, SITE_URL=live_server.url)
    sso = SystemFactory(name="SSO", slug="sso")
    payroll = ProjectFactory(name="Zephyr Payroll", slug="payroll")
    wiki = ProjectFactory(name="Team Wiki", slug="wiki")
    DependencyFactory(source_project=payroll, target_system=sso)
    DependencyFactory(source_project=wiki, target_system=sso)
    _owner("olga", payroll)
    _owner("walt", wiki)
    ivy = it_staff_user(user__username="ivy", display_name="Ivy IT", email=IVY).person
    ContactMethodFactory(person=ivy, kind=ContactMethod.Kind.EMAIL, address=IVY)
    rotation = oncall_services.rotation_create(actor=None, name="SSO on call", system=sso)
    oncall_services.layer_create(
        actor=None,
        rotation=rotation,
        members=[ivy],
        time_zone="Europe/Dublin",
        start_date=date(2025, 1, 6),
        handoff_time=time(9),
        length="weekly",
    )

    sign_in(page, live_server.url, "olga")
    _report_from_the_system_page(page, live_server.url, "Zephyr Payroll", "Payslips: login loop")
    section = page.locator("#it-problems")
    expect(section).to_contain_text("IT's on-call for SSO is paged")
    expect(section).to_contain_text("Payslips: login loop")
    assert page.evaluate("window.__stewardNoReload") is True  # swapped in place (htmx)

    wait_for(
        lambda: len(_mails_to(smtp_sink, IVY)) == 1,
        timeout=60,
        while_waiting=lambda: notification_services.sweep(now=timezone.now()),
        message="the page's email to SSO's on-call",
    )
    [mail] = _mails_to(smtp_sink, IVY)
    assert "SSO is failing for Zephyr Payroll" in mail["Subject"]

    # A second owner's report joins the open problem: no second page.
    page.context.clear_cookies()
    sign_in(page, live_server.url, "walt")
    _report_from_the_system_page(page, live_server.url, "Team Wiki", "Wiki sign-in fails")
    expect(page.locator("#it-problems")).to_contain_text("joins the open problem (2 reports)")
    assert SystemProblemReport.objects.filter(problem=SystemProblem.objects.get()).count() == 2
    notification_services.sweep(now=timezone.now())
    assert len(_mails_to(smtp_sink, IVY)) == 1
    assert PageRow.objects.count() == 1

    # The on-call acknowledges from the emailed link.
    page.context.clear_cookies()
    link = _ack_link(mail)
    assert link and link.startswith(live_server.url)
    page.goto(link)
    expect(page.locator("h1")).to_contain_text("Acknowledge this page?")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("h1")).to_have_text("Acknowledged")
    page_row = PageRow.objects.get()
    assert (page_row.state, page_row.acknowledged_by) == ("acknowledged", ivy)

    # The owner sees that IT is on it.
    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/systems/sso/")
    expect(page.locator("#it-problems")).to_contain_text("IT acknowledged at")
