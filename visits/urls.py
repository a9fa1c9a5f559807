from django.urls import path

from visits import calendar_views, dashboard_views, views

app_name = "visits"

urlpatterns = [
    path("", views.index, name="index"),
    path("missing-forms/", views.missing_forms, name="missing_forms"),
    path("calendar/", calendar_views.visit_calendar, name="calendar"),
    path("dashboard/", dashboard_views.record_status, name="dashboard"),
    path("participants/<str:number>/", views.participant_schedule, name="participant"),
    path("participants/<str:number>/medications/", views.medications, name="medications"),
    path("participants/<str:number>/medications/add/", views.medication_add, name="medication_add"),
    path("participants/<str:number>/medications/stop/", views.medication_stop, name="medication_stop"),
    path("participants/<str:number>/unscheduled/", views.unscheduled_visit_add, name="unscheduled_visit_add"),
    path("participants/<str:number>/follow-up/", views.follow_up_schedule, name="follow_up_schedule"),
    path("participants/<str:number>/end/", views.end_of_study_record, name="end_of_study_record"),
    path("<int:pk>/", views.visit_detail, name="visit"),
    path("<int:pk>/done/", views.visit_done, name="visit_done"),
    path("<int:pk>/missed/", views.visit_missed, name="visit_missed"),
    path("<int:pk>/reschedule/", views.visit_reschedule, name="visit_reschedule"),
    path("<int:pk>/forms/<slug:code>/", views.visit_crf, name="crf"),
]
