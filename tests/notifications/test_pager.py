"""One page per person per event: an outage touching several of someone's projects pages them with
one message per contact channel listing the projects, one acknowledgement covers it, and the
projects nobody acknowledged keep escalating on their own."""

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from notifications import services
from notifications.models import Notification, Page
from notifications.selectors import pages_for_event
from registry.models import ContactMethod, ProjectRole
from tests.factories import ProjectFactory, ProjectRoleFactory, it_staff_user

from .conftest import MONDAY_10, person_with

pytestmark = pytest.mark.django_db
MIN = dt.timedelta(minutes=1)

# Contact channels a person may be paged on, as (kind, address) factories; every class of test
# runs over several mixes of them.
CHANNEL_MIXES = {
    "email": [(ContactMethod.Kind.EMAIL, "x{n}@example.com")],
    "email+webhook": [
        (ContactMethod.Kind.EMAIL, "x{n}@example.com"),
        (ContactMethod.Kind.WEBHOOK, "{sink}/p{n}"),
    ],
    "webhook+slack+teams": [
        (ContactMethod.Kind.WEBHOOK, "{sink}/p{n}"),
        (ContactMethod.Kind.SLACK, "{sink}/s{n}"),
        (ContactMethod.Kind.TEAMS, "{sink}/t{n}"),
    ],
}
_counter = iter(range(10**6))


def responder(http_sink, mix="email+webhook", **kwargs):
    n = next(_counter)
    methods = [
        (kind, address.format(n=n, sink=http_sink.url("").rstrip("/")), True, True)
        for kind, address in CHANNEL_MIXES[mix]
    ]
    return person_with(*methods, **kwargs)


def apps(*names, owner=None, backup=None):
    projects = []
    for name in names:
        project = ProjectFactory(name=name)
        if owner is not None:
            ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        if backup is not None:
            ProjectRoleFactory(project=project, person=backup, role=ProjectRole.Role.BACKUP)
        projects.append(project)
    return projects


def page_all(event, projects, *, now=MONDAY_10, headline="[SEV2] Core database down"):
    return services.pages_open_many(
        event=event,
        requests=[
            services.PageRequest(p, f"Core database down affects {p.name}", f"Path: {p.name}")
            for p in projects
        ],
        link="http://steward.test/it/outages/1/",
        headline=headline,
        now=now,
    )


def messages_to(person, **filters):
    return list(
        Notification.objects.filter(recipient=person, kind="page", **filters).order_by("id")
    )


def other_event(system, title="Mail down"):
    from incidents.events import outage_event
    from incidents.models import Outage

    outage = Outage.objects.create(title=title)
    outage.systems.set([system])
    return outage_event(outage)


def state(*pages):
    return [Page.objects.get(pk=p.pk).state for p in pages]


@pytest.mark.parametrize("mix", list(CHANNEL_MIXES))
class TestOneMessagePerPersonPerChannel:
    def test_an_owner_of_three_touched_apps_gets_one_message_per_channel_listing_all_three(
        self, event, http_sink, mix
    ):
        owner = responder(http_sink, mix)
        pages = page_all(event, apps("Wiki", "Billing", "Atlas", owner=owner))
        rows = messages_to(owner)
        assert len(rows) == len(CHANNEL_MIXES[mix])
        assert sorted(r.channel for r in rows) == sorted(
            {"email": "email", "webhook": "webhook", "slack": "slack", "teams": "teams"}[k]
            for k, _ in CHANNEL_MIXES[mix]
        )
        for row in rows:
            assert sorted(row.page_ids) == sorted(p.pk for p in pages)
            assert row.subject == "3 apps down: Atlas, Billing, Wiki — [SEV2] Core database down"
            for page in pages:
                assert page.project.name in row.body
                assert f"/projects/{page.project.slug}/" in row.body
                assert f"Path: {page.project.name}" in row.body
            # `page` is the first listed (by name) and the key is that page's.
            assert row.page.project.name == "Atlas"
            assert row.idempotency_key.startswith(
                f"n:{row.event_type_id}:{row.event_id}:page.{row.page.project_id}:p{owner.pk}:"
            )

    def test_each_person_gets_the_projects_that_page_them_and_one_project_reads_as_before(
        self, event, http_sink, mix
    ):
        many, single = responder(http_sink, mix), responder(http_sink, mix)
        both = apps("Wiki", "Billing", owner=many)
        alone = apps("Atlas", owner=single)
        ProjectRoleFactory(project=both[0], person=single, role=ProjectRole.Role.OWNER)
        page_all(event, both + alone)
        assert {len(r.page_ids) for r in messages_to(many)} == {2}
        rows = messages_to(single)
        assert len(rows) == len(CHANNEL_MIXES[mix])
        assert {r.subject for r in rows} == {"2 apps down: Atlas, Wiki — [SEV2] Core database down"}

    def test_a_lone_project_keeps_its_own_subject_and_key(self, event, http_sink, mix):
        owner = responder(http_sink, mix)
        [page] = page_all(event, apps("Wiki", owner=owner))
        for row in messages_to(owner):
            assert (row.subject, row.page_ids, row.page_id) == (
                "Core database down affects Wiki",
                [page.pk],
                page.pk,
            )
            assert f":page.{page.project_id}:" in row.idempotency_key

    def test_different_events_never_share_a_message(self, event, system, http_sink, mix):
        owner = responder(http_sink, mix)
        projects = apps("Wiki", "Billing", owner=owner)
        first = page_all(event, projects)
        second = page_all(other_event(system), projects, headline="Mail down")
        rows = messages_to(owner)
        assert len(rows) == 2 * len(CHANNEL_MIXES[mix])
        lists = {tuple(sorted(r.page_ids)) for r in rows}
        assert lists == {tuple(sorted(p.pk for p in first)), tuple(sorted(p.pk for p in second))}

    def test_opening_again_writes_nothing_and_keys_are_unique(self, event, http_sink, mix):
        owner = responder(http_sink, mix)
        projects = apps("Wiki", "Billing", "Atlas", owner=owner)
        page_all(event, projects)
        keys = sorted(Notification.objects.values_list("idempotency_key", flat=True))
        page_all(event, projects)
        page_all(event, projects[:1])
        assert sorted(Notification.objects.values_list("idempotency_key", flat=True)) == keys
        assert len(set(keys)) == len(keys)


class TestFixedQueries:
    @pytest.mark.parametrize("shape", ["one owner of all", "an owner each"])
    def test_opening_takes_as_many_queries_for_3_projects_as_for_30(self, event, http_sink, shape):
        counts = []
        for size, title in ((3, "a"), (30, "b")):
            shared = responder(http_sink)
            projects = [
                apps(f"{title}{i}", owner=shared if shape == "one owner of all" else None)[0]
                for i in range(size)
            ]
            if shape == "an owner each":
                for project in projects:
                    ProjectRoleFactory(project=project, person=responder(http_sink))
            target = other_event(event.systems[0], title)
            with CaptureQueriesContext(connection) as queries:
                page_all(target, projects)
            counts.append(len(queries))
        assert counts[0] == counts[1]

    def test_escalating_takes_as_many_queries_for_3_pages_as_for_30(self, event, http_sink):
        counts = []
        for size, title in ((3, "a"), (30, "b")):
            backup = responder(http_sink)
            projects = [apps(f"{title}{i}", backup=backup)[0] for i in range(size)]
            for project in projects:
                ProjectRoleFactory(project=project, person=responder(http_sink))
            page_all(other_event(event.systems[0], title), projects)
            with CaptureQueriesContext(connection) as queries:
                assert services.sweep(now=MONDAY_10 + 10 * MIN).escalated == size
            counts.append(len(queries))
            assert len(messages_to(backup)) == 2  # one per channel, listing them all
        assert counts[0] == counts[1]


class TestOneAcknowledgementCoversIt:
    @pytest.fixture
    def owned(self, event, http_sink):
        owner = responder(http_sink, display_name="Olga Owner")
        backup = responder(http_sink, display_name="Bob Backup")
        pages = page_all(event, apps("Wiki", "Billing", "Atlas", owner=owner, backup=backup))
        return owner, backup, pages

    def _ack_link(self, client, owner, pages, row):
        token = services.ack_token(page=row.page_id, person=owner)
        confirm = client.get(f"/notifications/ack/{token}/")
        for page in pages:  # the confirmation names every project it covers
            assert page.project.name in confirm.content.decode()
        assert b"Acknowledge 3 apps" in confirm.content
        assert client.post(f"/notifications/ack/{token}/").status_code == 200

    def _web(self, client, owner, pages, row):
        client.force_login(owner.user)
        response = client.post(f"/notifications/pages/{pages[1].pk}/ack/")
        assert response.status_code == 302

    def _api(self, client, owner, pages, row):
        api = APIClient()
        api.force_authenticate(owner.user)
        response = api.post(f"/api/v1/notifications/{row.pk}/ack/")
        assert response.status_code == 200
        body = response.json()
        assert body["state"] == "acknowledged"
        assert sorted(p["id"] for p in body["pages"]) == sorted(p.pk for p in pages)
        assert {p["state"] for p in body["pages"]} == {"acknowledged"}

    def _provider(self, client, owner, pages, row):
        # What an SMS / Slack / Twilio callback does once it knows the person and the message.
        services.notification_ack(actor=owner.user, notification=row, via="sms")

    @pytest.mark.parametrize(
        "entry, via",
        [("_ack_link", "link"), ("_web", "web"), ("_api", "api"), ("_provider", "sms")],
    )
    def test_every_entry_point_acknowledges_all_the_pages_the_message_listed(
        self, client, owned, entry, via
    ):
        owner, _backup, pages = owned
        row = messages_to(owner, channel="webhook")[0]
        getattr(self, entry)(client, owner, pages, row)
        for page in pages:
            page.refresh_from_db()
            assert (page.state, page.acknowledged_by, page.acknowledged_via) == (
                "acknowledged",
                owner,
                via,
            )
            assert page.next_escalation_at is None
        assert services.sweep(now=MONDAY_10 + 60 * MIN).escalated == 0
        assert set(Notification.objects.values_list("state", flat=True)) == {"cancelled"}

    def test_the_ack_hook_runs_once_per_page_acknowledged(self, owned, settings):
        owner, _backup, pages = owned
        calls.clear()
        settings.STEWARD_PAGE_ACKNOWLEDGED = ["tests.notifications.test_pager.record_ack"]
        services.page_ack(page=pages[2], person=owner, via="web", now=MONDAY_10 + MIN)
        assert sorted(calls) == sorted((p.pk, owner.pk) for p in pages)
        services.page_ack(page=pages[0], person=owner, via="web", now=MONDAY_10 + 2 * MIN)
        assert len(calls) == 3  # twice is harmless

    def test_someone_not_paged_acknowledges_only_the_page_they_chose(self, owned):
        _owner, _backup, pages = owned
        it_person = it_staff_user().person
        services.page_ack_by_user(actor=it_person.user, page=pages[0], via="web")
        assert state(*pages) == ["acknowledged", "open", "open"]

    def test_a_message_still_listing_an_open_page_is_kept_for_it_and_sent(self, event, http_sink):
        many, one = responder(http_sink), responder(http_sink)
        projects = apps("Wiki", "Billing", "Atlas", owner=many)
        ProjectRoleFactory(project=projects[2], person=one, role=ProjectRole.Role.OWNER)
        pages = page_all(event, projects)
        atlas = Page.objects.get(project=projects[2])
        services.page_ack(page=atlas, person=one, via="web", now=MONDAY_10)
        assert state(*pages) == ["open", "open", "acknowledged"]
        # Their message listed Atlas first: it stays pending, now pointing at an open page...
        rows = messages_to(many)
        assert {r.state for r in rows} == {"pending"}
        assert {r.page.project.name for r in rows} == {"Billing"}
        assert [services.notification_send(notification_id=r.pk, now=MONDAY_10) for r in rows] == [
            "sent",
            "sent",
        ]
        # ...and once every page it lists is closed, an unsent one is cancelled.
        Notification.objects.filter(recipient=many).update(state="pending")
        services.pages_stop(event=event, now=MONDAY_10 + MIN)
        assert {r.state for r in messages_to(many)} == {"cancelled"}


calls: list[tuple[int, int | None]] = []


def record_ack(*, page, now):
    calls.append((page.pk, page.acknowledged_by_id))


paused = threading.Event()
resume = threading.Event()


def pause_first_ack(*, page, now):
    """An acknowledgement hook that holds the first acknowledgement's transaction open (its
    pages and messages locked) until the test says so."""
    if not paused.is_set():
        paused.set()
        resume.wait(20)


@pytest.mark.django_db(transaction=True)
def test_two_acknowledgements_at_once_keep_a_shared_message_for_the_page_left_open(
    event, http_sink, settings
):
    shared = responder(http_sink)
    projects = apps("Alpha", "Beta", "Gamma", owner=shared)
    alpha_owner, beta_owner = responder(http_sink), responder(http_sink)
    ProjectRoleFactory(project=projects[0], person=alpha_owner)
    ProjectRoleFactory(project=projects[1], person=beta_owner)
    with transaction.atomic():
        alpha, beta, gamma = page_all(event, projects)
    paused.clear()
    resume.clear()
    settings.STEWARD_PAGE_ACKNOWLEDGED = ["tests.notifications.test_pager.pause_first_ack"]

    def ack(page, person):
        try:
            services.page_ack(page=page, person=person, via="web")
        finally:
            connection.close()

    first = threading.Thread(target=ack, args=(alpha, alpha_owner))
    first.start()
    assert paused.wait(20)
    second = threading.Thread(target=ack, args=(beta, beta_owner))
    second.start()
    with connection.cursor() as cursor:  # the second waits for the first's lock on the message
        for _ in range(2000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("the second acknowledgement never waited for the first")
    resume.set()
    first.join(20)
    second.join(20)
    assert state(alpha, beta, gamma) == ["acknowledged", "acknowledged", "open"]
    rows = messages_to(shared)
    assert {r.state for r in rows} == {"pending"}
    assert {r.page_id for r in rows} == {gamma.pk}


class TestTheRestKeepEscalating:
    @pytest.mark.parametrize("mix", list(CHANNEL_MIXES))
    def test_paged_for_2_of_5_acknowledges_those_2_and_the_other_3_escalate(
        self, event, http_sink, mix
    ):
        mine_owner, theirs_owner = responder(http_sink, mix), responder(http_sink, mix)
        backup = responder(http_sink, mix)
        mine = apps("Alpha", "Beta", owner=mine_owner, backup=backup)
        theirs = apps("Gamma", "Delta", "Epsilon", owner=theirs_owner, backup=backup)
        pages = page_all(event, mine + theirs)
        [row, *_] = messages_to(mine_owner)
        services.notification_ack(actor=mine_owner.user, notification=row, now=MONDAY_10 + MIN)
        assert state(*pages) == ["acknowledged"] * 2 + ["open"] * 3
        assert services.sweep(now=MONDAY_10 + 10 * MIN).escalated == 3
        # The backup of all five hears once per channel, of the three still open only.
        escalated = messages_to(backup)
        assert len(escalated) == len(CHANNEL_MIXES[mix])
        for message in escalated:
            assert sorted(message.page_ids) == sorted(p.pk for p in pages[2:])
            assert message.subject.startswith("3 apps down: Delta, Epsilon, Gamma")
            assert message.round == 1

    def test_steps_due_at_different_moments_are_separate_messages(self, event, http_sink):
        backup = responder(http_sink)
        early, late = apps("Early", "Late", backup=backup)
        for project in (early, late):
            ProjectRoleFactory(project=project, person=responder(http_sink))
        pages = page_all(event, [early, late])
        Page.objects.filter(pk=pages[1].pk).update(next_escalation_at=MONDAY_10 + 15 * MIN)
        assert services.sweep(now=MONDAY_10 + 10 * MIN).escalated == 1
        assert services.sweep(now=MONDAY_10 + 10 * MIN).escalated == 0  # twice: nothing more
        assert services.sweep(now=MONDAY_10 + 15 * MIN).escalated == 1
        lists = [r.page_ids for r in messages_to(backup, channel="email")]
        assert lists == [[pages[0].pk], [pages[1].pk]]
        # Acknowledging the second message covers only its own page.
        services.page_ack(page=pages[1], person=backup, via="web")
        assert state(*pages) == ["open", "acknowledged"]

    def test_a_person_on_different_levels_of_two_projects_is_paged_for_each_in_turn(
        self, event, http_sink
    ):
        person = responder(http_sink)
        first, second = apps("First", "Second")
        ProjectRoleFactory(project=first, person=person, role=ProjectRole.Role.OWNER)
        ProjectRoleFactory(project=first, person=responder(http_sink), role=ProjectRole.Role.BACKUP)
        ProjectRoleFactory(project=second, person=responder(http_sink))
        ProjectRoleFactory(project=second, person=person, role=ProjectRole.Role.BACKUP)
        pages = page_all(event, [first, second])
        assert [r.page_ids for r in messages_to(person, channel="email")] == [[pages[0].pk]]
        services.sweep(now=MONDAY_10 + 10 * MIN)
        assert [r.page_ids for r in messages_to(person, channel="email")] == [
            [pages[0].pk],
            [pages[1].pk],
        ]


class TestMyPages:
    def test_my_pages_shows_what_one_acknowledgement_covers_and_acknowledges_it(
        self, client, event, http_sink
    ):
        owner = responder(http_sink)
        pages = page_all(event, apps("Wiki", "Billing", "Atlas", owner=owner))
        lone = page_all(other_event(event.systems[0]), apps("Solo", owner=owner))
        client.force_login(owner.user)
        html = client.get("/notifications/mine/").content.decode()
        assert html.count("Acknowledge 3 apps</button>") == 3
        assert "Paged together with Billing, Wiki" in html
        assert html.count(">Acknowledge</button>") == 1  # Solo, another event
        client.post(f"/notifications/pages/{pages[0].pk}/ack/")
        assert state(*pages, *lone) == ["acknowledged"] * 3 + ["open"]
        html = client.get("/notifications/mine/").content.decode()
        assert "Solo" in html and "Wiki" not in html.split("My recent notifications")[0]

    def test_my_pages_takes_a_fixed_number_of_queries_whatever_the_groups(
        self, client, event, http_sink
    ):
        owner = responder(http_sink)
        client.force_login(owner.user)
        page_all(event, apps("A1", owner=owner))
        with CaptureQueriesContext(connection) as few:
            client.get("/notifications/mine/")
        page_all(event, apps(*[f"B{i}" for i in range(6)], owner=owner))
        for i in range(3):
            page_all(other_event(event.systems[0], f"E{i}"), apps(f"C{i}", f"D{i}", owner=owner))
        with CaptureQueriesContext(connection) as many:
            response = client.get("/notifications/mine/")
        assert response.content.decode().count("Acknowledge") >= 13
        assert len(many) == len(few)

    def test_the_api_lists_the_pages_of_each_message_in_a_fixed_number_of_queries(
        self, event, http_sink
    ):
        owner = responder(http_sink)
        api = APIClient()
        api.force_authenticate(owner.user)
        page_all(event, apps("A1", owner=owner))
        with CaptureQueriesContext(connection) as few:
            api.get("/api/v1/notifications/")
        pages = page_all(
            other_event(event.systems[0]), apps(*[f"B{i}" for i in range(5)], owner=owner)
        )
        with CaptureQueriesContext(connection) as many:
            body = api.get("/api/v1/notifications/?kind=page").json()
        assert len(many) == len(few)
        listed = [r for r in body["results"] if len(r["pages"]) > 1]
        assert len(listed) == 2  # email and webhook
        assert sorted(p["id"] for p in listed[0]["pages"]) == sorted(p.pk for p in pages)
        assert {p["project"] for p in listed[0]["pages"]} == {p.project.slug for p in pages}


def test_emails_of_a_message_listing_several_apps_say_so(event, http_sink):
    from django.core import mail

    owner = responder(http_sink, "email")
    page_all(event, apps("Wiki", "Billing", owner=owner))
    [row] = messages_to(owner)
    assert services.notification_send(notification_id=row.pk, now=MONDAY_10) == "sent"
    [email] = mail.outbox
    assert "2 apps down: Billing, Wiki" in email.subject
    assert "all 2 apps" in email.body and "you support these apps" in email.body
    assert settings.SITE_URL + "/notifications/ack/" in email.body


def test_a_fallback_lists_what_the_failed_message_listed(event, http_sink):
    owner = person_with(
        (ContactMethod.Kind.WEBHOOK, http_sink.url("/gone"), True, True),
        (ContactMethod.Kind.EMAIL, "o@example.com", True, True),
    )
    pages = page_all(event, apps("Wiki", "Billing", owner=owner))
    [first, _email] = messages_to(owner)
    # Both methods had the page: the fallback goes to a method for pages added since (never to
    # the account email, which the person did not choose for pages), listing the same pages.
    ContactMethod.objects.create(
        person=owner, kind=ContactMethod.Kind.WEBHOOK, address=http_sink.url("/new"), order=5
    )
    fallback = services.notification_fall_back(notification=first, now=MONDAY_10)
    assert fallback.address == http_sink.url("/new") and fallback.channel == "webhook"
    assert sorted(fallback.page_ids) == sorted(p.pk for p in pages)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
class TestAtARealSmtpServer:
    """The whole way: IT opens an outage (incidents' service), a real Celery worker sends over
    SMTP to a local server, and the acknowledge link in the one email covers every project."""

    def test_an_owner_of_three_touched_apps_receives_one_email_and_one_ack_covers_them(
        self, celery_worker, smtp_sink, client
    ):
        from django.utils import timezone

        from incidents.services import outages
        from tests.e2e_support import wait_for
        from tests.factories import DependencyFactory, SystemFactory

        celery_worker(smtp_port=smtp_sink.port, STEWARD_LEASE_SECONDS="4")
        system = SystemFactory(name="Core database")
        owner = person_with((ContactMethod.Kind.EMAIL, "olga@example.com", True, True))
        other = person_with((ContactMethod.Kind.EMAIL, "oscar@example.com", True, True))
        projects = apps("Wiki", "Billing", "Atlas", owner=owner)
        ProjectRoleFactory(project=projects[0], person=other, role=ProjectRole.Role.OWNER)
        for project in projects:
            DependencyFactory(source_project=project, target_system=system)
        outage = outages.outage_open(
            actor=it_staff_user(), title="Core database down", systems=[system]
        )

        def delivered():
            return not Notification.objects.filter(state__in=["pending", "sending"]).exists()

        wait_for(delivered, timeout=30, message="the first pages to be delivered")
        to_olga = [m for m in smtp_sink.messages if m["To"] == "olga@example.com"]
        assert len(to_olga) == 1
        [email] = to_olga
        assert "3 apps down: Atlas, Billing, Wiki" in email["Subject"]
        assert "Core database down" in email["Subject"]
        text = email.get_body(preferencelist=("plain",)).get_content()
        for project in projects:
            assert f"/projects/{project.slug}/" in text
        assert [m["To"] for m in smtp_sink.messages].count("oscar@example.com") == 1

        ack = next(
            line.split(settings.SITE_URL)[1].strip()
            for line in text.splitlines()
            if "/notifications/ack/" in line
        )
        assert client.post(ack).status_code == 200
        pages = pages_for_event(outage)
        assert sorted(p.state for p in pages) == ["acknowledged"] * 3
        assert {p.acknowledged_via for p in pages} == {"link"}
        assert services.sweep(now=timezone.now() + dt.timedelta(hours=1)).escalated == 0
