"""RSS and Atom feeds of the status pages (Django's syndication framework): for the whole status
page (`/status/feed.rss`, `/status/feed.atom`) and per project (`/status/<slug>/feed.rss`, …).

They carry what a status page says in public: IT outages and project incidents of the last 30
days (open ones whatever their age) and planned IT maintenance ahead, in public wording only (an
outage's or incident's public summary, "Planned IT maintenance" for a change: never a title,
a system or a person). Readable by anyone while status pages are public, as the pages are.
Three queries per feed whatever the data size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.syndication.views import Feed
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed

from changes.models import Change
from registry.models import Project
from steward.times import utc_stamp

from .models import PLANNED_CHANGE_SUMMARY, Incident, Outage
from .status import change_started_at

FEED_PAST = timedelta(days=30)
FEED_MAX_ITEMS = 200


@dataclass(frozen=True)
class StatusItem:
    kind: str  # "outage", "incident" or "maintenance"
    pk: int
    title: str
    description: str
    link: str
    published_at: datetime
    updated_at: datetime


def status_feed_items(project: Project | None, *, now: datetime | None = None) -> list[StatusItem]:
    """What the feed of the whole status page (`project` None) or of one project carries, newest
    first: three queries."""
    now = now or timezone.now()
    since = now - FEED_PAST
    recent = Q(resolved_at__isnull=True) | Q(resolved_at__gt=since)
    outages = Outage.objects.filter(recent)
    incidents = Incident.objects.filter(recent).select_related("project")
    changes = Change.objects.filter(
        state__in=(Change.State.SCHEDULED, Change.State.IN_PROGRESS), planned_end_at__gt=now
    )
    if project is not None:
        outages = outages.filter(impacted__project=project)
        incidents = incidents.filter(project=project)
        changes = changes.filter(impacted__project=project)
        page = reverse("incident_portal:status-project", args=[project.slug])
        who = project.name
    else:
        changes = changes.filter(impacted__isnull=False)
        page = reverse("incident_portal:status-index")
        who = "Apps"
    items: list[StatusItem] = []
    for outage in outages.distinct().order_by("-started_at")[:FEED_MAX_ITEMS]:
        state = (
            f"Resolved {utc_stamp(outage.resolved_at)}"
            if outage.resolved_at
            else outage.get_status_display()
        )
        items.append(
            StatusItem(
                "outage",
                outage.pk,
                f"IT outage: {outage.public_title}",
                f"{state}. Began {utc_stamp(outage.started_at)}. {who} may be affected.",
                f"{page}#outage-{outage.pk}",
                outage.started_at,
                outage.updated_at,
            )
        )
    for incident in incidents.order_by("-started_at")[:FEED_MAX_ITEMS]:
        state = (
            f"Resolved {utc_stamp(incident.resolved_at)}"
            if incident.resolved_at
            else incident.get_status_display()
        )
        items.append(
            StatusItem(
                "incident",
                incident.pk,
                f"{incident.project.name}: {incident.public_title}",
                f"{incident.get_impact_display()}. {state}. Began {utc_stamp(incident.started_at)}.",
                reverse("incident_portal:incident-detail", args=[incident.pk]),
                incident.started_at,
                incident.updated_at,
            )
        )
    for change in changes.distinct().order_by("planned_start_at")[:FEED_MAX_ITEMS]:
        items.append(
            StatusItem(
                "maintenance",
                change.pk,
                f"{PLANNED_CHANGE_SUMMARY}: {utc_stamp(change.planned_start_at)}",
                f"{PLANNED_CHANGE_SUMMARY} from {utc_stamp(change.planned_start_at)} to "
                f"{utc_stamp(change.planned_end_at)}"
                f"{' (under way)' if change.state == Change.State.IN_PROGRESS else ''}. "
                f"{who} may be slow or unavailable in that time.",
                f"{page}#maintenance-{change.pk}",
                change.scheduled_at or change_started_at(change),
                change.updated_at,
            )
        )
    items.sort(key=lambda i: (i.published_at, i.kind, i.pk), reverse=True)
    return items


class StatusRssFeed(Feed):
    """The whole status page, or one project's (`slug`), as RSS 2.0."""

    item_guid_is_permalink = False

    def get_object(self, request: HttpRequest, slug: str | None = None) -> Project | None:
        if slug is None:
            return None
        return get_object_or_404(Project, slug=slug)

    def title(self, project: Project | None) -> str:
        return f"{project.name} status" if project else "Status of the apps"

    def link(self, project: Project | None) -> str:
        if project is None:
            return reverse("incident_portal:status-index")
        return reverse("incident_portal:status-project", args=[project.slug])

    def description(self, project: Project | None) -> str:
        what = project.name if project else "the apps"
        return f"Outages, incidents and planned IT maintenance of {what}."

    def items(self, project: Project | None) -> list[StatusItem]:
        return status_feed_items(project)

    def item_title(self, item: StatusItem) -> str:
        return item.title

    def item_description(self, item: StatusItem) -> str:
        return item.description

    def item_link(self, item: StatusItem) -> str:
        return item.link

    def item_guid(self, item: StatusItem) -> str:
        return f"steward-status-{item.kind}-{item.pk}"

    def item_pubdate(self, item: StatusItem) -> datetime:
        return item.published_at

    def item_updateddate(self, item: StatusItem) -> datetime:
        return item.updated_at

    def item_categories(self, item: StatusItem) -> list[str]:
        return [item.kind]


class StatusAtomFeed(StatusRssFeed):
    feed_type = Atom1Feed

    def subtitle(self, project: Project | None) -> str:
        return self.description(project)
