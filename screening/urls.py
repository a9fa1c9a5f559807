from django.urls import path

from screening import views

app_name = "screening"

urlpatterns = [
    path("", views.screening_log, name="index"),
    path("reconsent-due/", views.reconsent_due, name="reconsent_due"),
    path("register/<str:site_code>/", views.participant_register, name="register"),
    path("<str:number>/", views.participant_summary, name="participant"),
    path("<str:number>/details/", views.participant_details_edit, name="details"),
    path("<str:number>/forms/<slug:slug>/", views.screening_form_edit, name="form"),
    path("<str:number>/confirm/", views.eligibility_confirm, name="confirm"),
    path("<str:number>/screen-failure/", views.screen_failure_record, name="screen_failure"),
    path("<str:number>/withdraw/", views.consent_withdraw, name="withdraw"),
    path("<str:number>/rescreen/", views.participant_rescreen, name="rescreen"),
    path("<str:number>/reconsent/", views.reconsent_record, name="reconsent"),
]
