"""URL map. Each app has its own namespace; the kernel's pages sit at the top level."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from trial_site import amendment_views, lab_range_views, views
from trial_site.forms import LoginForm
from trial_site.staff import views as staff_views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("sites/", views.site_list, name="site_list"),
    path("sites/<str:code>/", views.site_detail, name="site_detail"),
    *lab_range_views.urlpatterns,
    # Protocol versions and amendments: protocol/, protocol/propose/, protocol/<version>/.
    *amendment_views.urlpatterns,
    path("access-log/", views.access_log, name="access_log"),
    # The Staff pages (administrators) and one's own password: staff/…, accounts/password/, accounts/set-password/.
    *staff_views.urlpatterns,
    path("i18n/", include("django.conf.urls.i18n")),
    # The participant search of the header (URL name "search").
    path("search/", include("screening.search_urls")),
    path("screening/", include("screening.urls")),
    path("randomization/", include("randomization.urls")),
    path("visits/", include("visits.urls")),
    path("safety/", include("safety.urls")),
    path("reminders/", include("reminders.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("exports/", include("exports.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "trial_site.views.permission_denied"
handler404 = "trial_site.views.page_not_found"
handler500 = "trial_site.views.server_error"
