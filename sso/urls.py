from django.urls import path

from . import views

app_name = "sso"
urlpatterns = [
    path("start/", views.SignInStart.as_view(), name="start"),
    path("callback/", views.SignInCallback.as_view(), name="callback"),
]
