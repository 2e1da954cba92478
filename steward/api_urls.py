"""/api/v1/: one router for every app's viewsets, plus the token endpoint."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents import api as incidents_api
from incidents import incident_api
from incidents.feedback_api import ReportViewSet, SubscriptionViewSet
from notifications import api as notifications_api
from registry import oncall_api
from registry.api import views as registry_api
from registry.catalog_api import CatalogExportView, CatalogImportView
from registry.csv_api import RegistryExportView, RegistryImportView
from webhooks import api as webhooks_api

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
router.register("rotations", oncall_api.RotationViewSet, basename="rotation")
router.register(
    "escalation-policies", oncall_api.EscalationPolicyViewSet, basename="escalation-policy"
)

# incidents
router.register("changes", incidents_api.ChangeViewSet, basename="change")
router.register("outages", incidents_api.OutageViewSet, basename="outage")
router.register("reports", ReportViewSet, basename="report")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("incidents", incident_api.IncidentViewSet, basename="incident")
router.register("status", incident_api.StatusViewSet, basename="status")

# notifications
router.register("notifications", notifications_api.NotificationViewSet, basename="notification")
router.register("webhooks", webhooks_api.WebhookEndpointViewSet, basename="webhook")

urlpatterns = [
    path("auth/token/", registry_api.TokenView.as_view(), name="api-token"),
    path("catalog/import/", CatalogImportView.as_view(), name="catalog-import"),
    path("catalog/export/", CatalogExportView.as_view(), name="catalog-export"),
    path("registry/import/", RegistryImportView.as_view(), name="registry-import"),
    path("registry/export/", RegistryExportView.as_view(), name="registry-export"),
    path("", include(router.urls)),
]
