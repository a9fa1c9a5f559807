"""Admin site for administrators: sites and staff roles (through the services), the access log read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.roles import Role
from trial_site.services import membership_end, membership_grant

admin.site.site_header = "dcSSc trial administration"


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "country", "time_zone", "phone")
    search_fields = ("code", "name")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StaffMembership)
class StaffMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "site", "role", "is_active", "granted_at")
    list_filter = ("site", "role", "is_active")
    search_fields = ("user__username", "user__first_name", "user__last_name")
    list_select_related = ("user", "site")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user", "site", "role", "granted_at") if obj is not None else ("granted_at",)

    def save_model(self, request: HttpRequest, obj: StaffMembership, form: Any, change: bool) -> None:
        if not change:
            granted = membership_grant(user=obj.user, site=obj.site, role=Role(obj.role), by=request.user)
            obj.pk = granted.pk
        elif "is_active" in form.changed_data:
            if obj.is_active:
                membership_grant(user=obj.user, site=obj.site, role=Role(obj.role), by=request.user)
            else:
                membership_end(membership=obj, by=request.user, reason=f"ended in the admin by {request.user}")

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
