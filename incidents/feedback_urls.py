"""Problem reports and status subscriptions, mounted at the site root before the registry."""

from django.urls import path

from . import feedback_views as views

app_name = "feedback"

urlpatterns = [
    path("projects/<slug:slug>/report/", views.report_create, name="report-create"),
    path("projects/<slug:slug>/reports/", views.project_reports, name="project-reports"),
    path(
        "projects/<slug:slug>/reports/<int:pk>/dismiss/",
        views.report_group_dismiss,
        name="report-group-dismiss",
    ),
    path(
        "projects/<slug:slug>/reports/<int:pk>/incident/",
        views.report_group_escalate,
        name="report-group-escalate",
    ),
    path("projects/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path("subscriptions/", views.my_subscriptions, name="my-subscriptions"),
    path("subscriptions/<int:pk>/cancel/", views.subscription_cancel, name="subscription-cancel"),
    path(
        "subscriptions/confirm/<str:token>/",
        views.subscription_confirm,
        name="subscription-confirm",
    ),
    path(
        "subscriptions/unsubscribe/<str:token>/",
        views.subscription_unsubscribe,
        name="subscription-unsubscribe",
    ),
]
