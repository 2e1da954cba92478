"""`{% supporter s %}`: one supporter as every page lists them (the directory, a project's page,
an IT system's, the on-call box, the ways on from a search that found nothing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template

from registry.selectors import supporter_for
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

MONDAY_NOON_UTC = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _written(person) -> str:
    s = supporter_for(person, role="owner", order=0, at=MONDAY_NOON_UTC)
    return Template("{% load registry_tags %}{% supporter s %}").render(Context({"s": s}))


def test_a_supporter_is_their_name_their_clock_in_their_zone_and_whether_they_work_now():
    html = _written(
        PersonFactory(display_name="Ana", time_zone="Asia/Tokyo", working_hours=NINE_TO_FIVE)
    )
    assert '<span class="name">Ana</span>' in html
    assert 'title="Asia/Tokyo"' in html
    assert 'datetime="2026-12-07T12:00:00Z" class="their-time">Mon 21:00 Asia/Tokyo</time>' in html
    assert '<span class="badge asleep">outside hours</span>' in html

    html = _written(
        PersonFactory(display_name="Bo", time_zone="Europe/Paris", working_hours=NINE_TO_FIVE)
    )
    assert "Mon 13:00 Europe/Paris" in html
    assert '<span class="badge awake">in working hours</span>' in html


def test_a_name_is_written_as_text():
    html = _written(PersonFactory(display_name='<script>alert("x")</script> & co'))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
