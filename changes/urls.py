"""URLs of IT changes. `steward.urls` mounts `urlpatterns` at `it/` in the `incidents` namespace
(beside the outages: `incidents:change-detail` and the like are older than this app and stay), and
`feed_urlpatterns` at the site root in the `oncall` namespace, beside the on-call calendar feed
that shares its secret token (`oncall:change_feed`)."""

from django.urls import path

from . import feeds, views

urlpatterns = [
    path("changes/", views.change_list, name="change-list"),
    path("changes/new/", views.change_create, name="change-create"),
    path("changes/slots/", views.change_slots, name="change-slots"),
    path("changes/slots/book/", views.change_slot_book, name="change-slot-book"),
    path("changes/<int:pk>/", views.change_detail, name="change-detail"),
    path("changes/<int:pk>/edit/", views.change_edit, name="change-edit"),
    path("changes/<int:pk>/respond/", views.change_respond, name="change-respond"),
    path("changes/<int:pk>/<slug:action>/", views.change_transition, name="change-transition"),
]

feed_urlpatterns = [
    path("feeds/changes/<str:token>.ics", feeds.change_feed, name="change_feed"),
]
