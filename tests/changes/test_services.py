"""Changes through their services, against PostgreSQL: transitions allowed and refused, the
impact snapshot with transitive paths, moved windows, answers, reminders."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from changes import selectors
from changes import services as change_services
from changes.models import Change, ChangeReminder, ChangeResponse, ImpactedProject
from steward.errors import Conflict
from tests.factories import PersonFactory, ProjectRoleFactory

from .conftest import edge
from .notified import notice_recipients, notification_count

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)  # a Monday
START = NOW + timedelta(days=2)
END = START + timedelta(hours=2)


def draft(it_user, systems, **fields):
    return change_services.change_create(
        actor=it_user,
        title=fields.pop("title", "Patch SSO"),
        planned_start_at=fields.pop("planned_start_at", START),
        planned_end_at=fields.pop("planned_end_at", END),
        systems=systems,
        **fields,
    )


def scheduled(it_user, systems, **fields):
    change = draft(it_user, systems, **fields)
    return change_services.change_schedule(actor=it_user, change=change, now=NOW)


# --- changes: create and validate -------------------------------------------------------------


def test_a_new_change_is_a_draft_with_default_reminders_and_tells_nobody(graph, it_user):
    change = draft(it_user, [graph.dc])

    assert change.state == Change.State.DRAFT
    assert change.reminder_lead_minutes == [1440, 60]
    assert list(change.systems.all()) == [graph.dc]
    assert change.author == it_user
    assert not ImpactedProject.objects.exists()
    assert notification_count() == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"planned_end_at": START - timedelta(minutes=1)}, "planned_end_at"),
        ({"planned_end_at": START}, "planned_end_at"),
        ({"title": ""}, "title"),
        ({"type": "whenever"}, "type"),
        ({"reminder_lead_minutes": [0]}, "reminder_lead_minutes"),
        ({"reminder_lead_minutes": "60"}, "reminder_lead_minutes"),
    ],
)
def test_bad_change_fields_are_refused_naming_the_field(graph, it_user, fields, field):
    with pytest.raises(ValidationError) as exc:
        draft(it_user, [graph.dc], **fields)

    assert field in exc.value.message_dict
    assert not Change.objects.exists()


def test_a_change_needs_systems(graph, it_user):
    with pytest.raises(ValidationError) as exc:
        draft(it_user, [])

    assert "systems" in exc.value.message_dict
    assert not Change.objects.exists()


def test_a_change_goes_draft_scheduled_in_progress_completed_with_the_time_of_each(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    assert (change.state, change.scheduled_at) == (Change.State.SCHEDULED, NOW)

    change_services.change_start(actor=it_user, change=change, now=START)
    change_services.change_complete(actor=it_user, change=change, now=END)

    change.refresh_from_db()
    assert change.state == Change.State.COMPLETED
    assert (change.started_at, change.completed_at) == (START, END)


@pytest.mark.parametrize(
    ("steps", "refused", "message"),
    [
        ([], change_services.change_complete, "A draft change cannot be completed."),
        ([], change_services.change_start, "A draft change cannot be started."),
        (
            [change_services.change_schedule],
            change_services.change_schedule,
            "A scheduled change cannot be scheduled.",
        ),
        (
            [change_services.change_schedule],
            change_services.change_complete,
            "A scheduled change cannot be completed.",
        ),
        (
            [change_services.change_schedule, change_services.change_start],
            change_services.change_cancel,
            "An in progress change cannot be cancelled.",
        ),
        (
            [change_services.change_cancel],
            change_services.change_schedule,
            "A cancelled change cannot be scheduled.",
        ),
    ],
)
def test_refused_transitions_are_conflicts_that_name_them_and_send_nothing(
    graph, it_user, steps, refused, message
):
    change = draft(it_user, [graph.dc])
    for step in steps:
        step(actor=it_user, change=change, now=NOW)
    state, sent = Change.objects.get().state, notification_count()

    with pytest.raises(Conflict) as exc:
        refused(actor=it_user, change=change, now=NOW)

    assert exc.value.message == message
    assert Change.objects.get().state == state
    assert notification_count() == sent


def test_a_completed_change_cannot_be_edited(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    change_services.change_start(actor=it_user, change=change, now=START)
    change_services.change_complete(actor=it_user, change=change, now=END)

    with pytest.raises(Conflict, match="A completed change cannot be edited."):
        change_services.change_update(actor=it_user, change=change, title="Sneaky")
    assert Change.objects.get().title == "Patch SSO"


def test_only_a_draft_can_be_deleted(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    with pytest.raises(Conflict):
        change_services.change_delete(actor=it_user, change=change)
    other = draft(it_user, [graph.sso], title="Other")
    change_services.change_delete(actor=it_user, change=other)
    assert list(Change.objects.values_list("title", flat=True)) == ["Patch SSO"]


# --- changes: impact snapshot and notices ------------------------------------------------------


def test_scheduling_snapshots_transitive_impact_and_notifies_owners_and_not_backups(graph, it_user):
    change = scheduled(it_user, [graph.dc])

    snapshot = {i.project.slug: i for i in change.impacted.select_related("project")}
    assert set(snapshot) == {"people", "connect"}
    assert snapshot["people"].path == ["SSO", "Datacenter Austin"]
    assert snapshot["people"].path_display == "People → SSO → Datacenter Austin"
    assert (snapshot["people"].all_hard, snapshot["people"].depth) == (True, 2)
    assert snapshot["connect"].all_hard is False
    assert notice_recipients(change, "change.scheduled") == {
        graph.people_owner.pk,
        graph.connect_owner.pk,
    }


def test_the_snapshot_does_not_follow_later_registry_edits(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    edge(graph.wiki, graph.dc)

    assert set(change.impacted.values_list("project__slug", flat=True)) == {"people", "connect"}


def test_scheduling_plans_reminders_and_the_periodic_task_sends_each_once(graph, it_user):
    change = scheduled(it_user, [graph.sso])
    due = dict(ChangeReminder.objects.values_list("lead_minutes", "due_at"))
    assert due == {1440: START - timedelta(days=1), 60: START - timedelta(hours=1)}

    assert change_services.change_reminders_send_due(now=START - timedelta(hours=25)) == 0
    assert change_services.change_reminders_send_due(now=START - timedelta(hours=23)) == 1
    assert change_services.change_reminders_send_due(now=START - timedelta(hours=23)) == 0
    assert notice_recipients(change, "change.reminder.24h") == {graph.people_owner.pk}
    assert notice_recipients(change, "change.reminder.1h") == set()


def test_reminders_already_past_are_not_planned_and_cancel_drops_the_rest(graph, it_user):
    change = draft(it_user, [graph.sso], planned_start_at=NOW + timedelta(hours=3))
    change_services.change_schedule(actor=it_user, change=change, now=NOW)
    assert list(ChangeReminder.objects.values_list("lead_minutes", flat=True)) == [60]

    change_services.change_cancel(actor=it_user, change=change, now=NOW)

    assert not ChangeReminder.objects.exists()
    assert notice_recipients(change, "change.cancelled") == {graph.people_owner.pk}


def test_cancelling_a_draft_tells_nobody(graph, it_user):
    change = draft(it_user, [graph.dc])
    change_services.change_cancel(actor=it_user, change=change, now=NOW)
    assert Change.objects.get().state == Change.State.CANCELLED
    assert notification_count() == 0


def test_completing_notifies_the_touched_owners(graph, it_user):
    change = scheduled(it_user, [graph.mail])
    change_services.change_start(actor=it_user, change=change, now=START)
    change_services.change_complete(actor=it_user, change=change, now=END)
    assert notice_recipients(change, "change.completed") == {graph.connect_owner.pk}


def test_moving_the_systems_tells_newly_touched_no_longer_touched_and_still_touched_owners(
    graph, it_user
):
    change = scheduled(it_user, [graph.sso, graph.mail])  # People and Connect

    change_services.change_update(
        actor=it_user, change=change, systems=[graph.sso, graph.database], now=NOW
    )  # People and Wiki

    change.refresh_from_db()
    assert change.revision == 1
    assert set(change.impacted.values_list("project__slug", flat=True)) == {"people", "wiki"}
    moved = notice_recipients(change, "change.moved.r1", with_subject=True)
    assert moved == {
        (graph.wiki_owner.pk, "IT change now affects your project: Patch SSO"),
        (graph.connect_owner.pk, "IT change no longer affects your project: Patch SSO"),
        (graph.people_owner.pk, "IT change moved: Patch SSO"),
    }


def test_moving_the_window_replans_reminders_and_a_second_move_is_told_again(graph, it_user):
    change = scheduled(it_user, [graph.sso])
    later = START + timedelta(days=1)

    change_services.change_update(
        actor=it_user,
        change=change,
        planned_start_at=later,
        planned_end_at=later + timedelta(hours=1),
        now=NOW,
    )
    change_services.change_update(
        actor=it_user, change=change, planned_start_at=START, planned_end_at=END, now=NOW
    )

    assert notice_recipients(change, "change.moved.r1") == {graph.people_owner.pk}
    assert notice_recipients(change, "change.moved.r2") == {graph.people_owner.pk}
    assert dict(ChangeReminder.objects.values_list("lead_minutes", "due_at")) == {
        1440: START - timedelta(days=1),
        60: START - timedelta(hours=1),
    }


def test_editing_a_scheduled_change_without_moving_it_tells_nobody(graph, it_user):
    change = scheduled(it_user, [graph.sso])
    sent = notification_count()

    change_services.change_update(
        actor=it_user, change=change, title="Patch SSO (v2)", systems=[graph.sso]
    )

    assert Change.objects.get().revision == 0
    assert notification_count() == sent


def test_a_move_that_ends_before_it_starts_changes_nothing_and_sends_nothing(graph, it_user):
    change = scheduled(it_user, [graph.sso])
    sent = notification_count()

    with pytest.raises(ValidationError) as exc:
        change_services.change_update(
            actor=it_user, change=change, planned_end_at=START - timedelta(hours=1), now=NOW
        )

    assert "planned_end_at" in exc.value.message_dict
    assert Change.objects.get().planned_end_at == END
    assert notification_count() == sent


# --- changes: answers ------------------------------------------------------------------------------


def test_an_owner_answers_and_answering_again_updates(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    owner = graph.people_owner.user

    change_services.change_respond(
        actor=owner, change=change, answer="concern", comment="Payroll runs"
    )
    change_services.change_respond(actor=owner, change=change, answer="fine")

    response = ChangeResponse.objects.get()
    assert (response.project, response.person, response.answer) == (
        graph.people,
        graph.people_owner,
        "fine",
    )


def test_a_backup_on_a_touched_project_may_answer_but_an_outsider_may_not(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    change_services.change_respond(actor=graph.people_backup.user, change=change, answer="fine")

    for outsider in (graph.wiki_owner.user, PersonFactory().user, it_user):
        with pytest.raises(PermissionDenied):
            change_services.change_respond(actor=outsider, change=change, answer="fine")
    assert ChangeResponse.objects.count() == 1


def test_a_concern_needs_a_comment_and_someone_on_two_projects_names_one(graph, it_user):
    change = scheduled(it_user, [graph.dc])
    ProjectRoleFactory(project=graph.connect, person=graph.people_owner)
    owner = graph.people_owner.user

    with pytest.raises(ValidationError) as exc:
        change_services.change_respond(
            actor=owner, change=change, answer="concern", project=graph.people
        )
    assert "comment" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        change_services.change_respond(actor=owner, change=change, answer="fine")
    assert "project" in exc.value.message_dict

    change_services.change_respond(actor=owner, change=change, answer="fine", project=graph.connect)
    assert ChangeResponse.objects.get().project == graph.connect


def test_a_draft_cannot_be_answered(graph, it_user):
    change = draft(it_user, [graph.dc])
    with pytest.raises(Conflict, match="A draft change cannot be answered."):
        change_services.change_respond(actor=graph.people_owner.user, change=change, answer="fine")


# --- preview ---------------------------------------------------------------------------------------


def test_preview_lists_projects_with_paths_owners_and_who_is_outside_working_hours(graph):
    preview = selectors.impact_preview(systems=[graph.dc], at=START)

    assert [p.impact.path_display for p in preview.projects] == [
        "Connect → Mail → Datacenter Austin",
        "People → SSO → Datacenter Austin",
    ]
    assert {o.person.pk for o in preview.owners} == {graph.people_owner.pk, graph.connect_owner.pk}
    assert preview.owners_outside_hours == 1
    assert selectors.impact_preview(systems=[], at=START).project_count == 0


# --- outages -----------------------------------------------------------------------------------------


def test_the_periodic_task_sends_due_reminders_once_however_often_it_runs(graph, it_user):
    from changes.tasks import due_reminders

    start = datetime.now(UTC) + timedelta(minutes=30)
    change = draft(
        it_user, [graph.sso], planned_start_at=start, planned_end_at=start + timedelta(hours=1)
    )
    change_services.change_schedule(actor=it_user, change=change, now=start - timedelta(hours=2))
    assert ChangeReminder.objects.get().lead_minutes == 60  # the 24 h one was already past

    assert due_reminders.apply().get() == 1
    assert due_reminders.apply().get() == 0
    assert notice_recipients(change, "change.reminder.1h") == {graph.people_owner.pk}
    assert ChangeReminder.objects.get().sent_at is not None
