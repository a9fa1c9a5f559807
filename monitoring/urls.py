from django.urls import path

from trial_site.views import section_placeholder

app_name = "monitoring"

urlpatterns = [
    path("", section_placeholder("monitoring", issue="#8"), name="index"),
]
