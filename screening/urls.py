from django.urls import path

from trial_site.views import section_placeholder

app_name = "screening"

urlpatterns = [
    path("", section_placeholder("screening", issue="#3"), name="index"),
]
