"""URLs of the directory: IT's people page and the Adopt action (HTML), the leaver and adopt API
operations (mounted under /api/v1/ by `steward.api_urls`), and SCIM 2.0 (mounted at /scim/v2/)."""

from django.urls import path, re_path

from steward.api import ID, SLUG

from . import api, scim, views

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
    # SCIM 2.0: the paths are RFC 7644's, with no trailing slash.
    path("scim/v2/ServiceProviderConfig", scim.service_provider_config, name="scim-config"),
    path("scim/v2/ResourceTypes", scim.resource_types, name="scim-resource-types"),
    path("scim/v2/ResourceTypes/<str:name>", scim.resource_types, name="scim-resource-type"),
    path("scim/v2/Schemas", scim.schemas, name="scim-schemas"),
    path("scim/v2/Schemas/<str:urn>", scim.schemas, name="scim-schema"),
    path("scim/v2/.search", scim.search, name="scim-search"),
    path("scim/v2/Users/.search", scim.search, {"endpoint": "Users"}, name="scim-users-search"),
    path("scim/v2/Groups/.search", scim.search, {"endpoint": "Groups"}, name="scim-groups-search"),
    path("scim/v2/Users", scim.users, name="scim-users"),
    path("scim/v2/Users/<str:pk>", scim.user_detail, name="scim-user"),
    path("scim/v2/Groups", scim.groups, name="scim-groups"),
    path("scim/v2/Groups/<str:pk>", scim.group_detail, name="scim-group"),
    re_path(r"^scim/v2/(?P<rest>.*)$", scim.not_found, name="scim-not-found"),
]

api_urlpatterns = [
    re_path(
        rf"^people/(?P<person_id>{ID})/deactivate/$",
        api.PersonDeactivateView.as_view(),
        name="person-deactivate",
    ),
    re_path(
        rf"^people/(?P<person_id>{ID})/reactivate/$",
        api.PersonReactivateView.as_view(),
        name="person-reactivate",
    ),
    re_path(
        rf"^projects/(?P<slug>{SLUG})/adopt/$", api.ProjectAdoptView.as_view(), name="project-adopt"
    ),
]
