"""URLs of the registry. `steward.urls` mounts them in the `registry` namespace together with the
directory and the project page of `portal.urls` (`registry_urlpatterns`), which compose the
registry with on-call and incidents."""

from django.urls import path

from . import views

urlpatterns = [
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<slug:slug>/edit/", views.project_edit, name="project_edit"),
    path("systems/", views.system_list, name="system_list"),
    path("systems/new/", views.system_create, name="system_create"),
    path("systems/<slug:slug>/", views.system_detail, name="system_detail"),
    path("systems/<slug:slug>/edit/", views.system_edit, name="system_edit"),
    path(
        "systems/<slug:slug>/dependencies/",
        views.system_dependency_add,
        name="system_dependency_add",
    ),
    path(
        "systems/<slug:slug>/dependencies/<int:pk>/remove/",
        views.system_dependency_remove,
        name="system_dependency_remove",
    ),
    path("people/new/", views.person_add, name="person_add"),
    path("me/", views.profile, name="profile"),
    path("me/contacts/", views.contact_add, name="contact_add"),
    path("me/contacts/<int:pk>/remove/", views.contact_remove, name="contact_remove"),
]
