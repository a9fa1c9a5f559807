"""Who may do what, where: roles from memberships, permissions from ``trial_site.roles``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from trial_site.models import Site, StaffMembership
from trial_site.roles import DELEGABLE_PERMISSIONS, DELEGABLE_WHERE_UNBLINDED, ROLE_PERMISSIONS, SEES_ARM, Role


def user_roles(user: Any, site: Site | None = None) -> frozenset[Role]:
    """The roles ``user`` holds now, at ``site`` or at any site. Cached on the user for the request."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cache: dict[int | None, frozenset[Role]] | None = getattr(user, "_trial_roles_cache", None)
    if cache is None:
        cache = _memberships_load(user)
    return cache.get(site.pk if site is not None else None, frozenset())


def user_time_zone(user: Any) -> str | None:
    """The time zone of the user's first site (by code), in which every page shows times; None without a site. Read
    with the roles, in the same query, once per request."""
    if not getattr(user, "is_authenticated", False):
        return None
    if getattr(user, "_trial_roles_cache", None) is None or not hasattr(user, "_trial_time_zone"):
        _memberships_load(user)
    return user._trial_time_zone


def _memberships_load(user: Any) -> dict[int | None, frozenset[Role]]:
    """The user's active memberships and their sites' time zones in one query, kept on the user for the request
    (``_trial_roles_cache``: site id, and None for all sites, to roles; ``_trial_time_zone``)."""
    rows = list(
        StaffMembership.objects.filter(user_id=user.pk, is_active=True)
        .order_by("site__code")
        .values_list("site_id", "role", "site__time_zone")
    )
    cache: dict[int | None, frozenset[Role]] = {None: frozenset(Role(role) for _, role, _ in rows)}
    for site_id, role, _ in rows:
        cache[site_id] = cache.get(site_id, frozenset()) | {Role(role)}
    user._trial_roles_cache = cache
    user._trial_time_zone = rows[0][2] if rows else None
    return cache


def in_roles(user: Any, roles: frozenset[Role]) -> Any:
    """``user`` seen in some of their roles only: a copy holding ``roles`` at the sites where they hold them, and
    nothing elsewhere. The home page builds each role's to-do lists with it, so that a list shows only the sites
    where the user holds a role that has the list (a data manager at one site who is an investigator at another sees
    the investigator's SAE clocks of the second site only). No query beyond ``user_roles``."""
    user_roles(user)
    seen = copy.copy(user)
    seen._trial_roles_cache = {
        site_id: held & roles for site_id, held in user._trial_roles_cache.items() if site_id is None or held & roles
    }
    return seen


def user_can(user: Any, permission: str, site: Site | None = None) -> bool:
    """True when a role the user holds (at ``site``, or anywhere if ``site`` is None) grants ``permission``.

    Roles are the only source, with one exception named in ``trial_site.roles.DELEGABLE_PERMISSIONS``: such a
    permission may be delegated to one person (a coordinator allowed to randomise); it then holds where the user
    holds a role. Any other permission held directly, and superuser status, count for nothing here: a superuser is
    a server operator (made with ``createsuperuser`` on the server) and reaches data only through memberships.
    """
    roles = user_roles(user, site)
    if any(permission in ROLE_PERMISSIONS[role] for role in roles):
        return True
    return _delegated(user, permission) and _may_hold_delegated(roles, permission)


def require(user: Any, permission: str, site: Site | None = None) -> None:
    """Refuse (``PermissionDenied``) unless ``user_can(user, permission, site)``: the one permission check of every
    service. The message names the user, the permission and the site; the 403 handler
    (``trial_site.views.permission_denied``) logs it and keeps it in the access log when the refusal reaches a page,
    and a command or task that calls a service sees it as the exception. ``site`` None asks for the permission at
    any site (allocation lists, which belong to no site)."""
    if not user_can(user, permission, site):
        where = f" at {site.code}" if site is not None else ""
        raise PermissionDenied(f"{user} lacks {permission}{where}")


def _delegated(user: Any, permission: str) -> bool:
    """The permission is one that may be delegated, and it is delegated to ``user``."""
    return permission in DELEGABLE_PERMISSIONS and permission in user.get_user_permissions()


def _may_hold_delegated(roles: frozenset[Role], permission: str) -> bool:
    """A delegated permission holds where the user has a role; one of ``DELEGABLE_WHERE_UNBLINDED`` only where a
    role of theirs sees the arm (a blinded assessor given the audit review reads no laboratory value through it)."""
    if not roles:
        return False
    return permission not in DELEGABLE_WHERE_UNBLINDED or any(SEES_ARM in ROLE_PERMISSIONS[role] for role in roles)


def site_ids_where(user: Any, permission: str) -> frozenset[int]:
    """The ids of the sites where ``user_can(user, permission, site)`` holds: a role there grants ``permission``, or
    it is delegated to the user (``DELEGABLE_PERMISSIONS``) and they hold a role there. No query beyond
    ``user_roles`` (and the user's own permissions for a delegable one)."""
    if not user_roles(user):
        return frozenset()
    cache: dict[int | None, frozenset[Role]] = user._trial_roles_cache
    delegated = _delegated(user, permission)
    return frozenset(
        site_id
        for site_id, roles in cache.items()
        if site_id is not None
        and roles
        and (
            any(permission in ROLE_PERMISSIONS[role] for role in roles)
            or (delegated and _may_hold_delegated(roles, permission))
        )
    )


# Identifying data (the ``identifying_fields`` of each model: a participant's initials, date of birth, mobile phone
# and e-mail, a consent witness's name) are for the roles that work with the participant at the site: those that may
# open the participant's record there (coordinator, investigator, blinded assessor, monitor, data manager).
# Administrators and statisticians do not see them on any page. The audit trail, the verification page and every
# page naming a participant ask this one question.
SEE_IDENTIFIERS = "screening.view_participant"


def may_see_identifiers(user: Any, site: Site | int) -> bool:
    """True when ``user`` may see the identifying data of the participants of ``site`` (a site or its id); no
    query beyond the user's roles, cached for the request."""
    site_id = site if isinstance(site, int) else site.pk
    return site_id in site_ids_where(user, SEE_IDENTIFIERS)


def permission_required(
    permission: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: log in first; then 403 (logged by the 403 handler) without ``permission``.

    The permission is kept on the request (``site_permissions``): ``trial_site.scoping.get_scoped_object_or_404``
    then finds the view's record only at a site where the user holds it *there* (404 elsewhere), so a role held at
    one site never opens another site's record."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not user_can(request.user, permission):
                raise PermissionDenied(f"needs {permission}")
            request.site_permissions = (*getattr(request, "site_permissions", ()), permission)  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        # What the page asks, for its links (``trial_site.reachable``); ``functools.wraps`` carries it outwards.
        wrapped.required_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator


def section_required(key: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator for a section's front page: log in first; then 403 unless one of the user's roles has the
    section in its menu (``trial_site.navigation.SECTIONS``)."""
    from trial_site.navigation import SECTIONS

    section = next(section for section in SECTIONS if section.key == key)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not (section.roles & user_roles(request.user)):
                raise PermissionDenied(f"section {section.key} is not for the user's roles")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
