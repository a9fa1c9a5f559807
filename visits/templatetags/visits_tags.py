"""Badges and grid cells of the visit schedule."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

register = template.Library()

STATE_STYLE = {
    "upcoming": ("light", gettext_lazy("upcoming")), "open": ("primary", gettext_lazy("open")),
    "overdue": ("danger", gettext_lazy("overdue")), "done": ("success", gettext_lazy("done")),
    "missed": ("secondary", gettext_lazy("missed")), "cancelled": ("dark", gettext_lazy("no longer due")),
}  # fmt: skip


@register.simple_tag
def visit_state_badge(state: Any) -> str:
    style, text = STATE_STYLE[str(state)]
    return format_html('<span class="badge text-bg-{}" data-state="{}">{}</span>', style, state, text)


@register.simple_tag
def prefilled_ae(grade: Any, visit: Any) -> str:
    """The query string that pre-fills an adverse event from a graded laboratory value."""
    from django.utils.http import urlencode

    description = f"{grade.test.upper()} abnormal: {grade.value} (CTCAE grade {grade.grade})"
    onset = (visit.done_on or visit.target_date).isoformat()
    return urlencode({"description": description, "grade": grade.grade, "onset_date": onset, "visit": visit.pk})
