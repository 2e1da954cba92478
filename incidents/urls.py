"""URLs of incidents. `steward.urls` mounts `urlpatterns` (IT outages) at `it/` in the `incidents`
namespace, beside the IT changes of `changes.urls`, and `incident_urlpatterns` (project incidents,
status pages, insights) at the site root in the `incident_portal` namespace. The namespaces are
older than the app split and stay."""

from django.urls import path

from .feeds import StatusAtomFeed, StatusRssFeed
from .views import incidents, outages, rollups
from .views.incidents import status_visible

urlpatterns = [
    path("outages/", outages.outage_list, name="outage-list"),
    path("outages/new/", outages.outage_open, name="outage-open"),
    path("outages/<int:pk>/", outages.outage_detail, name="outage-detail"),
    path("outages/<int:pk>/update/", outages.outage_update, name="outage-update"),
    path("outages/<int:pk>/resolve/", outages.outage_resolve, name="outage-resolve"),
]

incident_urlpatterns = [
    path("projects/<slug:slug>/incidents/new/", incidents.incident_open, name="incident-open"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/updates/", incidents.incident_update, name="incident-update"),
    path("incidents/<int:pk>/resolve/", incidents.incident_resolve, name="incident-resolve"),
    path("incidents/<int:pk>/cause/", incidents.incident_cause, name="incident-cause"),
    path("status/", incidents.status_index, name="status-index"),
    path("status/feed.rss", status_visible(StatusRssFeed()), name="status-feed-rss"),
    path("status/feed.atom", status_visible(StatusAtomFeed()), name="status-feed-atom"),
    path(
        "status/<slug:slug>/feed.rss",
        status_visible(StatusRssFeed()),
        name="status-project-feed-rss",
    ),
    path(
        "status/<slug:slug>/feed.atom",
        status_visible(StatusAtomFeed()),
        name="status-project-feed-atom",
    ),
    path("status/<slug:slug>/", incidents.status_project, name="status-project"),
    path("insights/projects/<slug:slug>/", incidents.insights_project, name="insights-project"),
    path("insights/systems/<slug:slug>/", incidents.insights_system, name="insights-system"),
    path("service-levels/", rollups.rollup_company, name="rollup-company"),
    path("service-levels/teams/<slug:slug>/", rollups.rollup_team, name="rollup-team"),
]
