"""Pictures of a participant's course: the mRSS over time as an inline SVG (attributes only, no inline styles,
so the Content-Security-Policy allows it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from clinical.mrss import MRSS_MAX_TOTAL


@dataclass(frozen=True)
class Point:
    label: str  # "SCR", "D1", "W4", …
    day: date
    value: int


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 240, 40, 20, 16, 36


def n(value: float) -> str:
    """A coordinate, to one decimal (format_html would escape a float before formatting it)."""
    return f"{value:.1f}"


def mrss_chart(points: list[Point]) -> SafeString:
    """A line chart of the mRSS total (0–51) by date, each point labelled with its visit and value."""
    if not points:
        return SafeString("")
    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)

    def x(day: date) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - first).days / span

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / MRSS_MAX_TOTAL)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dee2e6"/>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#6c757d">{}</text>',
        ((LEFT, WIDTH - RIGHT, n(y(v)), n(y(v)), LEFT - 6, n(y(v) + 4), v) for v in (0, 10, 20, 30, 40, 51)),
    )
    line = " ".join(f"{n(x(p.day))},{n(y(p.value))}" for p in points)
    marks = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="4" fill="#0d6efd"><title>{} {}: {}</title></circle>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#212529">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#6c757d">{}</text>',
        (
            (
                x(p.day),
                y(p.value),
                p.label,
                p.day.isoformat(),
                p.value,
                x(p.day),
                y(p.value) - 8,
                p.value,
                x(p.day),
                HEIGHT - 12,
                p.label,
            )
            for p in points
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" class="w-100" role="img" aria-label="{}" data-testid="mrss-chart">{}'
        '<polyline points="{}" fill="none" stroke="#0d6efd" stroke-width="2"/>{}</svg>',
        WIDTH,
        HEIGHT,
        _("mRSS over time"),
        grid,
        line,
        marks,
    )
