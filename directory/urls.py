"""URLs of the directory: IT's people page and the Adopt action (HTML), the leaver and adopt API
operations (mounted under /api/v1/ by `steward.api_urls`), and SCIM 2.0 (mounted at /scim/v2/)."""

from django.urls import path, re_path

from steward.api import ID, SLUG

from . import api, views

app_name = "directory"

urlpatterns = [
    path("directory/people/", views.people, name="people"),
    path(
        "directory/people/<int:pk>/deactivate/", views.person_deactivate, name="person_deactivate"
    ),
    path(
        "directory/people/<int:pk>/reactivate/", views.person_reactivate, name="person_reactivate"
    ),
    path("projects/<slug:slug>/adopt/", views.project_adopt, name="project_adopt"),
]

api_urlpatterns = [
    re_path(
        rf"^people/(?P<pk>{ID})/deactivate/$",
        api.PersonDeactivateView.as_view(),
        name="person-deactivate",
    ),
    re_path(
        rf"^people/(?P<pk>{ID})/reactivate/$",
        api.PersonReactivateView.as_view(),
        name="person-reactivate",
    ),
    re_path(
        rf"^projects/(?P<slug>{SLUG})/adopt/$", api.ProjectAdoptView.as_view(), name="project-adopt"
    ),
]
