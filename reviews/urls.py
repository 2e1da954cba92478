"""URLs of reviews, mounted at the site root in the `reviews` namespace by `steward.urls`."""

from django.urls import path

from . import views

app_name = "reviews"

urlpatterns = [
    path("incidents/<int:pk>/review/", views.review_start_incident, name="start-incident"),
    path("it/outages/<int:pk>/review/", views.review_start_outage, name="start-outage"),
    path("reviews/<int:pk>/", views.review_detail, name="detail"),
    path("reviews/<int:pk>/edit/", views.review_edit, name="edit"),
    path("reviews/<int:pk>/actions/", views.action_item_add, name="action-add"),
    path("reviews/actions/<int:pk>/done/", views.action_item_done, name="action-done"),
    path("reviews/<int:pk>/review.md", views.review_export, name="export"),
]
