"""Enrolment over time as an inline SVG step chart (attributes only, no inline styles, so the
Content-Security-Policy allows it): cumulative people screened and randomised per month against the target."""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from exports.reports import Enrolment

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 300, 44, 20, 20, 48
SCREENED, RANDOMISED, TARGET = "#6c757d", "#0d6efd", "#dc3545"


def n(value: float) -> str:
    return f"{value:.1f}"


def _ticks(top: int) -> list[int]:
    step = max(1, -(-top // 6))
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000):
        if nice >= step:
            step = nice
            break
    return list(range(0, top + step, step))


def enrolment_chart(data: Enrolment) -> SafeString:
    """Step lines of cumulative screened and randomised at the end of each month; a dashed target line."""
    months = data.months
    if not months:
        return SafeString("")
    past = [m for m in months if m.screened >= 0]
    top = max([data.planned, *(m.screened for m in past), *(m.randomised for m in past)])
    ticks = _ticks(top)
    top = ticks[-1]
    slots = len(months)

    def x(index: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * index / slots

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dee2e6"/>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#6c757d">{}</text>',
        ((LEFT, WIDTH - RIGHT, n(y(v)), n(y(v)), LEFT - 6, n(y(v) + 4), v) for v in ticks),
    )
    every = max(1, -(-slots // 12))
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#6c757d">{}</text>',
        (
            (n(x(index + 0.5)), HEIGHT - BOTTOM + 16, date_format(month.month, "M Y"))
            for index, month in enumerate(months)
            if index % every == 0
        ),
    )

    def steps(values: list[int]) -> str:
        points = [f"{n(x(0))},{n(y(0))}"]
        for index, value in enumerate(values):
            points += [f"{n(x(index))},{n(y(value))}", f"{n(x(index + 1))},{n(y(value))}"]
        return " ".join(points)

    target_points = [(index + 1, month.target) for index, month in enumerate(months) if month.target is not None]
    target = ""
    if target_points:
        start = target_points[0][0] - 1
        line = " ".join(f"{n(x(i))},{n(y(v))}" for i, v in [(start, 0.0), *target_points])
        target = format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="6 4" '
            'data-testid="enrolment-target"><title>{}</title></polyline>',
            line,
            TARGET,
            _("Target: %(planned)s randomised") % {"planned": data.planned},
        )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="14" height="3" fill="{}"/>'
        '<text x="{}" y="{}" font-size="11" fill="#212529">{}</text>',
        (
            (LEFT + 10 + 170 * i, HEIGHT - 14, colour, LEFT + 30 + 170 * i, HEIGHT - 10, label)
            for i, (colour, label) in enumerate(
                (
                    (SCREENED, _("Screened (people)")),
                    (RANDOMISED, _("Randomised")),
                    (TARGET, pgettext("enrolment target", "Target")),
                )
            )
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" class="w-100" role="img" aria-label="{}" data-testid="enrolment-chart">{}{}'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2" data-testid="enrolment-screened"/>'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5" data-testid="enrolment-randomised"/>'
        "{}{}</svg>",
        WIDTH,
        HEIGHT,
        _("Enrolment over time against the target"),
        grid,
        labels,
        steps([m.screened for m in past]),
        SCREENED,
        steps([m.randomised for m in past]),
        RANDOMISED,
        target,
        legend,
    )
