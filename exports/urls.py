from django.urls import path

from exports import centre, views

app_name = "exports"

urlpatterns = [
    path("", centre.index, name="index"),
    path("jobs/<int:job_id>/", centre.job, name="job"),
    path("jobs/<int:job_id>/status/", centre.job_status, name="job_status"),
    path("jobs/<int:job_id>/download/", centre.download, name="download"),
    path("reports/", views.index, name="reports"),
    path("reports/consort/", views.consort, name="consort"),
    path("reports/consort.svg", views.consort_svg, name="consort_svg"),
    path("reports/enrolment/", views.enrolment, name="enrolment"),
    path("reports/primary-endpoint/", views.primary_endpoint, name="primary_endpoint"),
]
