"""A change's or outage's notices to the owners and maintainers of the touched projects are
written in one batch: the same rows and keys as one `notices_send` per project, in a fixed number
of queries however many projects there are."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes import events
from changes.models import Change
from notifications import services as delivery
from notifications.models import Notification
from registry.models import ContactMethod, Project, ProjectRole
from tests.factories import (
    ContactMethodFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, inside default working hours
ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _projects(count: int, *, shared=None) -> list[int]:
    """`count` projects, each with an owner (email and webhook) and a maintainer; `shared`, when
    given, is also a maintainer of every one of them."""
    ids = []
    for i in range(count):
        project = ProjectFactory()
        owner = PersonFactory(working_hours=ALL_DAY)
        ContactMethodFactory(
            person=owner, kind=ContactMethod.Kind.WEBHOOK, address=f"https://hook.test/{i}"
        )
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        ProjectRoleFactory(project=project, role=ProjectRole.Role.MAINTAINER)
        if shared is not None:
            ProjectRoleFactory(project=project, person=shared, role=ProjectRole.Role.MAINTAINER)
        ids.append(project.pk)
    return ids


def _change() -> events.Event:
    change = Change.objects.create(
        title="Database upgrade", planned_start_at=NOW, planned_end_at=NOW.replace(hour=12)
    )
    change.systems.set([SystemFactory()])
    return events.change_event(change)


def _notify(event, project_ids, topic="change.scheduled") -> int:
    return events.owners_notify(
        event=event,
        topic=topic,
        project_ids=project_ids,
        subject="IT change scheduled",
        body="b",
        link="https://steward.test/c/1",
        now=NOW,
    )


def test_notifying_many_projects_takes_as_many_queries_as_notifying_two():
    event = _change()
    few, many = _projects(2), _projects(12)
    _notify(event, [])  # the content type, read once per process
    with CaptureQueriesContext(connection) as two:
        assert _notify(event, few) > 0
    with CaptureQueriesContext(connection) as twelve:
        assert _notify(event, many) > 0
    assert len(twelve) == len(two) <= 8
    # One insert for all twelve projects' rows: it takes their ids from the sequence in one
    # statement, then COPYs them (the COPY goes to the driver and is not captured).
    [_ids] = [q for q in twelve.captured_queries if "nextval" in q["sql"]]


def test_the_batch_writes_the_rows_and_keys_of_one_notices_send_per_project():
    shared = PersonFactory()
    project_ids = _projects(3, shared=shared)
    batched, single = _change(), _change()
    written = _notify(batched, project_ids)
    for project_id, people in events._notice_roles(project_ids).items():
        delivery.notices_send(
            event=single,
            topic="change.scheduled",
            recipients=people,
            subject="IT change scheduled",
            body="b",
            link="https://steward.test/c/1",
            project=Project.objects.get(pk=project_id),
            now=NOW,
        )

    def _key_without_event(key):
        # n:<event type>:<event id>:…; the two ids may be equal, so by position, not by value.
        parts = key.split(":")
        parts[2] = "E"
        return ":".join(parts)

    def rows(event):
        return sorted(
            (
                _key_without_event(n.idempotency_key),
                n.project_id,
                n.recipient_id,
                n.channel,
                n.address,
                n.state,
                n.deliver_after,
            )
            for n in Notification.objects.filter(event_id=event.pk)
        )

    assert written == len(rows(batched)) > 0
    assert rows(batched) == rows(single)
    # The shared maintainer hears once, about the first project (the key has no project).
    [first] = [r for r in rows(batched) if r[2] == shared.pk]
    assert first[1] == project_ids[0]
    # Idempotent: a second batch writes nothing.
    assert _notify(batched, project_ids) == 0
