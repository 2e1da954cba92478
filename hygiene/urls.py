from django.urls import path

from . import views

app_name = "hygiene"

urlpatterns = [
    path("registry/hygiene/", views.hygiene_page, name="page"),
    path("registry/hygiene/<slug:kind>.csv", views.hygiene_csv, name="csv"),
    path("projects/<slug:slug>/reviewed/", views.project_reviewed, name="project_reviewed"),
    path("review/<str:token>/", views.review_link, name="review_link"),
]
