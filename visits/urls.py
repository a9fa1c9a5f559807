from django.urls import path

from visits import views

app_name = "visits"

urlpatterns = [
    path("", views.index, name="index"),
    path("missing-forms/", views.missing_forms, name="missing_forms"),
    path("participants/<str:number>/", views.participant_schedule, name="participant"),
    path("participants/<str:number>/medications/", views.medications, name="medications"),
    path("<int:pk>/", views.visit_detail, name="visit"),
    path("<int:pk>/forms/<slug:code>/", views.visit_crf, name="crf"),
]
