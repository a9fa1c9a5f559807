"""Template context shared by every page: the menu for the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from trial_site.navigation import sections_for, todos_for
from trial_site.permissions import user_can, user_roles
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {
            "nav_sections": [],
            "nav_todos": [],
            "protocol": PROTOCOL,
            "trial_title": PROTOCOL.blinded_title,
            "trial_short_title": PROTOCOL.blinded_title,
        }
    roles = user_roles(user)
    unblinded = user_can(user, "randomization.view_arm")
    return {
        # Blinded staff never read a drug name, not even in the trial's title.
        "trial_title": PROTOCOL.title if unblinded else PROTOCOL.blinded_title,
        "trial_short_title": PROTOCOL.short_title if unblinded else PROTOCOL.blinded_title,
        "nav_sections": sections_for(roles),
        "nav_todos": SimpleLazyObject(lambda: todos_for(user)),  # counted only when a page shows the menu
        "nav_roles": [role for role in Role if role in roles],
        "protocol": PROTOCOL,
    }
