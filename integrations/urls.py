from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("alertmanager/", views.alertmanager_receive, name="alertmanager"),
    path("alertmanager/<str:key>/", views.alertmanager_receive, name="alertmanager-key"),
    path("heartbeat/<str:key>/", views.heartbeat_ping, name="heartbeat"),
    path("systems/<slug:slug>/heartbeats/new/", views.heartbeat_add, name="heartbeat-add"),
    path("heartbeats/<int:pk>/remove/", views.heartbeat_remove, name="heartbeat-remove"),
]
