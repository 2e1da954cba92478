"""The "still accurate?" nudge: to a stale project's active owners, held to each one's working
hours by the pipeline, once per review period, from the task beat runs. The clock is the
services' `now=`."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings

from hygiene import services
from hygiene.models import ReviewNudge
from notifications import services as notification_services
from notifications.models import Notification
from steward.celery import app

from .conftest import MONDAY_10, OWNER, person, project_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _review_after_180_days(settings):
    settings.REGISTRY_REVIEW_AFTER_DAYS = 180


def test_owners_are_asked_in_their_working_hours_with_their_own_link() -> None:
    tokyo = person("tokyo", zone="Asia/Tokyo", email="tokyo@example.com")
    london = person("london", zone="Europe/London", email="london@example.com")
    gone = person("gone", active=False, email="gone@example.com")
    project = project_with(
        "Atlas", (tokyo, OWNER), (london, OWNER), (gone, OWNER), created_days_ago=400
    )

    assert services.review_nudges_send(now=MONDAY_10) == 1

    notices = {n.recipient.user.username: n for n in Notification.objects.all()}
    assert set(notices) == {"tokyo", "london"}  # not the owner who left
    # 10:00 UTC is 19:00 in Tokyo: held to 09:00 Tuesday there; London is at work.
    assert notices["london"].state == "pending"
    assert notices["london"].deliver_after == MONDAY_10
    assert notices["tokyo"].state == "held"
    assert notices["tokyo"].deliver_after == dt.datetime(2025, 1, 14, 0, 0, tzinfo=dt.UTC)
    assert "Atlas" in notices["tokyo"].subject
    assert "never reviewed" in notices["tokyo"].body
    for name, notice in notices.items():
        linked_project, linked_person = services.review_link_resolve(
            notice.link.rsplit("/review/", 1)[1].rstrip("/")
        )
        assert (linked_project, linked_person.user.username) == (project, name)
    # Tokyo's morning: the held nudge goes out (a digest of one), its link with it.
    notification_services.sweep(now=dt.datetime(2025, 1, 14, 0, 0, tzinfo=dt.UTC))
    digest = Notification.objects.get(kind="digest")
    assert digest.recipient.user.username == "tokyo"
    assert digest.link == notices["tokyo"].link


def test_a_project_is_nudged_once_per_review_period() -> None:
    ann = person("ann", email="ann@example.com")
    project = project_with("Atlas", (ann, OWNER), created_days_ago=900, reviewed_days_ago=200)

    assert services.review_nudges_send(now=MONDAY_10) == 1
    assert services.review_nudges_send(now=MONDAY_10) == 0
    assert services.review_nudges_send(now=MONDAY_10 + dt.timedelta(days=150)) == 0
    assert Notification.objects.count() == 1
    # Still not reviewed a whole period later: asked again, once.
    later = MONDAY_10 + dt.timedelta(days=160)
    assert services.review_nudges_send(now=later) == 1
    assert services.review_nudges_send(now=later) == 0
    assert Notification.objects.count() == 2
    assert list(
        ReviewNudge.objects.order_by("period_start").values_list("period_start", flat=True)
    ) == [
        (MONDAY_10 - dt.timedelta(days=20)).date(),
        (MONDAY_10 + dt.timedelta(days=160)).date(),
    ]
    # Confirmed: nothing more until it is stale again.
    project.last_reviewed_on = later.date()
    project.save()
    assert services.review_nudges_send(now=later + dt.timedelta(days=179)) == 0


def test_a_project_without_an_active_owner_is_left_to_the_orphaned_list() -> None:
    gone = person("gone", active=False)
    project_with("Abandoned", (gone, OWNER), created_days_ago=400)

    assert services.review_nudges_send(now=MONDAY_10) == 0
    assert not ReviewNudge.objects.exists()
    assert not Notification.objects.exists()


def test_beat_runs_the_nudges_from_the_one_schedule() -> None:
    entries = [
        e
        for e in django_settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "hygiene.review_nudges_send"
    ]
    assert len(entries) == 1
    app.loader.import_default_modules()
    assert "hygiene.review_nudges_send" in app.tasks
