"""The demo's on-call: SSO's own follow-the-sun rotation across three continents and its
escalation policy, and OraTweet's rotation around the clock; loading twice duplicates nothing."""

import zoneinfo

import pytest

from oncall.demo import load_oncall_demo
from oncall.escalation import system_escalation
from oncall.models import EscalationPolicy, Rotation, RotationLayer
from oncall.selectors import system_oncall
from registry.demo import load_demo
from registry.models import ITSystem
from tests.oncall.helpers import utc

pytestmark = pytest.mark.django_db

CONTINENTS = {"Asia", "Europe", "America"}


def test_sso_has_its_own_follow_the_sun_on_call_and_loading_twice_adds_nothing():
    assert load_oncall_demo() == {}  # no registry yet: nothing to do
    load_demo()
    first = load_oncall_demo()
    assert load_oncall_demo() == first
    assert (Rotation.objects.count(), EscalationPolicy.objects.count()) == (2, 1)

    sso = ITSystem.objects.get(slug="sso")
    rotation = Rotation.objects.get(system=sso)
    members = {
        m.person.time_zone for layer in rotation.layers.all() for m in layer.memberships.all()
    }
    assert {zone.split("/")[0] for zone in members} == CONTINENTS

    # A January day: Singapore's morning, Dublin's, New York's, each in their working hours.
    for hour, zone in ((2, "Asia/Singapore"), (10, "Europe/Dublin"), (18, "America/New_York")):
        [on_call] = system_oncall(sso, at=utc(2026, 1, 14, hour)).on_call_now
        assert on_call.person.time_zone == zone, hour
        assert on_call.in_working_hours, hour
        assert on_call.local_time.tzinfo == zoneinfo.ZoneInfo(zone)

    levels = system_escalation(sso, utc(2026, 1, 14, 10)).levels
    assert levels[0][0][0].time_zone == "Europe/Dublin"
    assert RotationLayer.objects.filter(rotation=rotation, restrict_start__isnull=True).count() == 1


def test_oratweet_has_someone_on_call_around_the_clock_in_their_working_day():
    from oncall.current import oncall_now

    load_demo()
    load_oncall_demo()
    oratweet = Rotation.objects.get(project__slug="oratweet")
    # A January weekday: Singapore's day, then California's, and the backup between them.
    seen = {}
    for hour in range(24):
        [on_call] = oncall_now(at=utc(2026, 1, 14, hour))[oratweet.project_id]
        seen[hour] = (on_call.person.time_zone, on_call.layer_id)
    layers = dict(RotationLayer.objects.filter(rotation=oratweet).values_list("name", "pk"))
    assert seen[3] == ("Asia/Singapore", layers["Singapore hours"])
    assert seen[20] == ("America/Los_Angeles", layers["California hours"])
    assert seen[12][1] == layers["Backup, week by week"]  # Europe's day: nobody's working hours
