"""Every time Steward shows, checked against `zoneinfo`: every page, as every role that can see
it, and every message, with people in four zones: Asia/Kolkata (a half-hour offset),
America/Los_Angeles (its events fall on the night its clocks go back), Australia/Adelaide (a
half hour and summer time) and Europe/Dublin.

The events happen on 1 November 2026, at 08:30 and 09:30 UTC: both are 01:30 in Los Angeles,
before and after the clocks went back at 09:00 UTC. Each page writes a time in a
``<time datetime="…" class="event-time|their-time">`` (`steward.timetags`); the test reads the
instant and checks the text is that instant in the zone the text names, that an event is in the
viewer's zone and a person's clock in a person's zone, and that no time outside those elements
is written in UTC or by a zone abbreviation.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from changes import services as change_services
from changes.models import Change
from incidents.models import Incident, IncidentUpdate, Outage, OutageUpdate
from incidents.services import outages as outage_services
from notifications import channels
from notifications.models import Notification, Page
from notifications.providers import apprise, slack, twilio
from oncall.models import RotationLayer
from portal.models import ProblemReport, ReportGroup
from registry.models import ContactMethod, Person, ProjectRole
from steward.times import BROWSER_ZONE_COOKIE, is_time_zone, zoned
from tests.e2e_support import SmtpSink, smtp, smtp_sink  # noqa: F401  (fixtures)
from tests.factories import PersonFactory, ProjectRoleFactory
from tests.security.test_authorization_matrix import EXPECTED, _values
from tests.security.world import ROLES, world_build

pytestmark = pytest.mark.django_db

BEFORE = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
AFTER = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST
ZONES = {
    "anonymous": "Asia/Kolkata",  # the browser's, from its cookie
    "reader": "Asia/Kolkata",
    "other_owner": "Australia/Adelaide",
    "owner": "America/Los_Angeles",
    "it": "Europe/Dublin",
    "admin": "Australia/Adelaide",
}
TIME = re.compile(r'<time datetime="([^"]+)" class="(event-time|their-time)">([^<]*)</time>')
# What Django's `date:"T"` or a hand-written label would leave: a clock time named by UTC or an
# abbreviation (IST is both Dublin's summer and India's year round).
LABELLED = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\s+(?:UTC|GMT|[A-Z]{1,4}[SD]T|IST|[+-]\d{2,4})\b")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _times_world():
    world = world_build()
    for role, person in world.people.items():
        Person.objects.filter(pk=person.pk).update(time_zone=ZONES[role])
    RotationLayer.objects.filter(rotation=world.rotation).update(time_zone="America/Los_Angeles")
    Change.objects.filter(pk=world.change.pk).update(planned_start_at=BEFORE, planned_end_at=AFTER)
    Outage.objects.filter(pk=world.outage.pk).update(started_at=AFTER)
    OutageUpdate.objects.filter(outage=world.outage).update(created_at=AFTER)
    Incident.objects.filter(pk=world.incident.pk).update(started_at=BEFORE, acknowledged_at=AFTER)
    IncidentUpdate.objects.filter(incident=world.incident).update(created_at=AFTER)
    Page.objects.update(opened_at=AFTER)
    Notification.objects.update(created_at=AFTER, sent_at=AFTER)
    ProblemReport.objects.update(created_at=AFTER)
    ReportGroup.objects.update(opened_at=BEFORE, last_report_at=AFTER)
    return world


def _pages(world) -> list[tuple[str, str]]:
    """(name, path) of every page the resolver knows that is read with GET."""
    values = _values(world)
    return [
        (name, path.format(**values))
        for name, (method, path, _statuses) in sorted(EXPECTED.items())
        if method == "GET" and not path.startswith(("/api/", "/feeds/", "/metrics", "/healthz"))
    ]


def _client(world, role: str) -> Client:
    client = Client()
    if world.users[role] is None:
        client.cookies[BROWSER_ZONE_COOKIE] = ZONES[role]
    else:
        client.force_login(world.users[role])
    return client


def time_problems(html: str, *, viewer_zone: str, people_zones: set[str]) -> list[str]:
    """Every time on the page that is not its instant in the zone it names, or not in the zone
    it should be in; every time written outside the filters with UTC or an abbreviation."""
    problems = []
    for instant_text, kind, text in TIME.findall(html):
        instant = datetime.fromisoformat(instant_text)
        zone = text.rsplit(" ", 1)[-1]
        if not is_time_zone(zone):
            problems.append(f"{text!r} names no IANA zone")
            continue
        local = instant.astimezone(ZoneInfo(zone))
        if f"{local:%H:%M}" not in text:
            problems.append(f"{text!r} is not {instant_text} in {zone} ({local:%H:%M})")
        for word in re.findall(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b", text):
            if word != f"{local:%a}":
                problems.append(f"{text!r}: {instant_text} is a {local:%a} in {zone}")
        for day, month in re.findall(rf"\b(\d{{1,2}}) ({'|'.join(MONTHS)})\b", text):
            if (int(day), month) != (local.day, f"{local:%b}"):
                problems.append(f"{text!r}: {instant_text} is {local:%-d %b} in {zone}")
        if kind == "event-time" and zone != viewer_zone:
            problems.append(f"event time {text!r} is not in the viewer's zone {viewer_zone}")
        if kind == "their-time" and zone not in people_zones:
            problems.append(f"a person's time {text!r} is in nobody's zone")
    # Outside the filters: the page's text, without scripts, styles, the zone picker's
    # offsets (UTC+05:30 is an offset, not a time) and documents shown as they were sent (a
    # webhook delivery's payload keeps its ISO 8601 times in UTC: it failed once, at 08:30 UTC,
    # on the payload's own timestamp).
    hidden = re.compile(r"<(script|style|datalist|pre)\b.*?</\1>", flags=re.S)
    outside = re.sub(r"<[^>]+>", " ", TIME.sub(" ", hidden.sub("", html)))
    problems += [f"labelled outside the filters: {m!r}" for m in LABELLED.findall(outside)]
    if ZoneInfo(viewer_zone).utcoffset(AFTER):
        # The events' UTC clock times appear nowhere else (the viewer's is another).
        problems += [f"UTC clock {utc} shown" for utc in ("08:30", "09:30") if utc in outside]
    return problems


def test_every_page_shows_each_time_in_the_right_zone_for_every_role():
    world = _times_world()
    people_zones = set(ZONES.values())
    wrong: list[str] = []
    checked = 0
    for name, path in _pages(world):
        for role in ROLES:
            response = _client(world, role).get(path)
            if response.status_code != 200 or "text/html" not in response["Content-Type"]:
                continue
            html = response.content.decode()
            checked += len(TIME.findall(html))
            for problem in time_problems(html, viewer_zone=ZONES[role], people_zones=people_zones):
                wrong.append(f"{name} as {role}: {problem}")
    assert not wrong, "\n".join(dict.fromkeys(wrong))
    assert checked > 100, checked  # the walk saw the pages' times, not empty pages


@pytest.mark.parametrize(
    ("page", "role"),
    [
        ("incidents:change-detail", "owner"),
        ("incidents:change-detail", "reader"),
        ("incidents:outage-detail", "it"),
        ("incidents:outage-detail", "admin"),
        ("incident_portal:incident-detail", "anonymous"),
        ("incident_portal:incident-detail", "other_owner"),
        ("notifications:mine", "owner"),
    ],
)
def test_the_events_are_shown_at_the_viewers_clock(page, role):
    """Where the events are, the viewer reads them on their own clock, with the zone named:
    Los Angeles reads 01:30 twice (before and after its clocks went back)."""
    world = _times_world()
    path = dict(_pages(world))[page]
    html = _client(world, role).get(path).content.decode()
    shown = {text for _at, _kind, text in TIME.findall(html)}
    zone = ZONES[role]
    expected = {zoned(AFTER, zone, fmt) for fmt in ("D j M Y, H:i", "D j M, H:i", "H:i")}
    assert shown & expected, (zone, shown)
    assert f"Times in {zone}" in html or page != "notifications:mine"


def _chat_texts(notification: Notification) -> dict[str, str]:
    """What each chat channel would carry of this message, as its recipient reads it."""
    local = channels.for_recipient(notification)
    teams = channels.teams_payload(local)["attachments"][0]["content"]["body"]
    return {
        "slack webhook": str(channels.slack_payload(local)["blocks"]),
        "slack dm": slack._text(local),
        "teams": " ".join(block["text"] for block in teams),
        "sms": twilio.sms_text(local),
        "voice": twilio.voice_twiml(notification),
        "apprise": apprise.push_body(local),
    }


def test_every_message_is_written_in_its_recipients_zone(smtp):  # noqa: F811
    """An outage and a change, each told to owners in three zones: the email read back from a
    real SMTP server and each chat channel's text give each recipient their own clock."""
    world = _times_world()
    system, project = world.system, world.project
    for zone in ("Asia/Kolkata", "Australia/Adelaide"):
        person = PersonFactory(time_zone=zone)
        ProjectRoleFactory(project=project, person=person, role=ProjectRole.Role.OWNER)
        ContactMethod.objects.create(person=person, kind="email", address=person.email)
    Notification.objects.all().delete()
    it = get_user_model().objects.get(pk=world.users["it"].pk)
    outage_services.outage_open(actor=it, title="Database down", systems=[system], started_at=AFTER)
    change = change_services.change_create(
        actor=it,
        title="Database failover",
        planned_start_at=BEFORE,
        planned_end_at=AFTER,
        systems=[system],
    )
    # The world has a change on the same system then: going ahead through it needs a reason.
    change_services.change_schedule(
        actor=it, change=change, conflict_justification="The failover cannot wait."
    )

    messages = list(
        Notification.objects.filter(recipient__isnull=False, webhook_endpoint__isnull=True)
        .select_related("recipient")
        .order_by("id")
    )
    zones = {m.recipient.time_zone for m in messages}
    assert {"America/Los_Angeles", "Asia/Kolkata", "Australia/Adelaide"} <= zones
    for message in messages:
        zone = message.recipient.time_zone
        stamps = [at for at in (BEFORE, AFTER) if at.strftime("%Y-%m-%d %H:%M UTC") in message.body]
        assert stamps, message.body  # the writers stamp the events' times
        for channel, text in _chat_texts(message).items():
            if channel in {"sms", "voice"}:  # a text message or a call says the subject only
                assert "UTC" not in text
                continue
            for at in stamps:
                assert zoned(at, zone) in text, (channel, zone, text)
            assert " UTC" not in text, (channel, text)
        if message.channel == "email":
            smtp.messages.clear()
            channels.deliver(message)
            (mail,) = smtp.messages
            body = mail.get_body(("plain",)).get_content()
            html = mail.get_body(("html",)).get_content()
            for at in stamps:
                assert zoned(at, zone) in body and zoned(at, zone) in html, (zone, body)
            assert " UTC" not in body
    assert any(m.channel == "email" for m in messages)
    # A subscriber has no zone: their copy keeps UTC, named.
    stored = messages[0]
    stored.recipient_zone = None
    assert "UTC" in channels.for_recipient(stored).body
