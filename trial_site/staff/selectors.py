"""Reads of the staff pages: the accounts that work at the administrator's sites, their roles there, and the history
of an account and of its roles (old → new, who, when, why), each in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from trial_site.models import Site, StaffMembership
from trial_site.permissions import site_ids_where
from trial_site.roles import Role

# What an administrator manages, by permission: seeing staff, and the sites offered for a new account or role.
SEE_STAFF = "auth.view_user"
ADD_ACCOUNT = "auth.add_user"
GRANT_ROLE = "trial_site.add_staffmembership"


def staff_site_ids(user: Any, permission: str = SEE_STAFF) -> frozenset[int]:
    return site_ids_where(user, permission)


def sites_for(user: Any, permission: str) -> QuerySet[Site]:
    return Site.objects.filter(pk__in=staff_site_ids(user, permission)).order_by("code")


def staff_at_sites(user: Any, *, search: str = "") -> QuerySet[Any]:
    """The accounts that hold or held a role at the user's sites, each with its roles there (two queries)."""
    sites = staff_site_ids(user)
    worked_here = StaffMembership.objects.filter(site_id__in=sites).values("user_id")
    accounts = get_user_model().objects.filter(pk__in=worked_here)
    if search:
        accounts = accounts.filter(
            Q(username__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search)
        )
    return accounts.order_by("last_name", "first_name", "username").prefetch_related(
        Prefetch(
            "memberships",
            queryset=StaffMembership.objects.filter(site_id__in=sites)
            .select_related("site")
            .order_by("-is_active", "site__code", "role"),
            to_attr="roles_here",
        )
    )


def staff_account(user: Any, pk: int) -> Any | None:
    """The account ``pk`` if it holds or held a role at one of the user's sites, else None."""
    return staff_at_sites(user).filter(pk=pk).first()


def account_exists(pk: int) -> bool:
    return get_user_model().objects.filter(pk=pk).exists()


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    at: datetime
    by: str
    what: str
    reason: str
    changes: list[Change] = field(default_factory=list)
    kind: str = "~"


ACCOUNT_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")
ROLE_FIELDS = ("is_active",)


def _shown(value: Any) -> str:
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    return "" if value is None else str(value)


def _label(model: Any, name: str) -> str:
    return str(model._meta.get_field(name).verbose_name)


def _entries(rows: list[Any], fields: tuple[str, ...], what: Any) -> list[HistoryEntry]:
    """One entry per history row, with the fields that changed from the row before (of the same record)."""
    entries = []
    previous: dict[int, Any] = {}
    for row in rows:
        before = previous.get(row.id)
        changes = []
        if before is not None:
            changes = [
                Change(_label(type(row), name), _shown(getattr(before, name)), _shown(getattr(row, name)))
                for name in fields
                if getattr(before, name) != getattr(row, name)
            ]
        person = row.history_user
        entries.append(
            HistoryEntry(
                at=row.history_date,
                by=(person.get_full_name() or person.get_username()) if person is not None else _("the system"),
                what=what(row),
                reason=row.history_change_reason or "",
                changes=changes,
                kind=row.history_type,
            )
        )
        previous[row.id] = row
    return entries


def account_history(user: Any, account: Any) -> list[HistoryEntry]:
    """The account's history and that of its roles at the user's sites, newest first (two queries)."""
    sites = staff_site_ids(user)
    account_rows = list(
        account.history.select_related("history_user").order_by("history_date", "history_id")  # type: ignore[attr-defined]
    )
    role_rows = list(
        StaffMembership.history.filter(user_id=account.pk, site_id__in=sites)
        .select_related("history_user", "site")
        .order_by("history_date", "history_id")
    )
    entries = _entries(account_rows, ACCOUNT_FIELDS, lambda row: _("Account"))
    entries += _entries(
        role_rows,
        ROLE_FIELDS,
        lambda row: _("%(role)s at %(site)s") % {"role": Role(row.role).label, "site": row.site.code},
    )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)
