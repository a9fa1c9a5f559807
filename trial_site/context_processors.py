"""Template context shared by every page: the menu for the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from trial_site.navigation import sections_for
from trial_site.permissions import user_roles
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": [], "protocol": PROTOCOL}
    roles = user_roles(user)
    return {
        "nav_sections": sections_for(roles, superuser=user.is_superuser),
        "nav_roles": [role for role in Role if role in roles],
        "protocol": PROTOCOL,
    }
