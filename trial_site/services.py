"""Writes of the kernel: memberships, role groups and the access log."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.http import HttpRequest

from trial_site.audit.actor import acting_as
from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.proxies import client_address
from trial_site.roles import ADMIN_SITE_ROLES, ROLE_PERMISSIONS, Role, group_name

logger = logging.getLogger("trial_site.security")

SYSTEM_USERNAME = "system"


def system_user() -> Any:
    """The user that changes made by the system itself are attributed to (an SMS STOP reply, the demo data).
    It cannot log in: inactive, without a usable password."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "System"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as the lockout sees it (behind a trusted proxy, from X-Forwarded-For)."""
    return client_address(request) if request is not None else None


def access_event_record(
    *,
    kind: str,
    request: HttpRequest | None = None,
    username: str = "",
    user: Any = None,
    detail: str = "",
) -> AccessEvent:
    """Append one event to the access log (logins, failures, lockouts, refusals, …)."""
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user if request.user.is_authenticated else None
    if not username and user is not None:
        username = user.get_username()
    event = AccessEvent(
        kind=AccessEvent.Kind(kind),
        username=username[:150],
        user=user,
        ip_address=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        path=(request.path if request is not None else "")[:500],
        detail=detail[:500],
    )
    event.save()
    return event


def role_groups_apply() -> list[str]:
    """Make one group per role hold exactly the permissions ``ROLE_PERMISSIONS`` gives it. Idempotent.

    Returns the permissions that do not exist (yet): an app not migrated, or a typo to fix.
    """
    wanted = {perm for perms in ROLE_PERMISSIONS.values() for perm in perms}
    found: dict[str, Permission] = {}
    for permission in Permission.objects.select_related("content_type"):
        found[f"{permission.content_type.app_label}.{permission.codename}"] = permission
    missing = sorted(wanted - found.keys())
    for role in Role:
        group, _ = Group.objects.get_or_create(name=group_name(role))
        group.permissions.set([found[perm] for perm in ROLE_PERMISSIONS[role] if perm in found])
    return missing


def _user_groups_sync(user: Any) -> None:
    roles = set(StaffMembership.objects.filter(user=user, is_active=True).values_list("role", flat=True).distinct())
    user.groups.set(Group.objects.filter(name__in=[group_name(Role(role)) for role in roles]))
    is_staff = bool(roles & {role.value for role in ADMIN_SITE_ROLES}) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_trial_roles_cache", None)


@transaction.atomic
def membership_grant(*, user: Any, site: Site, role: Role, by: Any) -> StaffMembership:
    """Give ``user`` the ``role`` at ``site`` (re-activating an ended membership). Audited, idempotent."""
    with acting_as(by):
        membership, created = StaffMembership.objects.get_or_create(user=user, site=site, role=role)
        if not created and not membership.is_active:
            membership.is_active = True
            membership.save(by=by, reason="membership re-activated")
        _user_groups_sync(user)
    logger.info("role %s at %s granted to %s by %s", role, site.code, user, by)
    return membership


@transaction.atomic
def membership_end(*, membership: StaffMembership, by: Any, reason: str) -> StaffMembership:
    """End a membership: the user loses that role at that site; the record and its history remain."""
    with acting_as(by):
        membership.is_active = False
        membership.save(by=by, reason=reason)
        _user_groups_sync(membership.user)
    logger.info("membership %s ended by %s: %s", membership, by, reason)
    return membership
