from django.urls import path

from monitoring.views import audit, home, locks, queries, signatures, verification

app_name = "monitoring"

urlpatterns = [
    path("", home.index, name="index"),
    *audit.urlpatterns,
    *queries.urlpatterns,
    *verification.urlpatterns,
    *signatures.urlpatterns,
    *locks.urlpatterns,
]
