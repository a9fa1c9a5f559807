from django.urls import path

from trial_site.views import section_placeholder

app_name = "randomization"

urlpatterns = [
    path("", section_placeholder("randomization", issue="#4"), name="index"),
]
