"""Badges for statuses, decisions and criteria: one colour scheme everywhere."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()

DECISION_STYLE = {"eligible": "success", "not_eligible": "danger", "incomplete": "warning"}
CRITERION_STYLE = {"met": "success", "failed": "danger", "unknown": "warning"}
STATUS_STYLE = {
    "consented": "secondary", "screening": "info", "eligible": "success", "confirmed": "success",
    "screen_failed": "danger", "randomised": "primary", "withdrawn": "dark",
}  # fmt: skip


def decision_text(decision: str) -> str:
    return {"eligible": _("Eligible"), "not_eligible": _("Not eligible"), "incomplete": _("Incomplete")}[decision]


@register.simple_tag
def decision_label(decision: str) -> str:
    return decision_text(str(decision))


@register.simple_tag
def decision_alert_class(decision: str) -> str:
    return f"alert-{DECISION_STYLE[str(decision)]}"


@register.simple_tag
def decision_badge(decision: str) -> str:
    return format_html(
        '<span class="badge text-bg-{}">{}</span>', DECISION_STYLE[str(decision)], decision_text(str(decision))
    )


@register.simple_tag
def criterion_badge(status: str) -> str:
    text = {"met": _("met"), "failed": _("failed"), "unknown": _("not yet known")}[str(status)]
    return format_html('<span class="badge text-bg-{}">{}</span>', CRITERION_STYLE[str(status)], text)


@register.simple_tag
def status_badge(status: Any) -> str:
    return format_html(
        '<span class="badge text-bg-{}" data-status="{}">{}</span>', STATUS_STYLE[str(status)], status, status.label
    )


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key)
