"""Badges for statuses, decisions and criteria: one colour scheme everywhere."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from clinical.display import criterion_reading

register = template.Library()

DECISION_STYLE = {"eligible": "success", "not_eligible": "danger", "incomplete": "warning"}
CRITERION_STYLE = {True: "success", False: "danger", None: "warning"}  # in favour of eligibility, against, unknown
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


def _field(criterion: Any, name: str) -> Any:
    return criterion[name] if isinstance(criterion, dict) else getattr(criterion, name)


@register.simple_tag
def criterion_badge(criterion: Any) -> str:
    """A criterion's result in the words of ``clinical.display.criterion_reading`` ("inclusion met", "exclusion
    absent", …), green when it speaks for eligibility, red against, yellow while not yet known."""
    reading = criterion_reading(_field(criterion, "kind"), _field(criterion, "status"))
    return format_html(
        '<span class="badge text-bg-{}" data-in-favour="{}">{}</span>',
        CRITERION_STYLE[reading.in_favour],
        {True: "yes", False: "no", None: "unknown"}[reading.in_favour],
        _(reading.words),
    )


@register.simple_tag
def status_badge(status: Any) -> str:
    return format_html(
        '<span class="badge text-bg-{}" data-status="{}">{}</span>', STATUS_STYLE[str(status)], status, status.label
    )


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key)


STATUS_FILL = {
    "consented": "#6c757d", "screening": "#0dcaf0", "eligible": "#75b798", "confirmed": "#198754",
    "screen_failed": "#dc3545", "randomised": "#0d6efd", "withdrawn": "#212529",
}  # fmt: skip


@register.simple_tag
def status_bar(status_counts: dict[Any, int], planned: int = 0) -> str:
    """A stacked SVG bar of participants by status (SVG attributes, not inline styles: the CSP allows it)."""
    from screening.status import ScreeningStatus

    total = sum(status_counts.values())
    if not total:
        return ""
    width, height, x = 1000, 28, 0.0
    parts = []
    for status in ScreeningStatus:
        count = status_counts.get(status, 0)
        if not count:
            continue
        span = width * count / total
        parts.append(
            format_html(
                '<rect x="{}" y="0" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                f"{x:.1f}",
                f"{span:.1f}",
                height,
                STATUS_FILL[status],
                status.label,
                count,
            )
        )
        if span > 40:
            parts.append(
                format_html(
                    '<text x="{}" y="19" fill="#fff" font-size="14" text-anchor="middle">{}</text>',
                    f"{x + span / 2:.1f}",
                    count,
                )
            )
        x += span
    title = _("Participants by screening status")
    return format_html(
        '<svg class="status-bar" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">{}</svg>',
        width,
        height,
        title,
        mark_safe("".join(parts)),  # noqa: S308 (every part is built by format_html)
    )


@register.simple_tag
def status_fill(status: Any) -> str:
    return STATUS_FILL[str(status)]


@register.inclusion_tag("screening/_reconsent_banner.html", takes_context=True)
def reconsent_banner(context: dict[str, Any], participant: Any) -> dict[str, Any]:
    """The banner of a participant who must re-consent (the screening summary, the visit schedule): which version,
    since when, what it blocks, and the link to record it for those who may."""
    from screening.selectors import RECORD_RECONSENT, reconsent_due
    from trial_site.permissions import user_can

    decision = reconsent_due(participant)
    user = context.get("user")
    return {
        "participant": participant,
        "decision": decision,
        "can_record": decision.due and user is not None and user_can(user, RECORD_RECONSENT, participant.site),
    }
