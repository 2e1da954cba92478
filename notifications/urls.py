from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("ack/<str:token>/", views.ack_link, name="ack_link"),
    path("pages/<int:pk>/ack/", views.page_ack, name="page_ack"),
    path("mine/", views.mine, name="mine"),
]
