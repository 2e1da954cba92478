"""Problem reports against PostgreSQL with a controllable clock: "me too" on what is open,
grouping, one notice and at most one page per group, quiet groups, rate limits, bad input."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from incidents.models import Incident
from incidents.services import outages as services
from notifications.models import Notification, Page
from portal.models import ProblemReport, ReportGroup
from portal.services import reports as report_services
from portal.services.reports import RateLimited, report_submit
from steward.errors import Conflict
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def users(n):
    return [PersonFactory().user for _ in range(n)]


def submit(user, project, *, at, address="10.0.0.1", text="The login page shows an error"):
    return report_submit(actor=user, project=project, description=text, address=address, now=at)


def group_notifications(group, kind):
    return Notification.objects.filter(
        event_type=ContentType.objects.get_for_model(group), event_id=group.pk, kind=kind
    )


def group_pages(group):
    return Page.objects.filter(
        event_type=ContentType.objects.get_for_model(group), event_id=group.pk
    )


# --- grouping, the notice and the page ---------------------------------------------------------


def test_the_first_report_opens_a_group_and_sends_the_oncall_one_notice(graph):
    [alice] = users(1)

    outcome = submit(alice, graph.people, at=NOW)

    assert not outcome.is_me_too
    group = outcome.group
    assert group.project == graph.people
    assert group.report_count == 1
    assert group.notified_at == NOW
    assert group.paged_at is None
    assert outcome.notified and not outcome.paged
    # Nobody is on a rotation: the owner hears (the backup does not).
    notices = group_notifications(group, Notification.Kind.NOTICE)
    assert {n.recipient for n in notices} == {graph.people_owner}
    assert "The login page shows an error" in notices[0].body
    assert not group_pages(group).exists()


def test_reports_past_the_threshold_in_the_window_page_once_and_only_once(graph):
    reporters = users(6)
    outcomes = [
        submit(u, graph.people, at=NOW + timedelta(minutes=i), address=f"10.0.0.{i}")
        for i, u in enumerate(reporters)
    ]

    assert len({o.group.pk for o in outcomes}) == 1
    group = ReportGroup.objects.get()
    assert group.report_count == 6
    assert [o.paged for o in outcomes] == [False, False, True, False, False, False]
    assert group.paged_at == NOW + timedelta(minutes=2)
    [page] = group_pages(group)
    assert page.project == graph.people
    assert "3 problem reports" in page.subject
    # One notice for the whole group, not one per report.
    assert group_notifications(group, Notification.Kind.NOTICE).count() == 1


def test_reports_spread_beyond_the_window_do_not_page_until_enough_fall_inside_it(graph):
    a, b, c, d = users(4)
    submit(a, graph.people, at=NOW)
    submit(b, graph.people, at=NOW + timedelta(minutes=6))
    # The first has left the 10-minute window: two in it.
    third = submit(c, graph.people, at=NOW + timedelta(minutes=12))
    assert not third.paged
    fourth = submit(d, graph.people, at=NOW + timedelta(minutes=13))
    assert fourth.paged
    assert group_pages(fourth.group).count() == 1


def test_one_person_reporting_again_and_again_pages_nobody(graph):
    [alice] = users(1)
    for minute in range(5):
        outcome = submit(alice, graph.people, at=NOW + timedelta(minutes=minute))
        assert not outcome.paged
    assert not Page.objects.exists()
    assert ReportGroup.objects.get().report_count == 5


def test_the_threshold_and_window_follow_the_settings(graph, settings):
    settings.STEWARD_REPORT_PAGE_THRESHOLD = 2
    settings.STEWARD_REPORT_PAGE_WINDOW_MINUTES = 1
    a, b, c = users(3)
    submit(a, graph.people, at=NOW)
    assert not submit(b, graph.people, at=NOW + timedelta(minutes=2)).paged
    assert submit(c, graph.people, at=NOW + timedelta(minutes=2, seconds=30)).paged


def test_a_quiet_group_closes_and_the_next_report_starts_a_new_one(graph):
    a, b = users(2)
    first = submit(a, graph.people, at=NOW)
    second = submit(b, graph.people, at=NOW + timedelta(hours=3))

    assert second.group.pk != first.group.pk
    first.group.refresh_from_db()
    assert first.group.closed_at == NOW + timedelta(hours=3)
    assert second.notified  # the new group tells the on-call again
    assert ReportGroup.objects.filter(closed_at__isnull=True).count() == 1


def test_closing_quiet_groups_periodically(graph):
    [a] = users(1)
    submit(a, graph.people, at=NOW)
    assert report_services.report_groups_close_quiet(now=NOW + timedelta(minutes=119)) == 0
    assert report_services.report_groups_close_quiet(now=NOW + timedelta(minutes=120)) == 1
    assert not ReportGroup.objects.filter(closed_at__isnull=True).exists()


def test_beat_closes_quiet_groups_through_the_task(graph, settings):
    from portal.tasks import report_groups_close_quiet

    [a] = users(1)
    submit(a, graph.people, at=timezone.now() - timedelta(hours=3))
    entry = settings.CELERY_BEAT_SCHEDULE["incidents-report-groups-close-quiet"]
    assert entry["task"] == report_groups_close_quiet.name

    assert report_groups_close_quiet.apply().get() == 1
    assert report_groups_close_quiet.apply().get() == 0


def test_groups_are_per_project(graph):
    a, b = users(2)
    assert submit(a, graph.people, at=NOW).group.pk != submit(b, graph.wiki, at=NOW).group.pk


@pytest.mark.django_db(transaction=True)
def test_two_first_reports_at_once_make_one_group(graph):
    reporters = users(2)
    barrier = threading.Barrier(2)
    errors = []

    def run(user, i):
        try:
            barrier.wait(timeout=10)
            submit(user, graph.people, at=NOW, address=f"10.0.1.{i}")
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u, i)) for i, u in enumerate(reporters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    group = ReportGroup.objects.get()
    assert group.report_count == 2
    assert ProblemReport.objects.filter(group=group).count() == 2
    assert group_notifications(group, Notification.Kind.NOTICE).count() == 1


# --- "me too" ----------------------------------------------------------------------------------


def test_a_report_during_an_outage_touching_the_project_is_a_me_too(graph, it_user):
    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    a, b = users(2)
    before = Notification.objects.count()

    first = submit(a, graph.people, at=NOW + timedelta(minutes=1))
    second = submit(b, graph.connect, at=NOW + timedelta(minutes=2))

    assert first.is_me_too and first.outage == outage and first.group is None
    assert first.me_too_count == 1
    assert second.me_too_count == 2
    assert not ReportGroup.objects.exists()
    assert Notification.objects.count() == before  # nobody is told again


def test_an_outage_not_touching_the_project_does_not_explain_it(graph, it_user):
    services.outage_open(actor=it_user, title="DB slow", systems=[graph.database], now=NOW)
    [a] = users(1)
    outcome = submit(a, graph.people, at=NOW + timedelta(minutes=1))
    assert not outcome.is_me_too
    assert outcome.group is not None


def test_a_resolved_outage_explains_nothing(graph, it_user):
    outage = services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    services.outage_resolve(actor=it_user, outage=outage, now=NOW + timedelta(minutes=5))
    [a] = users(1)
    assert not submit(a, graph.people, at=NOW + timedelta(minutes=6)).is_me_too


def test_an_open_incident_on_the_project_comes_before_an_outage(graph, it_user):
    services.outage_open(actor=it_user, title="DC power", systems=[graph.dc], now=NOW)
    incident = Incident.objects.create(project=graph.people, title="Login broken", started_at=NOW)
    [a] = users(1)
    outcome = submit(a, graph.people, at=NOW + timedelta(minutes=1))
    assert outcome.incident == incident and outcome.outage is None
    assert outcome.report.incident == incident
    assert outcome.me_too_count == 1


# --- rate limits --------------------------------------------------------------------------------


def test_a_person_is_limited_per_project_and_nothing_is_stored_past_the_limit(graph):
    [alice] = users(1)
    for minute in range(5):
        submit(alice, graph.people, at=NOW + timedelta(minutes=minute), address=None)

    with pytest.raises(RateLimited) as refused:
        submit(alice, graph.people, at=NOW + timedelta(minutes=6), address=None)

    assert "5 on People in the last 10 minutes" in refused.value.message
    # The oldest report (minute 0) leaves the window at minute 10: four minutes from now.
    assert refused.value.retry_after == 4 * 60 + 1
    assert ProblemReport.objects.count() == 5
    assert ReportGroup.objects.get().report_count == 5
    # Another project is another count; later, the same project takes reports again.
    submit(alice, graph.wiki, at=NOW + timedelta(minutes=6), address=None)
    submit(alice, graph.people, at=NOW + timedelta(minutes=10, seconds=1), address=None)


def test_an_address_is_limited_whoever_signs_in_from_it(graph):
    reporters = users(6)
    for i, u in enumerate(reporters[:5]):
        submit(u, graph.people, at=NOW + timedelta(seconds=i), address="192.0.2.7")
    with pytest.raises(RateLimited) as refused:
        submit(reporters[5], graph.people, at=NOW + timedelta(minutes=1), address="192.0.2.7")
    assert "your network address" in refused.value.message
    # The same person from elsewhere is fine.
    submit(reporters[5], graph.people, at=NOW + timedelta(minutes=1), address="192.0.2.8")


def test_the_overall_limit_counts_reports_on_every_project(graph, settings):
    settings.STEWARD_REPORT_RATE_OVERALL = 3
    [alice] = users(1)
    submit(alice, graph.people, at=NOW, address=None)
    submit(alice, graph.connect, at=NOW + timedelta(minutes=1), address=None)
    submit(alice, graph.wiki, at=NOW + timedelta(minutes=2), address=None)
    with pytest.raises(RateLimited) as refused:
        submit(alice, graph.people, at=NOW + timedelta(minutes=3), address=None)
    assert "in total" in refused.value.message
    assert ProblemReport.objects.count() == 3


def test_refused_spam_pages_nobody(graph, settings):
    settings.STEWARD_REPORT_PAGE_THRESHOLD = 2
    [alice] = users(1)
    for minute in range(5):
        submit(alice, graph.people, at=NOW + timedelta(seconds=minute))
    for _ in range(3):
        with pytest.raises(RateLimited):
            submit(alice, graph.people, at=NOW + timedelta(minutes=1))
    assert not Page.objects.exists()
    assert Notification.objects.filter(kind=Notification.Kind.NOTICE).count() == 1


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "Say what is not working."), ("   ", "Say what is not working."), ("x" * 2001, "2000")],
)
def test_empty_or_huge_text_is_refused_naming_the_field(graph, text, message):
    [alice] = users(1)
    with pytest.raises(ValidationError) as refused:
        submit(alice, graph.people, at=NOW, text=text)
    assert message in " ".join(refused.value.message_dict["description"])
    assert not ProblemReport.objects.exists()
    assert not ReportGroup.objects.exists()
    assert not Notification.objects.exists()


def test_2000_characters_is_fine(graph):
    [alice] = users(1)
    assert submit(alice, graph.people, at=NOW, text="x" * 2000).report.pk


def test_a_huge_contact_is_refused(graph):
    [alice] = users(1)
    with pytest.raises(ValidationError) as refused:
        report_submit(
            actor=alice, project=graph.people, description="down", contact="c" * 255, now=NOW
        )
    assert "contact" in refused.value.message_dict


def test_anonymous_cannot_report(graph):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        report_submit(actor=AnonymousUser(), project=graph.people, description="x", now=NOW)


# --- owners handle a group -----------------------------------------------------------------------


def test_an_owner_dismisses_a_group_and_its_page_stops(graph):
    reporters = users(3)
    for i, u in enumerate(reporters):
        outcome = submit(u, graph.people, at=NOW + timedelta(minutes=i), address=f"10.0.2.{i}")
    group = outcome.group
    assert group_pages(group).get().state == Page.State.OPEN

    report_services.report_group_dismiss(
        actor=graph.people_owner.user, group=group, now=NOW + timedelta(minutes=5)
    )

    group.refresh_from_db()
    assert group.closed_at == NOW + timedelta(minutes=5)
    assert group_pages(group).get().state == Page.State.STOPPED
    with pytest.raises(Conflict):
        report_services.report_group_dismiss(actor=graph.people_owner.user, group=group)
    # The next report starts a new group.
    [late] = users(1)
    assert submit(late, graph.people, at=NOW + timedelta(minutes=6)).group.pk != group.pk


def test_a_reader_cannot_dismiss(graph, reader):
    [a] = users(1)
    group = submit(a, graph.people, at=NOW).group
    with pytest.raises(PermissionDenied):
        report_services.report_group_dismiss(actor=reader, group=group)
    with pytest.raises(PermissionDenied):
        report_services.report_group_escalate(actor=reader, group=group, title="x")


def test_it_staff_may_handle_reports(graph, it_user, reader):
    assert report_services.may_handle_reports(it_user, graph.people)
    assert report_services.may_handle_reports(graph.people_owner.user, graph.people)
    assert not report_services.may_handle_reports(graph.people_backup.user, graph.people)
    assert not report_services.may_handle_reports(reader, graph.people)


# --- pages -------------------------------------------------------------------------------------


def test_every_project_page_has_the_report_form(client, graph, reader):
    client.force_login(reader)
    response = client.get(f"/projects/{graph.people.slug}/")
    assert response.status_code == 200
    assert b'action="/projects/people/report/"' in response.content
    assert b'name="description"' in response.content


def test_posting_a_report_thanks_the_reporter_and_text_is_escaped(client, graph, reader):
    client.force_login(reader)
    response = client.post(
        f"/projects/{graph.people.slug}/report/",
        {"description": "<script>alert(1)</script> broken", "contact": "ext. 42"},
        REMOTE_ADDR="198.51.100.9",
    )
    assert response.status_code == 200
    assert b"The on-call has been told" in response.content
    report = ProblemReport.objects.get()
    assert report.reporter == reader
    assert str(report.reporter_address) == "198.51.100.9"
    assert report.contact == "ext. 42"

    client.force_login(graph.people_owner.user)
    page = client.get(f"/projects/{graph.people.slug}/reports/")
    assert page.status_code == 200
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; broken" in page.content
    assert b"<script>alert(1)" not in page.content


def test_an_htmx_post_gets_the_fragment(client, graph, reader):
    client.force_login(reader)
    response = client.post(
        f"/projects/{graph.people.slug}/report/", {"description": "down"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="report-problem"' in response.content


def test_an_empty_report_is_a_400_naming_the_field(client, graph, reader):
    client.force_login(reader)
    response = client.post(f"/projects/{graph.people.slug}/report/", {"description": "  "})
    assert response.status_code == 400
    assert b"Say what is not working." in response.content
    assert not ProblemReport.objects.exists()


def test_past_the_limit_the_page_says_429_and_stores_nothing(client, graph, reader):
    client.force_login(reader)
    url = f"/projects/{graph.people.slug}/report/"
    for _ in range(5):
        assert client.post(url, {"description": "down"}).status_code == 200
    response = client.post(url, {"description": "down"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many reports" in response.content
    assert b"Nothing was stored" in response.content
    assert ProblemReport.objects.count() == 5


def test_a_me_too_offers_a_subscription(client, graph, reader, it_user):
    services.outage_open(actor=it_user, title="DC <power>", systems=[graph.dc])
    client.force_login(reader)
    response = client.post(f"/projects/{graph.people.slug}/report/", {"description": "down"})
    assert response.status_code == 200
    assert b"already known" in response.content
    assert b"DC &lt;power&gt;" in response.content
    assert b"/projects/people/subscribe/" in response.content


def test_readers_do_not_see_reports(client, graph, reader):
    client.force_login(reader)
    url = f"/projects/{graph.people.slug}/reports/"
    assert client.get(url).status_code == 403
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 204


def test_an_owner_dismisses_from_the_page(client, graph, reader):
    client.force_login(reader)
    client.post(f"/projects/{graph.people.slug}/report/", {"description": "down"})
    group = ReportGroup.objects.get()
    client.force_login(reader)
    assert (
        client.post(f"/projects/{graph.people.slug}/reports/{group.pk}/dismiss/").status_code == 403
    )
    client.force_login(graph.people_owner.user)
    response = client.post(f"/projects/{graph.people.slug}/reports/{group.pk}/dismiss/")
    assert response.status_code == 302
    group.refresh_from_db()
    assert group.closed_at is not None


def test_an_owner_turns_a_group_into_an_incident(graph):
    reporters = users(3)
    for i, u in enumerate(reporters):
        outcome = submit(u, graph.people, at=NOW + timedelta(minutes=i), address=f"10.0.3.{i}")
    group = outcome.group

    incident = report_services.report_group_escalate(
        actor=graph.people_owner.user,
        group=group,
        title="Login fails",
        impact=Incident.Impact.PARTIAL,
        now=NOW + timedelta(minutes=4),
    )

    assert incident.project == graph.people and incident.is_open
    assert incident.impact == Incident.Impact.PARTIAL
    group.refresh_from_db()
    assert group.closed_at == NOW + timedelta(minutes=4) and group.incident == incident
    assert ProblemReport.objects.filter(incident=incident).count() == 3
    assert group_pages(group).get().state == Page.State.STOPPED
    # The next report is a "me too" on the incident.
    [late] = users(1)
    me_too = submit(late, graph.people, at=NOW + timedelta(minutes=5))
    assert me_too.incident == incident and me_too.me_too_count == 4


def test_escalating_needs_a_title_and_changes_nothing_without_one(graph):
    [a] = users(1)
    group = submit(a, graph.people, at=NOW).group
    with pytest.raises(ValidationError) as refused:
        report_services.report_group_escalate(
            actor=graph.people_owner.user, group=group, title="  "
        )
    assert "title" in refused.value.message_dict
    group.refresh_from_db()
    assert group.closed_at is None
    assert not Incident.objects.exists()


def test_escalating_from_the_page(client, graph, reader):
    client.force_login(reader)
    client.post(f"/projects/{graph.people.slug}/report/", {"description": "down"})
    group = ReportGroup.objects.get()
    client.force_login(graph.people_owner.user)
    url = f"/projects/{graph.people.slug}/reports/{group.pk}/incident/"
    assert client.post(url, {"title": "", "impact": "degraded"}).status_code == 400
    response = client.post(url, {"title": "Login <b>fails</b>", "impact": "major"})
    assert response.status_code == 302
    assert Incident.objects.get().title == "Login <b>fails</b>"


def test_the_owners_reports_page_has_a_fixed_query_count(client, graph):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(graph.people_owner.user)
    url = f"/projects/{graph.people.slug}/reports/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    report_submit(actor=users(1)[0], project=graph.people, description="down")
    one = queries()
    for u in users(5):
        report_submit(actor=u, project=graph.people, description="still down")
    assert queries() == one


def test_a_limit_of_zero_turns_it_off(graph, settings):
    settings.STEWARD_REPORT_RATE_PER_PROJECT = 0
    settings.STEWARD_REPORT_RATE_OVERALL = 0
    [alice] = users(1)
    for minute in range(7):
        submit(alice, graph.people, at=NOW + timedelta(seconds=minute))
    assert ProblemReport.objects.count() == 7


# --- the owners' fragment of open groups ---------------------------------------------------------


def test_owners_get_the_open_groups_fragment(client, graph, reader):
    report_submit(actor=reader, project=graph.people, description="cannot <log> in")
    client.force_login(graph.people_owner.user)
    response = client.get(f"/projects/{graph.people.slug}/reports/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"1 report" in response.content
    assert b"cannot &lt;log&gt; in" in response.content


def test_a_quiet_group_is_not_shown_to_owners(client, graph, reader):
    report_submit(actor=reader, project=graph.people, description="old news", now=NOW)
    client.force_login(graph.people_owner.user)
    response = client.get(f"/projects/{graph.people.slug}/reports/")
    assert b"No open problem reports." in response.content
