"""Demo data for the portal: OraTweet's incident history (one resolved incident in the last 90
days and one open now), so that the status pages, the banner and the insights have something to
show. Idempotent: running it again finds what it made (by project and title) and adds nothing.
Called from the `load_demo` command after `registry.demo.load_demo()`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from registry.models import Project

from .models import Incident, IncidentUpdate
from .services import incidents as incident_services

RESOLVED_TITLE = "Timeline does not load"
OPEN_TITLE = "Posting a tweet is slow"


def _resolved_incident(project: Project, now: datetime) -> Incident:
    """History, not news: written as rows, so that nobody is messaged about last month."""
    started = (now - timedelta(days=21)).replace(hour=2, minute=10, second=0, microsecond=0)
    incident = Incident.objects.create(
        project=project,
        title=RESOLVED_TITLE,
        impact=Incident.Impact.MAJOR,
        status=Incident.Status.RESOLVED,
        started_at=started,
        acknowledged_at=started + timedelta(minutes=38),
        resolved_at=started + timedelta(hours=4, minutes=5),
    )
    timeline = [
        (0, "investigating", "Users in APAC report an empty timeline. We are investigating."),
        (38, "identified", "The database connection pool is exhausted; restarting the app tier."),
        (95, "monitoring", "Timelines load again; watching the pool."),
        (245, "resolved", "Resolved. The pool size is raised and alerts are added."),
    ]
    IncidentUpdate.objects.bulk_create(
        IncidentUpdate(
            incident=incident,
            status=status,
            message=message,
            created_at=started + timedelta(minutes=minutes),
        )
        for minutes, status, message in timeline
    )
    return incident


@transaction.atomic
def load_portal_demo(*, now: datetime | None = None) -> dict[str, int]:
    """Returns the ids of OraTweet's demo incidents; {} when there is no OraTweet."""
    now = now or timezone.now()
    project = Project.objects.filter(slug="oratweet").first()
    if project is None:
        return {}
    resolved = Incident.objects.filter(project=project, title=RESOLVED_TITLE).first()
    if resolved is None:
        resolved = _resolved_incident(project, now)
    current = Incident.objects.filter(project=project, title=OPEN_TITLE).first()
    if current is None:
        current = incident_services.incident_open(
            actor=None,
            project=project,
            title=OPEN_TITLE,
            impact=Incident.Impact.DEGRADED,
            message="Posting takes up to 20 seconds for some users. We are investigating.",
            started_at=now - timedelta(minutes=40),
            now=now - timedelta(minutes=35),
        )
        incident_services.incident_update_post(
            actor=None,
            incident=current,
            status=Incident.Status.IDENTIFIED,
            message="A slow query on the Oracle RAC; a fix is on its way.",
            now=now - timedelta(minutes=10),
        )
    return {"resolved": resolved.pk, "open": current.pk}
