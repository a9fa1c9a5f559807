from django.urls import path

from reminders import views

app_name = "reminders"

urlpatterns = [
    path("", views.reminder_log, name="index"),
    path("participants/<str:number>/", views.participant_reminders, name="participant"),
    path("<int:pk>/send-now/", views.send_now, name="send_now"),
    path("delivery/", views.delivery_status, name="delivery"),
    path("inbound/sms/", views.inbound_sms, name="inbound_sms"),
]
