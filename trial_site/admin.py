"""Admin site for administrators: sites (their own), staff roles and the access log read-only.

No one manages accounts, roles or permissions here, superusers included. Django's own user and group admin pages
are removed: they would let anyone with the admin site make a superuser, give a person any permission, put them in
any group or rename them. Staff accounts and roles are managed on the application's Staff pages
(``trial_site.staff``), at the administrator's own sites, with a reason kept in the history; groups mirror
``trial_site.roles`` and are set by ``role_groups_apply`` after every migrate; superusers are made on the server
(``manage.py createsuperuser``). Memberships are listed here read-only, with their history.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import admin as _auth_admin  # noqa: F401  (registers User and Group now: removed below)
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.permissions import site_ids_where

admin.site.site_header = "dcSSc trial administration"

for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    """Sites: an administrator changes only the sites where they manage staff."""

    list_display = ("code", "name", "country", "time_zone", "phone")
    search_fields = ("code", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return super().get_queryset(request).filter(pk__in=site_ids_where(request.user, "trial_site.change_site"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StaffMembership)
class StaffMembershipAdmin(SimpleHistoryAdmin):
    """Memberships, read-only, at the administrator's sites: roles are granted and ended on the Staff pages."""

    list_display = ("user", "site", "role", "is_active", "granted_at")
    list_filter = ("site", "role", "is_active")
    search_fields = ("user__username", "user__first_name", "user__last_name")
    list_select_related = ("user", "site")

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaffMembership]:
        sites = site_ids_where(request.user, "trial_site.view_staffmembership")
        return super().get_queryset(request).filter(site_id__in=sites)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "username", "ip_address", "path", "detail")
    list_filter = ("kind",)
    search_fields = ("username", "ip_address")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
