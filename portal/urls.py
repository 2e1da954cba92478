"""URLs of the portal. `urlpatterns`: problem reports and status subscriptions, mounted at the site
root before the registry. `registry_urlpatterns`: the directory and the project page, which
`steward.urls` mounts in the `registry` namespace after the registry's own URLs (their names,
`registry:directory`, `registry:project_detail`..., are older than this app and stay)."""

from django.urls import path

from . import views

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
    path(
        "systems/<slug:slug>/problems/",
        views.system_problem_report,
        name="system-problem-report",
    ),
    path(
        "systems/<slug:slug>/problems/<int:pk>/outage/",
        views.system_problem_outage,
        name="system-problem-outage",
    ),
    path(
        "systems/<slug:slug>/problems/<int:pk>/dismiss/",
        views.system_problem_dismiss,
        name="system-problem-dismiss",
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
        "subscriptions/manage/<str:token>/",
        views.subscription_manage,
        name="subscription-manage",
    ),
    path(
        "subscriptions/unsubscribe/<str:token>/",
        views.subscription_unsubscribe,
        name="subscription-unsubscribe",
    ),
]

registry_urlpatterns = [
    path("", views.directory, name="directory"),
    path("projects/<slug:slug>/", views.project_detail, name="project_detail"),
    path("projects/<slug:slug>/roles/", views.project_role_add, name="project_role_add"),
    path(
        "projects/<slug:slug>/roles/<int:person_id>/remove/",
        views.project_role_remove,
        name="project_role_remove",
    ),
    path(
        "projects/<slug:slug>/dependencies/",
        views.project_dependency_add,
        name="project_dependency_add",
    ),
    path("projects/<slug:slug>/releases/", views.project_release_add, name="project_release_add"),
    path(
        "projects/<slug:slug>/dependencies/<int:pk>/remove/",
        views.project_dependency_remove,
        name="project_dependency_remove",
    ),
]
