"""One small registry with an object of every kind and a user for every role, built through the
services, for the hostile-client tests (Schemathesis, the authorisation matrix, XSS, CSRF).

Roles: anonymous, reader (signed in, no role anywhere), other_owner (owns another project),
owner (owns `project`, is its on-call, has a page and a subscription), it (IT staff), admin.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework.authtoken.models import Token

from changes import services as change_services
from changes.models import Blackout, Change, MaintenanceWindow
from changes.windows import blackout_save, maintenance_window_open
from incidents.models import Incident, Outage, Subscription
from incidents.services import outages as outage_services
from integrations.models import Heartbeat
from integrations.services import heartbeat_create
from notifications.models import Notification
from oncall import services as oncall_services
from oncall.models import Rotation
from portal.models import ProblemReport, ReportGroup, SystemProblemReport
from portal.services.reports import report_submit
from portal.services.system_problems import system_problem_report
from registry.models import (
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectAlias,
    Team,
)
from registry.services import dependency_add
from reviews import services as review_services
from reviews.models import ActionItem, Review
from tests.factories import (
    IncidentFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SubscriptionFactory,
    SystemFactory,
    TeamFactory,
    it_staff_user,
)
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create

ROLES = ("anonymous", "reader", "other_owner", "owner", "it", "admin")


@dataclass
class World:
    users: dict[str, AbstractBaseUser | None]
    people: dict[str, Person]
    project: Project
    other_project: Project
    system: ITSystem
    spare_system: ITSystem
    team: Team
    dependency: Dependency
    rotation: Rotation
    override_id: int
    policy_id: int
    change: Change
    outage: Outage
    incident: Incident
    notification: Notification
    subscription: Subscription
    contact: ContactMethod
    report: ProblemReport
    report_group: ReportGroup
    # IT's own rotation of `system`; the other owner's report that `spare_system` fails.
    system_rotation: Rotation
    system_report: SystemProblemReport
    webhook: WebhookEndpoint
    system_webhook: WebhookEndpoint
    webhook_delivery: Notification
    heartbeat: Heartbeat
    window: MaintenanceWindow
    blackout: Blackout
    # A resolved incident of `project` with its review and an action item of the owner's, and
    # the review of a resolved IT outage (written as history: nobody is paged).
    past_incident: Incident
    review: Review
    outage_review: Review
    action_item: ActionItem
    tokens: dict[str, str] = field(default_factory=dict)

    def token_headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Token {token}"} if token else {}


def world_build(**texts: str) -> World:
    """Build the world. `texts` replace the free text of every object (for the XSS tests):
    `name`, `description`, `title`, `public_summary`, `message`, `display_name`, `url`."""
    name = texts.get("name", "")
    description = texts.get("description", "A side project")
    title = texts.get("title", "Trouble")
    public_summary = texts.get("public_summary", "")
    message = texts.get("message", "Looking into it")
    display = texts.get("display_name", "")

    def person(username: str, **kwargs) -> Person:
        return PersonFactory(
            user__username=username,
            display_name=f"{display}{username.title()}" if display else username.title(),
            **kwargs,
        )

    reader = person("reader")
    other_owner = person("otherowner")
    owner = person("owner")
    it_user = it_staff_user(
        user__username="itstaff", display_name=f"{display}IT" if display else "IT Staff"
    )
    admin = person("admin", user__is_superuser=True, user__is_staff=True)

    team = TeamFactory(name=f"{name}Team" if name else "Team Blue", slug="team-blue")
    project = ProjectFactory(
        name=f"{name}Owned app" if name else "Owned app",
        slug="owned-app",
        description=description,
        help_channel=f"{name}#help" if name else "#owned-help",
        team=team,
    )
    ProjectAlias.objects.create(project=project, alias=f"{name}alias" if name else "owned")
    other_project = ProjectFactory(name="Other app", slug="other-app")
    ProjectRoleFactory(project=project, person=owner)
    ProjectRoleFactory(project=other_project, person=other_owner)
    system = SystemFactory(
        name=f"{name}Database" if name else "Database",
        slug="database",
        description=description,
    )
    dependency = dependency_add(
        actor=None, source_project=project, target_system=system, note=description
    )

    rotation = oncall_services.rotation_create(
        actor=owner.user, name=f"{name}Primary" if name else "Primary", project=project
    )
    oncall_services.layer_create(
        actor=owner.user,
        rotation=rotation,
        members=[owner],
        time_zone="UTC",
        start_date=dt.date(2024, 1, 1),
        handoff_time=dt.time(9, 0),
        length="weekly",
    )
    now = timezone.now()
    override = oncall_services.override_create(
        actor=owner.user,
        rotation=rotation,
        person=owner,
        start_at=now + dt.timedelta(days=30),
        end_at=now + dt.timedelta(days=31),
        reason=description[:200],
    )
    policy = oncall_services.escalation_policy_create(
        actor=owner.user, project=project, levels=[{"target": "rotation", "rotation": rotation}]
    )

    change = change_services.change_create(
        actor=it_user,
        title=title,
        description=description,
        planned_start_at=now + dt.timedelta(days=2),
        planned_end_at=now + dt.timedelta(days=2, hours=2),
        systems=[system],
        rollback_plan=description,
    )
    webhook = webhook_endpoint_create(
        actor=owner.user,
        project=project,
        url="https://hooks.example.com/owned",
        description=description[:200],
    )
    system_webhook = webhook_endpoint_create(
        actor=it_user, system=system, url="https://hooks.example.com/database"
    )
    change_services.change_schedule(actor=it_user, change=change)
    outage = outage_services.outage_open(
        actor=it_user,
        title=title,
        public_summary=public_summary,
        description=description,
        systems=[system],
    )
    outage_services.outage_update(actor=it_user, outage=outage, message=message)
    incident = IncidentFactory(project=project, title=title, public_summary=public_summary)
    past_incident = IncidentFactory(
        project=project,
        title=title,
        public_summary=public_summary,
        started_at=now - dt.timedelta(days=3),
    )
    Incident.objects.filter(pk=past_incident.pk).update(
        status="resolved", resolved_at=now - dt.timedelta(days=3) + dt.timedelta(hours=1)
    )
    past_incident.refresh_from_db()
    review = review_services.review_start(actor=None, incident=past_incident)
    review_services.review_edit(actor=None, review=review, impact=description, to_change=message)
    action_item = review_services.action_item_add(
        actor=None,
        review=review,
        title=title,
        owner=owner,
        due_on=(now + dt.timedelta(days=7)).date(),
        tracker_url="https://issues.example.com/OPS-1",
    )
    past_outage = Outage.objects.create(
        title=title,
        status="resolved",
        started_at=now - dt.timedelta(days=5),
        resolved_at=now - dt.timedelta(days=5) + dt.timedelta(hours=2),
    )
    past_outage.systems.set([system])
    outage_review = review_services.review_start(actor=None, outage=past_outage)
    notification = Notification.objects.filter(recipient=owner, page__isnull=False).first()
    # A finished delivery, so that it can be redelivered (nothing sends in these tests).
    webhook_delivery = webhook.deliveries.order_by("id").first()
    Notification.objects.filter(pk=webhook_delivery.pk).update(state="failed")
    assert notification is not None, "the outage pages the owner, who is on call"
    subscription = SubscriptionFactory(
        project=project, person=owner, address=owner.email, channel="email"
    )
    contact = ContactMethod.objects.create(
        person=owner, kind=ContactMethod.Kind.EMAIL, address=owner.email, label=name or "work"
    )
    outcome = report_submit(
        actor=reader.user, project=other_project, description=description or "broken"
    )
    report = ProblemReport.objects.get(pk=outcome.report.pk)
    spare_system = SystemFactory(name="Printers", slug="printers")
    dependency_add(actor=None, source_project=other_project, target_system=spare_system)
    system_report = system_problem_report(
        actor=other_owner.user,
        system=spare_system,
        project=other_project,
        description=description or "Printing fails",
    ).report
    system_rotation = oncall_services.rotation_create(
        actor=it_user, name=f"{name}IT on call" if name else "IT on call", system=system
    )

    users = {
        "anonymous": None,
        "reader": reader.user,
        "other_owner": other_owner.user,
        "owner": owner.user,
        "it": it_user,
        "admin": admin.user,
    }
    world = World(
        users=users,
        people={
            "reader": reader,
            "other_owner": other_owner,
            "owner": owner,
            "it": it_user.person,
            "admin": admin,
        },
        project=project,
        other_project=other_project,
        system=system,
        spare_system=spare_system,
        team=team,
        dependency=dependency,
        rotation=rotation,
        override_id=override.pk,
        policy_id=policy.pk,
        change=change,
        outage=outage,
        incident=incident,
        notification=notification,
        subscription=subscription,
        contact=contact,
        report=report,
        report_group=report.group,
        system_rotation=system_rotation,
        system_report=system_report,
        webhook=webhook,
        system_webhook=system_webhook,
        webhook_delivery=webhook_delivery,
        heartbeat=heartbeat_create(system=system, name="cron", interval_minutes=60),
        window=maintenance_window_open(
            actor=it_user,
            title=title,
            systems=[spare_system],
            starts_at=now + dt.timedelta(days=5),
            ends_at=now + dt.timedelta(days=5, hours=1),
        ),
        blackout=blackout_save(
            actor=it_user,
            title=title,
            reason=description[:200],
            system=None,
            time_zone="Europe/Berlin",
            start_date=(now + dt.timedelta(days=30)).date(),
            start_time=dt.time(8),
            end_date=(now + dt.timedelta(days=30)).date(),
            end_time=dt.time(12),
            rrule="FREQ=WEEKLY;COUNT=4",
        ),
        past_incident=past_incident,
        review=review,
        outage_review=outage_review,
        action_item=action_item,
    )
    for role, user in users.items():
        if user is not None:
            world.tokens[role] = Token.objects.get_or_create(user=user)[0].key
    return world
