"""An owner sets up a follow-the-sun rotation and an escalation policy entirely in the UI: two
layers (Dublin 08:00-20:00, then Singapore 08:00-20:00), previewed from the unsaved form, then
saved. A member then asks another to take a shift; the other accepts, and the schedule shows the
swap."""

import pytest
from playwright.sync_api import Browser, Page, expect

from oncall.models import EscalationPolicy, Override, Rotation, ShiftSwap
from tests.browser_support import sign_in
from tests.factories import PersonFactory, ProjectFactory, ProjectRoleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fill_layer(page: Page, i: int, zone: str, members: list[str]) -> None:
    layer = page.locator(f"#layer-{i}")
    layer.locator(f"input[name='layer-{i}-time_zone']").fill(zone)
    layer.locator(f"input[name='layer-{i}-handoff_time']").fill("08:00")
    layer.locator(f"select[name='layer-{i}-length']").select_option("daily")
    layer.locator(f"input[name='layer-{i}-restrict_start']").fill("08:00")
    layer.locator(f"input[name='layer-{i}-restrict_end']").fill("20:00")
    for n, member in enumerate(members):
        slot = page.locator(f"#layer-{i} select[name='layer-{i}-members']").nth(n)
        slot.select_option(label=member)
        # One more empty place comes back with the re-rendered form.
        page.locator(f"#layer-{i}").get_by_role("button", name="Add member").click()
        expect(page.locator(f"#layer-{i} select[name='layer-{i}-members']")).to_have_count(n + 2)


def test_owner_sets_up_follow_the_sun_and_members_swap_a_shift(
    page: Page, browser: Browser, live_server
) -> None:
    owner = PersonFactory(
        user__username="olga", display_name="Olga Owner", time_zone="Europe/Dublin"
    )
    project = ProjectFactory(name="Atlas Billing", slug="atlas")
    ProjectRoleFactory(project=project, person=owner)
    for username, name, zone in (
        ("aoife", "Aoife", "Europe/Dublin"),
        ("brian", "Brian", "Europe/Dublin"),
        ("wei", "Wei", "Asia/Singapore"),
        ("siti", "Siti", "Asia/Singapore"),
    ):
        member = PersonFactory(user__username=username, display_name=name, time_zone=zone)
        ProjectRoleFactory(project=project, person=member, role="backup")

    sign_in(page, live_server.url, "olga")
    page.goto(f"{live_server.url}/projects/atlas/")
    page.get_by_role("link", name="Set up on-call").click()
    expect(page.locator("h1")).to_contain_text("New rotation")
    page.evaluate("window.__stewardNoReload = true")

    page.fill("input[name=name]", "Follow the sun")
    _fill_layer(page, 0, "Europe/Dublin", ["Aoife (Europe/Dublin)", "Brian (Europe/Dublin)"])
    page.get_by_role("button", name="Add a layer").click()
    expect(page.locator("#layer-1")).to_be_visible()
    _fill_layer(page, 1, "Asia/Singapore", ["Wei (Asia/Singapore)", "Siti (Asia/Singapore)"])

    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#rotation-preview")
    expect(preview).to_contain_text("not saved yet")
    expect(preview.locator(".timeline .track")).to_have_count(14)
    expect(preview).to_contain_text("Wei")
    expect(preview).to_contain_text("Aoife")
    expect(preview.locator("table.coverage td.uncovered").first).to_be_attached()
    assert page.evaluate("window.__stewardNoReload") is True  # all of it through htmx
    assert not Rotation.objects.exists()

    page.get_by_role("button", name="Save rotation").click()
    page.wait_for_url(f"{live_server.url}/projects/atlas/oncall/")
    expect(page.locator("#oncall-schedule")).to_contain_text("Follow the sun")
    rotation = Rotation.objects.get(project=project)
    assert [
        (layer.time_zone, [m.person.display_name for m in layer.memberships.order_by("order")])
        for layer in rotation.layers.order_by("order")
    ] == [("Europe/Dublin", ["Aoife", "Brian"]), ("Asia/Singapore", ["Wei", "Siti"])]

    page.get_by_role("link", name="Set up escalation").click()
    level = page.locator("#level-0")
    level.locator("select[name='level-0-target']").select_option("rotation")
    level.locator("select[name='level-0-rotation']").select_option(label="Follow the sun")
    level.locator("input[name='level-0-delay_minutes']").fill("5")
    page.get_by_role("button", name="Add a level").click()
    expect(page.locator("#level-1")).to_be_visible()
    page.locator("select[name='level-1-target']").select_option("owners")
    page.get_by_role("button", name="Save escalation").click()
    page.wait_for_url(f"{live_server.url}/projects/atlas/oncall/")
    expect(page.locator("#escalation-heading + ol")).to_contain_text("Follow the sun, then 5 min")
    levels = EscalationPolicy.objects.get(project=project).levels.order_by("order")
    assert [(lv.target, lv.rotation_id) for lv in levels] == [
        ("rotation", rotation.pk),
        ("owners", None),
    ]

    # Aoife asks Brian to take her first shift in the list.
    aoife = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="UTC"
    ).new_page()
    sign_in(aoife, live_server.url, "aoife")
    aoife.goto(f"{live_server.url}/projects/atlas/oncall/?tz=UTC")
    ask = aoife.locator("form.take:has(button:text('Ask to take it'))").first
    ask.locator("select[name=recipient]").select_option(label="Brian (Europe/Dublin)")
    ask.get_by_role("button", name="Ask to take it").click()
    expect(aoife.locator("#swap-requests")).to_contain_text("Aoife asks Brian")
    swap = ShiftSwap.objects.get()
    assert swap.status == ShiftSwap.Status.PENDING

    brian = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="UTC"
    ).new_page()
    sign_in(brian, live_server.url, "brian")
    brian.goto(f"{live_server.url}/projects/atlas/oncall/?tz=UTC")
    expect(brian.locator("#swap-requests")).to_contain_text("Aoife asks Brian")
    brian.locator("#swap-requests").get_by_role("button", name="Accept").click()
    expect(brian.locator("#swap-requests")).to_contain_text("Accepted")
    expect(brian.locator("#oncall-schedule")).to_contain_text("Brian covers Aoife")
    start = swap.start_at.strftime("%a %-d %b %Y, %H:%M")  # as the schedule writes it
    row = brian.locator(
        "#oncall-schedule table.small tr", has=brian.locator("td:nth-child(2)", has_text=start)
    ).first
    expect(row.locator("td").first).to_contain_text("Brian")
    expect(row.locator("td").first).to_contain_text("override")
    override = Override.objects.get()
    assert (override.person.display_name, override.covered.display_name) == ("Brian", "Aoife")
    assert (override.start_at, override.end_at) == (swap.start_at, swap.end_at)
    aoife.context.close()
    brian.context.close()
