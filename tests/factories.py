"""Test data through the same services the application uses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from trial_site.audit.actor import acting_as
from trial_site.models import Site
from trial_site.roles import Role
from trial_site.services import membership_grant, system_user

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def make_site(*, code: str, name: str = "", phone: str = "+8809666700100", time_zone: str = "Asia/Dhaka") -> Site:
    with acting_as(system_user()):
        return Site.objects.create(
            code=code, name=name or f"Site {code}", country="Bangladesh", time_zone=time_zone, phone=phone
        )


def make_user(
    username: str, *, role: Role | None = None, site: Site | None = None, password: str = DEFAULT_PASSWORD
) -> Any:
    user = get_user_model().objects.create_user(
        username=username, password=password, first_name=username.title(), email=f"{username}@example.org"
    )
    if role is not None and site is not None:
        membership_grant(user=user, site=site, role=role, by=system_user())
    return user
