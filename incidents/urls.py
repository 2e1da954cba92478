"""URLs of IT outages. `steward.urls` mounts them at `it/` in the `incidents` namespace, beside
the IT changes of `changes.urls`."""

from django.urls import path

from . import views

urlpatterns = [
    path("outages/", views.outage_list, name="outage-list"),
    path("outages/new/", views.outage_open, name="outage-open"),
    path("outages/<int:pk>/", views.outage_detail, name="outage-detail"),
    path("outages/<int:pk>/update/", views.outage_update, name="outage-update"),
    path("outages/<int:pk>/resolve/", views.outage_resolve, name="outage-resolve"),
]
