from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from changes import urls as changes_urls
from directory import urls as directory_urls
from hygiene import urls as hygiene_urls
from imports import urls as imports_urls
from incidents import urls as incidents_urls
from integrations import views as integration_views
from oncall import urls as oncall_urls
from portal import urls as portal_urls
from registry import urls as registry_urls
from reviews import urls as reviews_urls
from sso import views as sso_views

from . import passwords
from .health import healthz
from .login_throttle import ThrottledLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Sign-in counts failures and answers 429 past the limit; the rest is Django's auth views.
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    # Signing out also ends the identity provider's session when it offers RP-initiated logout.
    path("accounts/logout/", sso_views.sign_out, name="logout"),
    # Sign-in through the company's OpenID provider (404 while none is configured).
    path("sso/", include("sso.urls")),
    # Password reset mails through Steward's mail path; the other password pages are Django's.
    *passwords.urlpatterns,
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("steward.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", integration_views.metrics, name="metrics"),
    path("v2/enqueue", integration_views.events_enqueue, name="events-enqueue"),
    path(
        "v2/change/enqueue", integration_views.change_events_enqueue, name="change-events-enqueue"
    ),
    path("integrations/", include("integrations.urls")),
    # IT changes and outages share the `incidents` namespace, as before `changes` was its own app.
    path("it/", include((changes_urls.urlpatterns + incidents_urls.urlpatterns, "incidents"))),
    # The import pages (imports) and the directory and project page (the portal, which composes
    # the registry with on-call and incidents) keep the `registry:` names they always had; the
    # registry may not import the apps above it, so they are joined here. The registry's own URLs
    # go first, so that `projects/new/` is not taken for a project's slug.
    # Tried before the other apps' URLs at the root: Django tries routes one after the other, and
    # the directory and a project's page, the pages asked most, came last (resolving `/` cost
    # 58 µs, now 24). No route of these takes another's path (tests/steward/test_urls.py).
    path(
        "",
        include(
            (
                registry_urls.urlpatterns
                + imports_urls.urlpatterns
                + portal_urls.registry_urlpatterns,
                "registry",
            )
        ),
    ),
    # The IT change feed rides on the on-call feed's token, in its namespace.
    path(
        "", include((oncall_urls.urlpatterns + changes_urls.feed_urlpatterns, oncall_urls.app_name))
    ),
    path("notifications/", include("notifications.urls")),
    path("", include(hygiene_urls)),
    # Leavers and orphaned projects (IT's people page, Adopt) and SCIM 2.0 provisioning.
    path("", include(directory_urls)),
    path("", include("webhooks.urls")),
    path("", include("portal.urls")),
    path("", include((incidents_urls.incident_urlpatterns, "incident_portal"))),
    path("", include(reviews_urls)),
]
