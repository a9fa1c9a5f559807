"""Writes of the kernel: the access log, password re-entry, role groups, staff accounts and their memberships."""

from __future__ import annotations

import copy
import enum
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlencode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from trial_site.audit.actor import acting_as
from trial_site.audit.base import save_user
from trial_site.models import AccessEvent, Site, StaffMembership
from trial_site.permissions import require
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


@contextmanager
def kept_even_if_rolled_back() -> Iterator[None]:
    """Writes made in the block are committed at once, whatever happens to the caller's transaction.

    Inside a transaction the application opened (a view wrapped in ``once_per_submission``, a service), the block
    runs on a connection of its own, in autocommit, closed at its end; the ORM's default connection is that one
    for the block, so the access log and django-axes' failure count both land there. A failed password, a
    refusal or a lockout is therefore kept even when the caller's transaction is rolled back afterwards (a view
    that raises, a service that fails later). Outside a transaction the block is a plain autocommit anyway.

    The block must only append (the access log, failure counts): it cannot see what the caller's transaction has
    not committed. SQLite (the demo) allows one writer, so there the block stays on the caller's connection. The
    setting ``ACCESS_LOG_OWN_CONNECTION`` (on unless set) turns it off: the test settings do, because the test
    suite's fixtures hold transactions that are rolled back after a test, which a committed write would outlive;
    the tests of this guarantee turn it on.
    """
    current = connections[DEFAULT_DB_ALIAS]
    own_connection = getattr(settings, "ACCESS_LOG_OWN_CONNECTION", True)
    if not own_connection or current.vendor != "postgresql" or not current.in_atomic_block:
        yield
        return
    own = current.copy()
    connections[DEFAULT_DB_ALIAS] = own
    try:
        yield
    finally:
        connections[DEFAULT_DB_ALIAS] = current
        own.close()


# Refusals and failures are kept even if the caller's transaction is rolled back; the other events (a login, an
# unblinding, an export) belong to what they record and go with its transaction.
KEPT_WHATEVER_HAPPENS = frozenset(
    {
        AccessEvent.Kind.LOGIN_FAILED,
        AccessEvent.Kind.LOCKOUT,
        AccessEvent.Kind.TWO_FACTOR_FAILED,
        AccessEvent.Kind.ACCESS_DENIED,
        AccessEvent.Kind.SIGNATURE_FAILED,
        AccessEvent.Kind.PASSWORD_REENTRY_FAILED,
    }
)


def access_event_record(
    *,
    kind: str,
    request: HttpRequest | None = None,
    username: str = "",
    user: Any = None,
    detail: str = "",
) -> AccessEvent:
    """Append one event to the access log (logins, failures, lockouts, refusals, …). A refusal or a failure is kept
    even if the caller's transaction is rolled back (``kept_even_if_rolled_back``): a wrong password inside a
    service that then refuses, or a refusal inside a view that fails, must still be in the log."""
    if user is None and request is not None and getattr(request, "user", None) is not None:
        user = request.user if request.user.is_authenticated else None
    if not username and user is not None:
        username = user.get_username()
    event = AccessEvent(
        kind=AccessEvent.Kind(kind),
        username=username[:150],
        user_id=getattr(user, "pk", None),
        ip_address=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        path=(request.path if request is not None else "")[:500],
        detail=detail[:500],
    )
    if event.kind in KEPT_WHATEVER_HAPPENS:
        with kept_even_if_rolled_back():
            event.save()
    else:
        event.save()
    return event


class Reentry(enum.Enum):
    """The outcome of re-entering one's password (to sign, to unblind, to change it)."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    LOCKED = "locked"


def reentry_locked_message() -> str:
    return _(
        "Too many wrong passwords: for 30 minutes your password is refused here and at login, as after failed "
        "logins. Nothing was done."
    )


def _without_form(request: HttpRequest) -> HttpRequest:
    """The request as django-axes may record it: without the form's fields. Axes keeps the POST data of a failure
    and masks only a field named ``password``; a password change also sends the old and the new one."""
    shown = copy.copy(request)
    shown.POST = QueryDict()
    return shown


def password_reentry(
    *,
    request: HttpRequest | None,
    user: Any,
    password: str,
    kind: str = AccessEvent.Kind.PASSWORD_REENTRY_FAILED,
    detail: str = "",
) -> Reentry:
    """Whether ``password`` is ``user``'s own, under the login's lockout policy (django-axes).

    A wrong password counts as a failed login for this username from this address: after 5 (``AXES_FAILURE_LIMIT``)
    both re-entering the password and logging in are refused for 30 minutes (``AXES_COOLOFF_TIME``), even with the
    right password; a try while locked counts again, as at login. Each failure is in the access log (``kind``,
    ``detail``) and counted even if the caller's transaction is rolled back later (``kept_even_if_rolled_back``).
    When the lock starts or holds, ``request.axes_locked_out`` is set and django-axes' middleware answers with the
    lockout page (429). Without a request (a command on the server) there is no address to lock: the password is
    only checked, and a failure logged.
    """
    credentials = {"username": user.get_username()}
    allowed = request is None or AxesProxyHandler.is_allowed(request, credentials)
    if allowed and password and user.check_password(password):
        if request is not None and settings.AXES_RESET_ON_SUCCESS:
            reset = getattr(AxesProxyHandler.get_implementation(), "reset_user_attempts", None)
            if reset is not None:
                reset(request, credentials)
        return Reentry.ACCEPTED
    why = detail if allowed else f"{detail} (while locked: not checked)".strip()
    with kept_even_if_rolled_back():
        access_event_record(kind=kind, request=request, user=user, detail=why)
        if request is not None:
            shown = _without_form(request)
            AxesProxyHandler.user_login_failed(sender=__name__, credentials=credentials, request=shown)
            request.axes_locked_out = bool(getattr(shown, "axes_locked_out", False)) or not allowed
            request.axes_credentials = credentials
    logger.warning("password re-entry refused: user=%s %s", user.get_username(), why)
    if request is not None and request.axes_locked_out:
        return Reentry.LOCKED
    return Reentry.WRONG


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


def _user_groups_sync(user: Any, *, by: Any) -> None:
    """Put the user in exactly the groups of the roles they hold now; ``is_staff`` (the admin site) follows the
    administrator role (and stays with a superuser, made on the server)."""
    roles = set(StaffMembership.objects.filter(user=user, is_active=True).values_list("role", flat=True).distinct())
    user.groups.set(Group.objects.filter(name__in=[group_name(Role(role)) for role in roles]))
    is_staff = bool(roles & {role.value for role in ADMIN_SITE_ROLES}) or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        why = "administrator role held: admin site opened" if is_staff else "no administrator role: admin site closed"
        save_user(user, by=by, reason=why, update_fields=["is_staff"])
    user.__dict__.pop("_trial_roles_cache", None)


@transaction.atomic
def membership_grant(*, user: Any, site: Site, role: Role, by: Any, reason: str = "") -> StaffMembership:
    """Give ``user`` the ``role`` at ``site`` (re-activating an ended membership). Audited, idempotent.

    No permission check: the staff pages call ``staff_role_grant``, which checks who may grant what where; this is
    for the server (``seed_demo``, tests) and for that service."""
    with acting_as(by):
        membership = StaffMembership.objects.select_for_update().filter(user=user, site=site, role=role).first()
        if membership is None:
            membership = StaffMembership(user=user, site=site, role=role)
            membership.save(by=by, reason=reason or "role granted")
        elif not membership.is_active:
            membership.is_active = True
            membership.save(by=by, reason=reason or "membership re-activated")
        _user_groups_sync(user, by=by)
    logger.info("role %s at %s granted to %s by %s", role, site.code, user, by)
    return membership


@transaction.atomic
def membership_end(*, membership: StaffMembership, by: Any, reason: str) -> StaffMembership:
    """End a membership: the user loses that role at that site; the record and its history remain."""
    with acting_as(by):
        membership.is_active = False
        membership.save(by=by, reason=reason)
        _user_groups_sync(membership.user, by=by)
    logger.info("membership %s ended by %s: %s", membership, by, reason)
    return membership


# --- Staff accounts, managed by administrators at their own sites ---------------------------------------------
# Who may do what: creating an account and granting a role need the permission at the site concerned; a change to
# the account itself (names, e-mail, active, a password link) acts at every site where it works, so it needs the
# permission at every site where the account holds an active role. Nobody changes their own account or roles here
# (their own password excepted), and superusers are managed on the server only.


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason: it is kept in the history.")})
    return reason


def _require_other_account(by: Any, user: Any) -> None:
    if user.pk == by.pk:
        raise PermissionDenied("administrators do not change their own account or roles")
    if user.is_superuser:
        raise PermissionDenied("superusers are managed on the server only")


def account_manageable(by: Any, user: Any) -> bool:
    """Whether ``by`` may change ``user``'s account (names, e-mail, active, a password link): not their own, not
    a superuser's; the account has worked at one of ``by``'s sites, and every role it holds now is at a site where
    ``by`` manages staff."""
    from trial_site.permissions import site_ids_where

    if user.pk == by.pk or user.is_superuser:
        return False
    managed = site_ids_where(by, "auth.change_user")
    memberships = list(StaffMembership.objects.filter(user=user).values_list("site_id", "is_active"))
    worked_here = any(site_id in managed for site_id, _active in memberships)
    return worked_here and all(site_id in managed for site_id, active in memberships if active)


def _require_manageable(by: Any, user: Any) -> None:
    if not account_manageable(by, user):
        raise PermissionDenied(f"{by} may not change the account of {user}")


@transaction.atomic
def staff_account_create(
    *,
    by: Any,
    site: Site,
    role: Role,
    username: str,
    first_name: str,
    last_name: str,
    email: str,
    reason: str,
) -> Any:
    """A new staff account with one role at ``site``, without a password: the person chooses it with a one-time
    link (``staff_password_link``)."""
    require(by, "auth.add_user", site)
    require(by, "trial_site.add_staffmembership", site)
    reason = _require_reason(reason)
    user_model = get_user_model()
    if user_model._default_manager.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    user = user_model(username=username, first_name=first_name, last_name=last_name, email=email)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    save_user(user, by=by, reason=reason)
    membership_grant(user=user, site=site, role=role, by=by, reason=reason)
    logger.info("account %s created by %s (%s at %s)", username, by, role, site.code)
    return user


@transaction.atomic
def staff_account_update(*, user: Any, by: Any, first_name: str, last_name: str, email: str, reason: str) -> Any:
    """Correct the name or e-mail of an account; the username never changes. Past signatures keep the name they
    were signed with."""
    _require_manageable(by, user)
    reason = _require_reason(reason)
    user.first_name, user.last_name, user.email = first_name, last_name, email
    user.full_clean(exclude=["password"])
    save_user(user, by=by, reason=reason, update_fields=["first_name", "last_name", "email"])
    return user


@transaction.atomic
def staff_account_set_active(*, user: Any, by: Any, active: bool, reason: str) -> Any:
    """Deactivate an account (it cannot log in; its sessions end at their next request) or activate it again.
    Its roles are kept; end them separately if the person leaves the trial."""
    _require_manageable(by, user)
    reason = _require_reason(reason)
    user.is_active = active
    save_user(user, by=by, reason=reason, update_fields=["is_active"])
    logger.info("account %s %s by %s: %s", user, "activated" if active else "deactivated", by, reason)
    return user


def password_link_path(user: Any) -> str:
    """The one-time link's path for ``user``'s current state (it stops working once a password is set or the
    account logs in, and after ``PASSWORD_RESET_TIMEOUT``)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return f"{reverse('password_set')}?{urlencode({'key': f'{uid}.{token}'})}"


@transaction.atomic
def staff_password_link(*, user: Any, by: Any, reason: str) -> str:
    """Reset an account's password: the old one stops working at once (and with it every open session), and a
    one-time link lets the person choose a new one. Returns the link's path, shown once to the administrator."""
    _require_manageable(by, user)
    reason = _require_reason(reason)
    user.set_unusable_password()
    save_user(user, by=by, reason=f"password reset, one-time link issued: {reason}", update_fields=["password"])
    logger.info("password link for %s issued by %s: %s", user, by, reason)
    return password_link_path(user)


@transaction.atomic
def staff_role_grant(*, user: Any, site: Site, role: Role, by: Any, reason: str) -> StaffMembership:
    """An administrator gives ``user`` a role at one of the administrator's own sites (the administrator role
    included: it gives no more than the granter holds there). Not to themself, not to an inactive account."""
    require(by, "trial_site.add_staffmembership", site)
    _require_other_account(by, user)
    reason = _require_reason(reason)
    if not user.is_active:
        raise ValidationError(_("The account is deactivated: activate it first."))
    return membership_grant(user=user, site=site, role=role, by=by, reason=reason)


@transaction.atomic
def staff_role_end(*, membership: StaffMembership, by: Any, reason: str) -> StaffMembership:
    """An administrator ends a role held at one of the administrator's own sites (not their own)."""
    require(by, "trial_site.change_staffmembership", membership.site)
    _require_other_account(by, membership.user)
    reason = _require_reason(reason)
    if not membership.is_active:
        raise ValidationError(_("This role has ended already."))
    return membership_end(membership=membership, by=by, reason=reason)


@transaction.atomic
def own_password_set(*, user: Any, password: str, reason: str) -> Any:
    """The person sets their own password (validated by the form against ``AUTH_PASSWORD_VALIDATORS``): after
    re-entering the current one (``password_change``), or with a one-time link (``password_set``)."""
    user.set_password(password)
    save_user(user, by=user, reason=reason, update_fields=["password"])
    logger.info("password of %s set: %s", user, reason)
    return user


@transaction.atomic
def permission_delegate(*, user: Any, permission: str, by: Any, reason: str, end: bool = False) -> bool:
    """Delegate to ``user`` (or, with ``end``, take back) one of ``DELEGABLE_PERMISSIONS``, on the server
    (``manage.py permission_delegate``). It counts only where the user holds a role (``user_can``). The change is in
    the account's history, attributed to ``by``, its reason saying what was delegated or ended and why. Returns
    whether anything changed (delegating twice, or ending what is not delegated, changes nothing)."""
    from trial_site.roles import DELEGABLE_PERMISSIONS

    if permission not in DELEGABLE_PERMISSIONS:
        raise ValidationError({"permission": f"{permission} is not delegable: it comes from a role only"})
    reason = _require_reason(reason)
    app_label, codename = permission.split(".", 1)
    granted = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    account = get_user_model().objects.select_for_update().get(pk=user.pk)
    held = account.user_permissions.filter(pk=granted.pk).exists()
    if held != end:
        return False
    if end:
        account.user_permissions.remove(granted)
    else:
        account.user_permissions.add(granted)
    what = "delegation ended" if end else "delegated"
    save_user(account, by=by, reason=f"{what}: {permission} ({reason})")
    logger.info("%s %s for %s by %s: %s", what, permission, account, by, reason)
    return True
