from django.urls import path

from randomization import views

app_name = "randomization"

urlpatterns = [
    path("", views.overview, name="index"),
    path("lists/", views.lists, name="lists"),
    path("lists/<int:pk>/", views.list_detail, name="list"),
    path("lists/<int:pk>/activate/", views.list_activate, name="list_activate"),
    path("participants/<str:number>/", views.participant_allocation, name="participant"),
    path("participants/<str:number>/randomise/", views.randomise, name="randomise"),
    path("participants/<str:number>/error/", views.flag_error, name="flag_error"),
    path("participants/<str:number>/unblind/", views.unblind, name="unblind"),
]
