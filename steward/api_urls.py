"""/api/v1/: one router for every app's viewsets, plus the token endpoint."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter
from rest_framework.urlpatterns import format_suffix_patterns

from changes import api as changes_api
from changes import windows_api
from directory.urls import api_urlpatterns as directory_api_urls
from hygiene.api import HygieneView
from imports.api import (
    CatalogExportView,
    CatalogImportView,
    RegistryExportView,
    RegistryImportView,
)
from incidents.api import incidents as incidents_api
from incidents.api import outages as outages_api
from notifications import api as notifications_api
from oncall import api as oncall_api
from portal.api import ReportViewSet, SubscriptionViewSet, SystemProblemReportViewSet
from registry.api import views as registry_api
from reviews import api as reviews_api
from webhooks import api as webhooks_api

from .api import SLUG

router = DefaultRouter()

# registry
router.register("people", registry_api.PersonViewSet, basename="person")
router.register(
    r"people/(?P<person_pk>[0-9]+)/contact-methods",
    registry_api.ContactMethodViewSet,
    basename="contact-method",
)
router.register("teams", registry_api.TeamViewSet, basename="team")
router.register("projects", registry_api.ProjectViewSet, basename="project")
router.register("systems", registry_api.SystemViewSet, basename="system")
router.register("dependencies", registry_api.DependencyViewSet, basename="dependency")
router.register("audit", registry_api.AuditEntryViewSet, basename="audit-entry")

# oncall
router.register("rotations", oncall_api.RotationViewSet, basename="rotation")
router.register(
    "escalation-policies", oncall_api.EscalationPolicyViewSet, basename="escalation-policy"
)

# changes, incidents and the portal
router.register("changes", changes_api.ChangeViewSet, basename="change")
router.register(
    "maintenance-windows", windows_api.MaintenanceWindowViewSet, basename="maintenance-window"
)
router.register("blackouts", windows_api.BlackoutViewSet, basename="blackout")
router.register("outages", outages_api.OutageViewSet, basename="outage")
router.register("reports", ReportViewSet, basename="report")
router.register("system-reports", SystemProblemReportViewSet, basename="system-report")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("incidents", incidents_api.IncidentViewSet, basename="incident")
router.register("status", incidents_api.StatusViewSet, basename="status")
router.register("reviews", reviews_api.ReviewViewSet, basename="review")
router.register("action-items", reviews_api.ActionItemViewSet, basename="action-item")

# notifications
router.register("notifications", notifications_api.NotificationViewSet, basename="notification")
router.register("webhooks", webhooks_api.WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    path("auth/token/", registry_api.TokenView.as_view(), name="api-token"),
    path("catalog/import/", CatalogImportView.as_view(), name="catalog-import"),
    path("catalog/export/", CatalogExportView.as_view(), name="catalog-export"),
    path("registry/import/", RegistryImportView.as_view(), name="registry-import"),
    path("registry/export/", RegistryExportView.as_view(), name="registry-export"),
    path("registry/hygiene/", HygieneView.as_view(), name="registry-hygiene"),
    path("oncall/now/", oncall_api.OnCallNowView.as_view(), name="oncall-now"),
    # Beside the projects viewset (registry), answered by on-call: who supports it now.
    *format_suffix_patterns(
        [
            re_path(
                rf"^projects/(?P<slug>{SLUG})/support/$",
                oncall_api.ProjectSupportView.as_view(),
                name="project-support",
            ),
            # Answered by changes: what its owners and their CI released.
            re_path(
                rf"^projects/(?P<slug>{SLUG})/releases/$",
                changes_api.ProjectReleasesView.as_view(),
                name="project-releases",
            ),
        ]
    ),
    # Answered by directory: IT marks people as left or back; an orphaned project is adopted.
    *format_suffix_patterns(directory_api_urls),
    path("", include(router.urls)),
]
