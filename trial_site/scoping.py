"""Site scoping: the one helper that limits any participant-owned queryset to the user's sites.

A record of another site is answered with 404 (its existence is not revealed) and the attempt is logged.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from django.db import models
from django.http import Http404, HttpRequest

from trial_site.models import Site, StaffMembership
from trial_site.permissions import site_ids_where
from trial_site.services import access_event_record

logger = logging.getLogger("trial_site.security")

ModelT = TypeVar("ModelT", bound=models.Model)


def user_site_ids(user: Any) -> models.QuerySet:
    """The ids of the sites where ``user`` holds an active membership, as a subquery (no query of its own)."""
    return StaffMembership.objects.filter(user_id=user.pk, is_active=True).values("site_id")


def scope_to_user_sites(
    queryset: models.QuerySet[ModelT], user: Any, *, site_field: str = "site", permission: str | None = None
) -> models.QuerySet[ModelT]:
    """``queryset`` limited to rows whose ``site_field`` is one of the user's sites (nothing if anonymous).

    With ``permission``: only the sites where a role the user holds *there* grants it. A role counts at its own
    site only: a data manager at one site who is the blinded assessor at another reads the second site's data as
    the blinded assessor, never as a data manager.
    """
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    # No exception for superusers: they are server operators and see the data of the sites where they hold a role.
    lookup = "id__in" if queryset.model is Site and site_field == "site" else f"{site_field}__in"
    if permission is not None:
        return queryset.filter(**{lookup: sorted(site_ids_where(user, permission))})
    return queryset.filter(**{lookup: user_site_ids(user)})


def get_scoped_object_or_404(
    queryset: models.QuerySet[ModelT],
    request: HttpRequest,
    *,
    site_field: str = "site",
    permission: str | None = None,
    **lookup: Any,
) -> ModelT:
    """The one object matching ``lookup`` at one of the user's sites where the user holds ``permission`` and the
    permissions the view was let in with (``permission_required``); 404 otherwise.

    When the object exists at another site, the refusal is logged and kept in the access log: by the 404 handler
    (``trial_site.views.page_not_found``), once the view's transaction has been rolled back, so the access log row
    is not undone with it.
    """
    try:
        scoped = scope_to_user_sites(queryset, request.user, site_field=site_field, permission=permission)
        # The permissions the view was let in with (``permission_required``) must hold at the record's own site.
        for required in getattr(request, "site_permissions", ()):
            scoped = scope_to_user_sites(scoped, request.user, site_field=site_field, permission=required)
        return scoped.get(**lookup)
    except queryset.model.DoesNotExist:
        if queryset.filter(**lookup).exists():
            detail = f"{queryset.model._meta.label} at another site"
            logger.warning("cross-site access refused: user=%s path=%s %s", request.user, request.path, detail)
            raise CrossSiteRefusal(detail) from None
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


class CrossSiteRefusal(Http404):
    """A 404 for a record that exists at a site the user has no role at; the 404 handler logs it."""

    def __init__(self, detail: str) -> None:
        super().__init__("No such record.")
        self.detail = detail


def log_cross_site_refusal(request: HttpRequest, exception: Exception | None) -> None:
    """Keep a cross-site refusal in the access log (called by the 404 handler, outside the view's transaction)."""
    if isinstance(exception, CrossSiteRefusal):
        access_event_record(kind="access_denied", request=request, detail=exception.detail)
