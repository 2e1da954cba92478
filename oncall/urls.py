"""URLs of on-call: a project's schedule and overrides, calendar feeds (the feed itself needs no
login: its secret token is the key). `steward.urls` adds the IT change feed of `changes`, which
shares the token, to this namespace."""

from django.urls import path

from . import editors, feeds, views

app_name = "oncall"

urlpatterns = [
    path("projects/<slug:slug>/oncall/", views.schedule, name="schedule"),
    path(
        "projects/<slug:slug>/oncall/overrides/",
        views.override_add,
        name="override_add",
    ),
    path(
        "projects/<slug:slug>/oncall/take/",
        views.override_take,
        name="override_take",
    ),
    path(
        "projects/<slug:slug>/oncall/overrides/<int:pk>/remove/",
        views.override_remove,
        name="override_remove",
    ),
    path("projects/<slug:slug>/oncall/rotations/new/", editors.rotation_edit, name="rotation_new"),
    path(
        "projects/<slug:slug>/oncall/rotations/<int:pk>/",
        editors.rotation_edit,
        name="rotation_edit",
    ),
    path(
        "projects/<slug:slug>/oncall/escalation/", editors.escalation_edit, name="escalation_edit"
    ),
    path("projects/<slug:slug>/oncall/swaps/", views.swap_request, name="swap_request"),
    path(
        "projects/<slug:slug>/oncall/swaps/<int:pk>/answer/",
        views.swap_answer,
        name="swap_answer",
    ),
    path("projects/<slug:slug>/oncall/time-off/", views.time_off_add, name="time_off_add"),
    path(
        "projects/<slug:slug>/oncall/time-off/<int:pk>/remove/",
        views.time_off_remove,
        name="time_off_remove",
    ),
    path("me/feeds/", views.feeds, name="feeds"),
    path("me/feeds/<int:pk>/revoke/", views.feed_revoke, name="feed_revoke"),
    path("feeds/oncall/<str:token>.ics", feeds.oncall_feed, name="feed"),
]
