from django.urls import path

from safety import views

app_name = "safety"

urlpatterns = [
    path("", views.index, name="index"),
    path("summary/", views.summary, name="summary"),
    path("participants/<str:number>/", views.participant_events, name="participant"),
    path("events/<int:pk>/", views.event_detail, name="event"),
    path("reports/<int:pk>/follow-up/", views.report_follow_up, name="report_follow_up"),
    path("reports/<int:pk>/submit/", views.report_submit, name="report_submit"),
    path("reports/<int:pk>/sign/", views.report_sign, name="report_sign"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
]
