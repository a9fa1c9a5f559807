"""Only reachable links: may this user open this page? Answered from the page's own permission (the one its view
declares with ``permission_required``), so that no template repeats a rule and no page links to a 403.

A view's finer rules (a blinded viewer and an earlier mRSS, a form the user may only read) are asked where the link
to it is made: ``screening.access.screening_form_access``, ``visits.record_status.FormState.opens``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve

from trial_site.permissions import user_can


def required_permission(url: str) -> str | None:
    """The permission the page at ``url`` requires (``permission_required``), None when it declares none."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return getattr(match.func, "required_permission", None)


class _SiteId:
    def __init__(self, pk: int) -> None:
        self.pk = pk


def may_open(user: Any, url: str, site: Any = None) -> bool:
    """Whether ``user`` may open ``url`` (at ``site``, the site of the record it shows, or its id; None: at any
    site). An empty URL opens nothing."""
    if not url:
        return False
    permission = required_permission(url)
    where = _SiteId(site) if isinstance(site, int) else site
    return permission is None or user_can(user, permission, where)


def may_open_url(user: Any, url: str, site: Any = None) -> str:
    """``url`` when ``user`` may open it, else "" (the page names the record without a link)."""
    return url if may_open(user, url, site) else ""
