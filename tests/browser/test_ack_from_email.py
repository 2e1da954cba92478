"""An owner acknowledges a page from the link in the email that a real SMTP server (aiosmtpd)
received from a real Celery worker: the link opens a confirmation page, the button acknowledges."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from incidents.services import outages as it_services
from notifications import services as notification_services
from notifications.models import Page as PageRow
from registry.models import ContactMethod
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


def _link_in_mail_to(smtp_sink, address: str) -> str | None:  # noqa: F811
    for message in smtp_sink.messages:
        if address in str(message["To"]):
            body = message.get_body(preferencelist=("plain",)).get_content()
            found = ACK_LINK.search(body)
            if found:
                return found.group(0)
    return None


def test_owner_acknowledges_the_page_from_the_emailed_link(
    page: Page,
    live_server,
    smtp_sink,  # noqa: F811
    celery_worker,  # noqa: F811
    settings,
) -> None:
    settings.SITE_URL = live_server.url  # the links this process builds, if any
    celery_worker(smtp_port=smtp_sink.port, SITE_URL=live_server.url)
    owner = PersonFactory(display_name="Olga Owner", email="olga@example.com")
    ContactMethodFactory(person=owner, kind=ContactMethod.Kind.EMAIL, address="olga@example.com")
    database = SystemFactory(name="Core database")
    project = ProjectFactory(name="Zephyr Payroll")
    ProjectRoleFactory(project=project, person=owner)
    DependencyFactory(source_project=project, target_system=database)
    it = it_staff_user()

    outage = it_services.outage_open(actor=it, title="Core database down", systems=[database])

    wait_for(
        lambda: _link_in_mail_to(smtp_sink, "olga@example.com") is not None,
        timeout=60,
        while_waiting=lambda: notification_services.sweep(now=timezone.now()),
        message="the page's email with its acknowledge link",
    )
    link = _link_in_mail_to(smtp_sink, "olga@example.com")
    assert link.startswith(live_server.url)
    page_row = PageRow.objects.get(project=project)
    assert page_row.state == "open"

    page.goto(link)  # not signed in: the signed link is the key
    expect(page.locator("h1")).to_contain_text("Acknowledge this page?")
    expect(page.locator("main")).to_contain_text("Zephyr Payroll")
    page_row.refresh_from_db()
    assert page_row.state == "open"  # opening the link (a mail scanner) acknowledges nothing

    page.get_by_role("button", name="Acknowledge").click()

    expect(page.locator("h1")).to_have_text("Acknowledged")
    expect(page.locator("main")).to_contain_text("Olga Owner")
    page_row.refresh_from_db()
    assert (page_row.state, page_row.acknowledged_by) == ("acknowledged", owner)
    assert outage.pk
