from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from integrations import views as integration_views

from .health import healthz
from .login_throttle import ThrottledLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Sign-in counts failures and answers 429 past the limit; the rest is Django's auth views.
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("steward.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", integration_views.metrics, name="metrics"),
    path("v2/enqueue", integration_views.events_enqueue, name="events-enqueue"),
    path("integrations/", include("integrations.urls")),
    path("it/", include("incidents.urls")),
    path("", include("registry.oncall_urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("webhooks.urls")),
    path("", include("incidents.feedback_urls")),
    path("", include("incidents.incident_urls")),
    path("", include("registry.urls")),
]
