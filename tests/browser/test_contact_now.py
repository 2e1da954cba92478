"""A reader pastes an app's address into the directory and finds who to contact now: the backup
on call in Singapore, who is awake, ahead of the owner asleep in Los Angeles. The project page
and the public status page say that the ongoing outage was acknowledged, and when; the public
page names nobody and keeps IT's internal title inside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from incidents.services import outages as outage_services
from notifications.models import Page as PageModel
from notifications.services import page_ack
from registry.models import ProjectRole, ProjectURL
from tests.browser_support import sign_in
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)
from tests.oncall.helpers import ALWAYS, layer, rotation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INTERNAL_TITLE = "ORA-00060 deadlock on RAC node 2"
ACK_AT = datetime(2026, 3, 5, 21, 40, tzinfo=UTC)  # 03:10 on Friday in Kolkata


@pytest.fixture
def oratweet():
    """OraTweet, reached at oratweet.example.com: Noel owns it and never works at this hour;
    Sia, its backup in Singapore, is on call and at work. Its database is down, and Sia has
    acknowledged the page."""
    project = ProjectFactory(name="OraTweet", slug="oratweet")
    ProjectURL(project=project, url="https://oratweet.example.com/").save()
    noel = PersonFactory(display_name="Noel Owner", time_zone="America/Los_Angeles")
    noel.working_hours = {}
    noel.save()
    sia = PersonFactory(display_name="Sia Backup", time_zone="Asia/Singapore", working_hours=ALWAYS)
    ProjectRoleFactory(project=project, person=noel, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=project, person=sia, role=ProjectRole.Role.BACKUP, order=1)
    layer(rotation(project, name="Follow the sun"), [sia])
    database = SystemFactory(name="Oracle cluster", slug="oracle")
    DependencyFactory(source_project=project, target_system=database)
    outage = outage_services.outage_open(
        actor=it_staff_user(display_name="Ivan IT"), title=INTERNAL_TITLE, systems=[database]
    )
    page_ack(
        page=PageModel.objects.get(project=project, event_id=outage.pk),
        person=sia,
        via="web",
        now=ACK_AT,
    )
    return project


def test_reader_finds_who_to_contact_now_and_sees_someone_is_on_it(
    page: Page, browser: Browser, live_server, oratweet
) -> None:
    PersonFactory(user__username="reader", time_zone="Asia/Kolkata")
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server.url, "reader")
    page.goto(f"{live_server.url}/")

    page.locator("#q").fill("https://oratweet.example.com/timeline/42")

    result = page.locator("#results .results > li", has_text="OraTweet")
    expect(result).to_have_count(1)
    contacts = result.locator(".contact-now > li")
    expect(contacts).to_have_count(2)
    expect(contacts.nth(0)).to_contain_text("Sia Backup")
    expect(contacts.nth(0)).to_contain_text("in working hours")
    expect(contacts.nth(0)).to_contain_text("on call now (Follow the sun)")
    expect(contacts.nth(0)).to_contain_text("Asia/Singapore")
    expect(contacts.nth(1)).to_contain_text("Noel Owner")
    expect(contacts.nth(1)).to_contain_text("outside hours")
    # At phone width the list stays inside the screen.
    box = result.locator(".contact-now").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390

    result.locator("a.title").click()

    expect(page).to_have_url(f"{live_server.url}/projects/oratweet/")
    first = page.locator("#contact-now .contact-now > li").first
    expect(first).to_contain_text("Sia Backup")
    banner = page.locator(".status-banner")
    expect(banner).to_contain_text("Someone is on it")
    expect(banner).to_contain_text("acknowledged by Sia Backup")
    expect(banner).to_contain_text("Fri 6 Mar, 03:10 Asia/Kolkata")  # in the reader's zone, named

    anonymous = browser.new_context()
    public = anonymous.new_page()
    public.set_default_timeout(10_000)
    try:
        public.goto(f"{live_server.url}/status/oratweet/")
        article = public.locator("article.outage")
        expect(article).to_contain_text("Someone is on it")
        expect(article).to_contain_text("Thu 5 Mar, 21:40 UTC")
        expect(article).to_contain_text("Service disruption")
        main = public.locator("main")
        expect(main).not_to_contain_text("Sia Backup")
        expect(main).not_to_contain_text(INTERNAL_TITLE)
    finally:
        anonymous.close()
