from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("projects/<slug:slug>/webhooks/", views.project_webhooks, name="project"),
    path("systems/<slug:slug>/webhooks/", views.system_webhooks, name="system"),
    path("webhooks/<int:pk>/", views.detail, name="detail"),
    path("webhooks/<int:pk>/ping/", views.ping, name="ping"),
    path("webhooks/<int:pk>/rotate-secret/", views.rotate_secret, name="rotate_secret"),
    path("webhooks/<int:pk>/delete/", views.delete, name="delete"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        views.redeliver,
        name="redeliver",
    ),
]
