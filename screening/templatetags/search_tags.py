"""The header's search box: ``{% if user|may_search_participants %}`` (shown to those who may open a participant)."""

from __future__ import annotations

from typing import Any

from django import template

from screening.search import may_search

register = template.Library()


@register.filter
def may_search_participants(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and may_search(user)
