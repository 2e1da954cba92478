"""Incident reviews: the timeline Steward already knows, in the viewer's zone; the sections in
safe Markdown and the export; action items and their one reminder in the owner's working hours;
who may write what; the project page's open items."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from changes.models import Change
from incidents.models import Incident
from incidents.services import outages as outage_services
from notifications.models import Notification, Page
from notifications.services.pages import page_ack
from portal.services.reports import report_submit
from reviews import services
from reviews.markdown import render
from reviews.models import ActionItem, Review
from steward.errors import Conflict
from tests.factories import IncidentFactory, PersonFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday; 17:30 in Kolkata
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _demo_outage(graph, it_user, reader):
    """As the demo's outages run: a change on SSO two hours before, the outage paging People's
    owner, a user's "me too", the owner acknowledging by email, an update, the resolution."""
    change = Change.objects.create(
        title="Patch SSO",
        planned_start_at=T0 - timedelta(hours=2),
        planned_end_at=T0 - timedelta(hours=1),
        started_at=T0 - timedelta(hours=2),
        state=Change.State.COMPLETED,
    )
    change.systems.set([graph.sso])
    outage = outage_services.outage_open(
        actor=it_user, title="SSO down", systems=[graph.sso], severity="sev1", now=T0
    )
    report_submit(
        actor=reader,
        project=graph.people,
        description="Cannot sign in",
        now=T0 + timedelta(minutes=3),
    )
    page = Page.objects.get(project=graph.people)
    page_ack(page=page, person=graph.people_owner, via="email", now=T0 + timedelta(minutes=7))
    outage_services.outage_update(
        actor=it_user, outage=outage, message="Restarting SSO", now=T0 + timedelta(minutes=10)
    )
    outage_services.outage_resolve(actor=it_user, outage=outage, now=T0 + timedelta(minutes=50))
    return outage


def test_a_review_of_an_outage_shows_the_real_timeline_in_the_viewers_zone(
    graph, it_user, reader, django_assert_max_num_queries
):
    outage = _demo_outage(graph, it_user, reader)
    it_user.person.time_zone = "Asia/Kolkata"
    it_user.person.save()
    client = Client()
    client.force_login(it_user)
    started = client.post(f"/it/outages/{outage.pk}/review/")
    review = Review.objects.get(outage=outage)
    assert started.status_code == 302 and started["Location"] == f"/reviews/{review.pk}/"
    # Starting again finds the same review.
    assert client.get(f"/it/outages/{outage.pk}/review/")["Location"] == f"/reviews/{review.pk}/"

    with django_assert_max_num_queries(30):
        body = client.get(f"/reviews/{review.pk}/").content.decode()
    for text in (
        "Outage opened (SEV1",
        "Mon 3 Mar, 17:30 Asia/Kolkata",  # opened, 12:00 UTC
        "Paged for People",
        "Pia Owner",
        "Mon 3 Mar, 17:37 Asia/Kolkata",  # acknowledged, 12:07 UTC
        "Acknowledged the page for People (email)",
        "Restarting SSO",
        "1 in all, 1 of them “me too”",
        "Mon 3 Mar, 15:30 Asia/Kolkata",  # the change, 10:00 UTC
        "IT change: Patch SSO",
        "Mon 3 Mar, 18:20 Asia/Kolkata",  # resolved
    ):
        assert text in body, text
    # The timeline is in order: opened, reported, acknowledged, updated, resolved.
    order = [
        body.index(t) for t in ("First user report", "Acknowledged the page", "Restarting SSO")
    ]
    assert order == sorted(order)

    exported = client.get(f"/reviews/{review.pk}/review.md")
    assert exported["Content-Type"].startswith("text/markdown")
    text = exported.content.decode()
    assert "# Review: SSO down" in text
    assert "Mon 3 Mar 2025, 17:37 Asia/Kolkata: Acknowledged the page for People (email)" in text


def test_a_review_is_written_in_safe_markdown_and_exported_as_written(graph, it_user, reader):
    outage = _demo_outage(graph, it_user, reader)
    review = services.review_start(actor=it_user, outage=outage)
    services.review_edit(
        actor=it_user,
        review=review,
        impact="**Nobody** signed in for 50 minutes.\n\n<script>alert(1)</script>",
        to_change="- [runbook](javascript:alert(1))\n- [alerts](https://wiki.example.com/a)",
    )
    html = render(Review.objects.get(pk=review.pk).impact)
    assert "<strong>Nobody</strong>" in html and "<script" not in html
    changed = render(Review.objects.get(pk=review.pk).to_change)
    assert 'href="javascript' not in changed and "<a" in changed
    assert 'href="https://wiki.example.com/a"' in changed
    client = Client()
    client.force_login(it_user)
    page = client.get(f"/reviews/{review.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "**Nobody** signed in" in client.get(f"/reviews/{review.pk}/review.md").content.decode()


def test_who_may_write_reviews(graph, it_user, reader):
    outage = _demo_outage(graph, it_user, reader)
    owner = graph.people_owner.user
    with pytest.raises(PermissionDenied):
        services.review_start(actor=owner, outage=outage)  # outage reviews: IT
    incident = IncidentFactory(project=graph.people, title="Slow")
    with pytest.raises(Conflict):
        services.review_start(actor=owner, incident=incident)  # still open
    Incident.objects.filter(pk=incident.pk).update(
        status="resolved", resolved_at=incident.started_at + timedelta(hours=1)
    )
    incident.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.review_start(actor=reader, incident=incident)
    with pytest.raises(PermissionDenied):
        services.review_start(actor=graph.wiki_owner.user, incident=incident)
    review = services.review_start(actor=owner, incident=incident)
    assert services.review_start(actor=it_user, incident=incident) == review
    services.review_edit(actor=owner, review=review, impact="Slow pages")
    with pytest.raises(PermissionDenied):
        services.review_edit(actor=reader, review=review, impact="Nothing")
    with pytest.raises(ValidationError) as refused:
        services.action_item_add(
            actor=owner,
            review=review,
            title="Add alerts",
            owner=graph.people_owner,
            due_on=date.today(),
            tracker_url="javascript:alert(1)",
        )
    assert "tracker_url" in refused.value.message_dict
    assert not ActionItem.objects.exists()
    item = services.action_item_add(
        actor=owner,
        review=review,
        title="Add alerts",
        owner=graph.wiki_owner,
        due_on=date.today(),
        tracker_url="https://issues.example.com/OPS-1",
    )
    with pytest.raises(PermissionDenied):
        services.action_item_update(actor=reader, item=item, done=True)
    # The item's owner may close it even without editing the review.
    assert services.action_item_update(actor=graph.wiki_owner.user, item=item, done=True).done_at


def test_an_action_item_past_due_reminds_its_owner_once_in_their_working_hours(
    graph, it_user, reader
):
    outage = _demo_outage(graph, it_user, reader)
    review = services.review_start(actor=it_user, outage=outage)
    owner = PersonFactory(
        display_name="Nora NewYork", time_zone="America/New_York", working_hours=WEEKDAYS
    )
    item = services.action_item_add(
        actor=it_user,
        review=review,
        title="Page IT when SSO fails",
        owner=owner,
        due_on=date.today(),
        tracker_url="https://issues.example.com/OPS-2",
    )
    ActionItem.objects.filter(pk=item.pk).update(due_on=date(2025, 3, 3))
    # Sunday 22:00 in New York: not due there yet.
    assert services.action_items_remind_due(now=datetime(2025, 3, 3, 3, 0, tzinfo=UTC)) == 0
    # Monday 06:00 in New York: due, before their working hours.
    monday_early = datetime(2025, 3, 3, 11, 0, tzinfo=UTC)
    assert services.action_items_remind_due(now=monday_early) == 1
    assert services.action_items_remind_due(now=monday_early + timedelta(minutes=5)) == 0
    assert services.action_items_remind_due(now=monday_early + timedelta(days=2)) == 0
    [notice] = Notification.objects.filter(recipient=owner, topic=services.REMIND_TOPIC)
    assert notice.state == Notification.State.HELD
    assert notice.deliver_after == datetime(2025, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert "Page IT when SSO fails" in notice.subject
    assert f"/reviews/{review.pk}/" in notice.link
    # Done items are not reminded; moving the day reminds again, once.
    item.refresh_from_db()
    assert item.reminded_at == monday_early
    assert settings.CELERY_BEAT_SCHEDULE["reviews-action-items-remind"]["task"] == (
        "reviews.action_items_remind"
    )


def test_open_action_items_show_on_the_project_page(graph, it_user, reader):
    incident = IncidentFactory(project=graph.people, title="Slow")
    Incident.objects.filter(pk=incident.pk).update(
        status="resolved", resolved_at=incident.started_at + timedelta(hours=1)
    )
    incident.refresh_from_db()
    review = services.review_start(actor=it_user, incident=incident)
    services.action_item_add(
        actor=it_user,
        review=review,
        title="Raise the pool size",
        owner=graph.people_owner,
        due_on=date.today() + timedelta(days=7),
    )
    done = services.action_item_add(
        actor=it_user,
        review=review,
        title="Already finished",
        owner=graph.people_owner,
        due_on=date.today(),
    )
    services.action_item_update(actor=it_user, item=done, done=True)
    client = Client()
    client.force_login(reader)
    body = client.get(f"/projects/{graph.people.slug}/").content.decode()
    assert "Open action items" in body and "Raise the pool size" in body
    assert "Already finished" not in body
