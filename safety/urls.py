from django.urls import path

from trial_site.views import section_placeholder

app_name = "safety"

urlpatterns = [
    path("", section_placeholder("safety", issue="#6"), name="index"),
]
