"""Badges and grid cells of the visit schedule."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trial_site import registry

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
def form_cell(row: Any, code: str) -> str:
    """One cell of the visit × form grid; a link to the form where it can be entered (the visit took place)."""
    from django.urls import reverse

    status = row.forms.get(code)
    if status is None:
        return mark_safe("<td></td>")
    symbol, style, title = {
        "entered": ("✓", "table-success", _("entered")),
        "required": ("○", "", _("required, not yet entered")),
        "not_required": ("–", "text-muted", _("not required")),
    }[status]
    if registry.visit_form(code) is not None and row.visit.done_on is not None and status != "not_required":
        url = reverse("visits:crf", args=[row.visit.pk, code])
        symbol = format_html('<a href="{}" class="stretched-link text-decoration-none">{}</a>', url, symbol)
    return format_html(
        '<td class="position-relative {}" title="{}" data-form="{}" data-status="{}">{}</td>',
        style, title, code, status, symbol,
    )  # fmt: skip


@register.simple_tag
def prefilled_ae(grade: Any, visit: Any) -> str:
    """The query string that pre-fills an adverse event from a graded laboratory value."""
    from django.utils.http import urlencode

    description = f"{grade.test.upper()} abnormal: {grade.value} (CTCAE grade {grade.grade})"
    onset = (visit.done_on or visit.target_date).isoformat()
    return urlencode({"description": description, "grade": grade.grade, "onset_date": onset, "visit": visit.pk})
