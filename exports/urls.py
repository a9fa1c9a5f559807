from django.urls import path

from exports import views
from trial_site.views import section_placeholder

app_name = "exports"

urlpatterns = [
    path("", section_placeholder("exports", issue="#9"), name="index"),
    path("reports/", views.index, name="reports"),
    path("reports/consort/", views.consort, name="consort"),
    path("reports/consort.svg", views.consort_svg, name="consort_svg"),
    path("reports/enrolment/", views.enrolment, name="enrolment"),
    path("reports/primary-endpoint/", views.primary_endpoint, name="primary_endpoint"),
]
