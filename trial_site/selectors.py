"""Reads of the kernel, scoped to the user's sites, with a fixed number of queries."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.permissions import site_ids_where
from trial_site.scoping import scope_to_user_sites


def sites_for_user(user: Any) -> QuerySet[Site]:
    """The user's sites with the number of active staff at each."""
    return scope_to_user_sites(Site.objects.all(), user).annotate(
        staff_count=Count("memberships__user", filter=Q(memberships__is_active=True), distinct=True)
    )


def site_with_staff(site: Site) -> list[StaffMembership]:
    return list(
        StaffMembership.objects.filter(site=site, is_active=True)
        .select_related("user")
        .order_by("role", "user__username")
    )


READ_ACCESS_LOG = "trial_site.view_accessevent"


def access_events(*, reader: Any, kind: str = "", username: str = "") -> QuerySet[AccessEvent]:
    """The access log as ``reader`` may read it: the events of staff whose roles (past or present) are all at sites
    where the reader holds ``trial_site.view_accessevent`` there (a role counts at its own site only), the
    reader's own, and the events of no member of staff (a failed login for an unknown name, the SMS webhook).
    The events of someone who has worked at another site are left out: they may name that site's records."""
    readable = sorted(site_ids_where(reader, READ_ACCESS_LOG))
    if not readable:
        return AccessEvent.objects.none()
    elsewhere = StaffMembership.objects.exclude(site_id__in=readable).exclude(user_id=reader.pk)
    events = AccessEvent.objects.exclude(user_id__in=elsewhere.values("user_id")).exclude(
        user_id__isnull=True, username__in=elsewhere.values("user__username")
    )
    if kind:
        events = events.filter(kind=kind)
    if username:
        events = events.filter(username__iexact=username)
    return events
