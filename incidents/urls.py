from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("changes/", views.change_list, name="change-list"),
    path("changes/new/", views.change_create, name="change-create"),
    path("changes/<int:pk>/", views.change_detail, name="change-detail"),
    path("changes/<int:pk>/edit/", views.change_edit, name="change-edit"),
    path("changes/<int:pk>/respond/", views.change_respond, name="change-respond"),
    path("changes/<int:pk>/<slug:action>/", views.change_transition, name="change-transition"),
    path("outages/", views.outage_list, name="outage-list"),
    path("outages/new/", views.outage_open, name="outage-open"),
    path("outages/<int:pk>/", views.outage_detail, name="outage-detail"),
    path("outages/<int:pk>/update/", views.outage_update, name="outage-update"),
    path("outages/<int:pk>/resolve/", views.outage_resolve, name="outage-resolve"),
]
