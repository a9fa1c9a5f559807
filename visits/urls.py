from django.urls import path

from trial_site.views import section_placeholder

app_name = "visits"

urlpatterns = [
    path("", section_placeholder("visits", issue="#5"), name="index"),
]
