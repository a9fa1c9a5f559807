"""Monitoring's writes, one module per part (queries, verification, signatures, locks, and the edit checks that
raise automatic queries): each write is ``<entity>_<verb>``, keyword-only, in one transaction, with its
permission checked at the record's site. Reads are in ``monitoring.selectors``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from trial_site.permissions import user_can


def require(user: Any, permission: str, site: Any = None) -> None:
    """Refuse (``PermissionDenied``) unless ``user`` holds ``permission`` at ``site``. The one check of every
    monitoring write, until the kernel has its own ``require``."""
    if not user_can(user, permission, site):
        raise PermissionDenied(f"{user} lacks {permission} at {site}")
