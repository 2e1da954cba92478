"""The portal's pages: project incidents, status pages, insights."""

from django.urls import path

from . import incident_views as views

app_name = "incident_portal"

urlpatterns = [
    path("projects/<slug:slug>/incidents/new/", views.incident_open, name="incident-open"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/updates/", views.incident_update, name="incident-update"),
    path("incidents/<int:pk>/resolve/", views.incident_resolve, name="incident-resolve"),
    path("incidents/<int:pk>/cause/", views.incident_cause, name="incident-cause"),
    path("status/", views.status_index, name="status-index"),
    path("status/<slug:slug>/", views.status_project, name="status-project"),
    path("insights/projects/<slug:slug>/", views.insights_project, name="insights-project"),
    path("insights/systems/<slug:slug>/", views.insights_system, name="insights-system"),
]
