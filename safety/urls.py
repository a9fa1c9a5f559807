from django.urls import path

from safety import views

app_name = "safety"

urlpatterns = [
    path("", views.index, name="index"),
    path("summary/", views.summary, name="summary"),
    path("participants/<str:number>/", views.participant_events, name="participant"),
    path("events/<int:pk>/", views.event_detail, name="event"),
    path("reports/<int:pk>/", views.report_action, name="report"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
]
