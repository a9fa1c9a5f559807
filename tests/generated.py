"""Helpers for tests on a trial made by the benchmark's generator (``bench.generate``)."""

from __future__ import annotations

from typing import Any

from trial_site.models import StaffMembership
from trial_site.roles import Role


def generated_user(role: Role) -> Any:
    """A generated user holding ``role`` (the first site's, by site code, for a role held per site)."""
    return (
        StaffMembership.objects.filter(role=role, is_active=True, user__username__startswith="gen-")
        .select_related("user")
        .order_by("site__code")
        .first()
        .user
    )
