"""The search page at the top level (``/search/``, URL name ``search``): included by the kernel's URL map."""

from django.urls import path

from screening import search_views

urlpatterns = [
    path("", search_views.participant_search, name="search"),
]
