"""Identifying data on pages: ``{% if participant|identifiers_shown_to:user %}{{ participant.initials }}{% endif %}``.

The rule is ``trial_site.permissions.may_see_identifiers`` (per site, no query beyond the user's roles)."""

from __future__ import annotations

from typing import Any

from django import template

from trial_site.permissions import may_see_identifiers

register = template.Library()


@register.filter
def identifiers_shown_to(record: Any, user: Any) -> bool:
    """True when ``user`` may see the identifying data of ``record`` (anything with a ``site_id``)."""
    site_id = getattr(record, "site_id", None)
    return site_id is not None and may_see_identifiers(user, site_id)
