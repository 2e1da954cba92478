from django.urls import path

from . import inbound, views

app_name = "notifications"

urlpatterns = [
    path("ack/<str:token>/", views.ack_link, name="ack_link"),
    path("pages/<int:pk>/ack/", views.page_ack, name="page_ack"),
    path("mine/", views.mine, name="mine"),
    path("load/", views.oncall_load, name="oncall_load"),
    path("load/<int:person_id>/", views.oncall_load, name="oncall_load_person"),
    path("twilio/voice/<int:pk>/", inbound.twilio_voice, name="twilio_voice"),
    path("twilio/gather/<int:pk>/", inbound.twilio_gather, name="twilio_gather"),
    path("twilio/call-status/<int:pk>/", inbound.twilio_call_status, name="twilio_call_status"),
    path("twilio/sms/", inbound.twilio_sms, name="twilio_sms"),
    path("slack/interactivity/", inbound.slack_interactivity, name="slack_interactivity"),
]
