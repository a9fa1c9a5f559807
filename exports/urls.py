from django.urls import path

from trial_site.views import section_placeholder

app_name = "exports"

urlpatterns = [
    path("", section_placeholder("exports", issue="#9"), name="index"),
]
