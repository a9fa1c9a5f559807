"""Links only where they lead: ``{% url 'screening:participant' number as to %}{% may_open to participant.site as
shown %}{% if shown %}<a href="{{ to }}">…</a>{% else %}…{% endif %}`` (``trial_site.reachable``)."""

from __future__ import annotations

from typing import Any

from django import template

from trial_site.reachable import may_open as _may_open

register = template.Library()


@register.simple_tag(takes_context=True)
def may_open(context: Any, url: str, site: Any = None) -> bool:
    """Whether the page's user may open ``url`` (at ``site``)."""
    user = context.get("user") or getattr(context.get("request"), "user", None)
    return user is not None and _may_open(user, url, site)
