import datetime as dt
from collections import Counter
from operator import attrgetter

import pytest

from registry.models import ContactMethod, ProjectRole
from tests.e2e_support import celery_worker, http_sink, smtp_sink  # noqa: F401
from tests.factories import (
    ContactMethodFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
)
from tests.ssrf_support import (  # noqa: F401
    fake_dns,
    loopback_listener,
    production_network_settings,
    production_networks,
)

# A Monday, 10:00 UTC: inside default working hours in UTC.
MONDAY_10 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def system(db):
    return SystemFactory(name="Core database")


@pytest.fixture
def event(system):
    """An outage on one IT system, as incidents describes it to the pipeline (notifications
    never imports incidents: the description is all it knows of the outage)."""
    from incidents.events import outage_event
    from incidents.models import Outage

    outage = Outage.objects.create(title="Core database down")
    outage.systems.set([system])
    return outage_event(outage)


@pytest.fixture
def project(db):
    return ProjectFactory(name="Wiki")


def person_with(*methods, **kwargs):
    """A person with contact methods given as (kind, address, for_pages, for_notices)."""
    person = PersonFactory(**kwargs)
    for order, (kind, address, pages, notices) in enumerate(methods):
        ContactMethodFactory(
            person=person,
            kind=kind,
            address=address,
            for_pages=pages,
            for_notices=notices,
            order=order,
        )
    return person


@pytest.fixture
def responders(project, http_sink):  # noqa: F811
    """Owner (email + webhook), backup (email) for `project`."""
    owner = person_with(
        (ContactMethod.Kind.EMAIL, "owner@example.com", True, True),
        (ContactMethod.Kind.WEBHOOK, http_sink.url("/owner"), True, False),
        display_name="Olga Owner",
    )
    backup = person_with(
        (ContactMethod.Kind.EMAIL, "backup@example.com", True, True), display_name="Bob Backup"
    )
    ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
    ProjectRoleFactory(project=project, person=backup, role=ProjectRole.Role.BACKUP)
    return owner, backup


def build_projects(sink, count, *, channels=("email", "webhook")):
    """`count` projects, each with one owner reachable over the given channels."""
    projects = []
    for i in range(count):
        methods = []
        if "email" in channels:
            methods.append((ContactMethod.Kind.EMAIL, f"owner{i}@example.com", True, True))
        if "webhook" in channels:
            methods.append((ContactMethod.Kind.WEBHOOK, sink.url(f"/o{i}"), True, True))
        if "slack" in channels:
            methods.append((ContactMethod.Kind.SLACK, sink.url(f"/slack{i}"), True, True))
        owner = person_with(*methods, display_name=f"Owner {i}")
        project = ProjectFactory(name=f"App {i}")
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        projects.append(project)
    return projects


def sends_beyond_attempts(counts: Counter, rows, *, key=attrgetter("idempotency_key")) -> dict:
    """What reached its receiver more often than its row records attempts: {key: (requests,
    attempts made)}, after asserting that every row reached it. A second request after a failed
    attempt (a read timeout on a loaded machine: the receiver got it, the worker stopped
    waiting) is an attempt the row records, made with the same key; a message sent again
    because its send was never recorded (a worker killed, a database gone) is not. `counts`:
    requests per key at the sink; `key`: a row's key there (`channels.message_id` for email)."""
    made = {key(n): len(n.attempts_made) for n in rows.prefetch_related("attempt_log")}
    assert set(counts) == set(made)
    return {k: (counts[k], made[k]) for k in made if counts[k] > made[k]}
