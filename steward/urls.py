from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from imports import urls as imports_urls
from incidents import change_feeds
from integrations import views as integration_views
from oncall import urls as oncall_urls
from registry import urls as registry_urls

from .health import healthz
from .login_throttle import ThrottledLoginView

# The IT change calendar is served at a person's calendar-feed token, beside their on-call shifts,
# under the on-call namespace (`oncall:change_feed`); `oncall` itself does not import incidents.
oncall_patterns = [
    *oncall_urls.urlpatterns,
    path("feeds/changes/<str:token>.ics", change_feeds.change_feed, name="change_feed"),
]

# The import and export pages (the imports app) keep the `registry:` URL names they always had:
# one namespace for both, mounted here, since the registry may not import the app above it.
registry_pages = (registry_urls.urlpatterns + imports_urls.urlpatterns, registry_urls.app_name)

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
    path("", include((oncall_patterns, oncall_urls.app_name))),
    path("notifications/", include("notifications.urls")),
    path("", include("notifications.webhook_urls")),
    path("", include("incidents.feedback_urls")),
    path("", include("incidents.incident_urls")),
    path("", include(registry_pages)),
]
