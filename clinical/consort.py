"""The CONSORT 2010 flow diagram: the numbers of each box (``ConsortFlow``) and its layout as SVG.

Pure: the numbers are counted elsewhere (``exports.reports.consort_flow``); this module only lays out boxes.
Labels are templates with ``{n}`` (and ``{arm}``, ``{code}``) so that the caller may pass translated ones;
every text put into the SVG is escaped. With ``arm_labels=None`` the diagram is pooled: one column below
"Randomised" and no arm names, for blinded users.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class ArmFlow:
    """One arm below randomisation (or, pooled, every randomised participant)."""

    allocated: int
    received: int
    lost: int
    withdrew: int
    died: int
    stopped_treatment: int
    analysed: int

    @property
    def not_received(self) -> int:
        return self.allocated - self.received

    @property
    def discontinued(self) -> int:
        """Left the study or stopped the study treatment early, for a reason other than loss to follow-up."""
        return self.withdrew + self.died + self.stopped_treatment

    @property
    def not_analysed(self) -> int:
        return self.allocated - self.analysed


@dataclass(frozen=True)
class ConsortFlow:
    """The numbers of the CONSORT boxes. ``arms`` holds one ``ArmFlow`` per arm, or a single pooled one."""

    episodes: int
    assessed: int
    not_meeting_criteria: int
    failed_criteria: tuple[tuple[str, int], ...]
    declined: int
    other: int
    still_screening: int
    randomised: int
    randomised_in_error: int
    arms: tuple[ArmFlow, ...]

    @property
    def excluded(self) -> int:
        return self.not_meeting_criteria + self.declined + self.other + self.still_screening

    @property
    def pooled(self) -> ArmFlow:
        """All arms added together."""
        return pooled(self.arms)


def pooled(arms: tuple[ArmFlow, ...]) -> ArmFlow:
    return ArmFlow(
        **{name: sum(getattr(arm, name) for arm in arms) for name in ArmFlow.__dataclass_fields__}  # type: ignore[arg-type]
    )


DEFAULT_TEXT: dict[str, str] = {
    "title": "CONSORT 2010 flow diagram",
    "enrolment": "Enrolment",
    "allocation": "Allocation",
    "follow_up": "Follow-up",
    "analysis": "Analysis",
    "assessed": "Assessed for eligibility (n = {n})",
    "episodes": "people; {n} screening episodes",
    "excluded": "Excluded or not randomised (n = {n})",
    "not_meeting": "Not meeting the eligibility criteria (n = {n})",
    "criterion": "{code} (n = {n})",
    "declined": "Declined or withdrew consent (n = {n})",
    "other": "Other reasons (n = {n})",
    "still_screening": "Still in screening (n = {n})",
    "randomised": "Randomised (n = {n})",
    "in_error": "of whom randomised in error (n = {n})",
    "allocated": "Allocated to {arm} (n = {n})",
    "allocated_pooled": "Allocated, arms pooled (n = {n})",
    "received": "Received allocated intervention (n = {n})",
    "not_received": "Did not receive it (n = {n})",
    "lost": "Lost to follow-up (n = {n})",
    "discontinued": "Discontinued (n = {n})",
    "withdrew": "withdrew from the study (n = {n})",
    "died": "died (n = {n})",
    "stopped_treatment": "stopped treatment, followed up (n = {n})",
    "analysed": "Analysed (n = {n})",
    "not_analysed": "No baseline and week-24 mRSS (n = {n})",
}

WIDTH = 900
LINE = 17
PAD = 8
GAP = 22
MAIN_LEFT, MAIN_WIDTH = 110, 300
SIDE_LEFT, SIDE_WIDTH = 450, 420
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _box(x: float, y: float, width: float, lines: list[tuple[str, bool, int]], testid: str) -> tuple[str, float]:
    """A box with its lines (text, bold, indent); returns the SVG and the box's height."""
    height = 2 * PAD + LINE * len(lines) - 4
    parts = [
        f'<g data-testid="{escape(testid)}">',
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{width:.0f}" height="{height:.0f}" rx="3" fill="#ffffff" '
        'stroke="#495057"/>',
    ]
    for index, (text, bold, indent) in enumerate(lines):
        weight = ' font-weight="bold"' if bold else ""
        left, baseline = x + PAD + 14 * indent, y + PAD + LINE * index + 11
        parts.append(f'<text x="{left:.0f}" y="{baseline:.0f}" {FONT} fill="#212529"{weight}>{escape(text)}</text>')
    parts.append("</g>")
    return "".join(parts), height


def _band(y: float, text: str) -> tuple[str, float]:
    return (
        f'<rect x="10" y="{y:.0f}" width="{WIDTH - 20}" height="20" fill="#cfe2ff"/>'
        f'<text x="18" y="{y + 14:.0f}" {FONT} font-weight="bold" fill="#052c65">{escape(text)}</text>',
        20,
    )


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#495057" marker-end="url(#arrow)"/>'


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#495057"/>'


def consort_svg(flow: ConsortFlow, *, arm_labels: tuple[str, ...] | None, text: Mapping[str, str] | None = None) -> str:
    """The flow diagram as a standalone SVG document. ``arm_labels`` names the arms in the order of
    ``flow.arms``; None draws the pooled diagram (every arm added together, no arm named)."""
    words = {**DEFAULT_TEXT, **(text or {})}

    def say(key: str, **values: object) -> str:
        return words[key].format(**values)

    if arm_labels is not None and len(arm_labels) != len(flow.arms):
        raise ValueError("one label per arm is needed")
    columns: list[tuple[str | None, ArmFlow]]
    columns = [(None, flow.pooled)] if arm_labels is None else list(zip(arm_labels, flow.arms, strict=True))

    parts: list[str] = []
    y = 10.0
    band, height = _band(y, say("enrolment"))
    parts.append(band)
    y += height + 12
    main_centre = MAIN_LEFT + MAIN_WIDTH / 2
    assessed_lines = [(say("assessed", n=flow.assessed), True, 0), (say("episodes", n=flow.episodes), False, 0)]
    box, height = _box(MAIN_LEFT, y, MAIN_WIDTH, assessed_lines, "consort-assessed")
    parts.append(box)
    top_of_stem = y + height
    y += height + GAP
    excluded_lines = [
        (say("excluded", n=flow.excluded), True, 0),
        (say("not_meeting", n=flow.not_meeting_criteria), False, 1),
        *((say("criterion", code=code, n=count), False, 2) for code, count in flow.failed_criteria),
        (say("declined", n=flow.declined), False, 1),
        (say("other", n=flow.other), False, 1),
        (say("still_screening", n=flow.still_screening), False, 1),
    ]
    box, height = _box(SIDE_LEFT, y, SIDE_WIDTH, excluded_lines, "consort-excluded")
    parts.append(box)
    parts.append(_arrow(main_centre, y + height / 2, SIDE_LEFT, y + height / 2))
    y += height + GAP
    randomised_lines = [(say("randomised", n=flow.randomised), True, 0)]
    if flow.randomised_in_error:
        randomised_lines.append((say("in_error", n=flow.randomised_in_error), False, 0))
    parts.append(_arrow(main_centre, top_of_stem, main_centre, y))
    box, height = _box(MAIN_LEFT, y, MAIN_WIDTH, randomised_lines, "consort-randomised")
    parts.append(box)
    stem = y + height
    y += height + 12

    margin = 30
    column_width = (WIDTH - margin * (len(columns) + 1)) / len(columns) if len(columns) > 1 else 400
    lefts = (
        [margin + index * (column_width + margin) for index in range(len(columns))]
        if len(columns) > 1
        else [main_centre - column_width / 2]
    )
    centres = [left + column_width / 2 for left in lefts]

    band, height = _band(y, say("allocation"))
    junction = y + height + 8
    parts.append(_line(main_centre, stem, main_centre, junction))
    if len(columns) > 1:
        parts.append(_line(centres[0], junction, centres[-1], junction))
    parts.append(band)
    y = junction + GAP
    for centre in centres:
        parts.append(_arrow(centre, junction, centre, y))

    def stage(rows: list[list[tuple[str, bool, int]]], testid: str, top: float) -> float:
        heights = []
        for index, (left, lines) in enumerate(zip(lefts, rows, strict=True)):
            box, height = _box(left, top, column_width, lines, f"{testid}-{index}")
            parts.append(box)
            heights.append(height)
        return max(heights)

    allocation_rows = [
        [
            (
                say("allocated", arm=label, n=arm.allocated) if label else say("allocated_pooled", n=arm.allocated),
                True,
                0,
            ),
            (say("received", n=arm.received), False, 1),
            (say("not_received", n=arm.not_received), False, 1),
        ]
        for label, arm in columns
    ]
    y += stage(allocation_rows, "consort-allocated", y) + 8
    band, height = _band(y, say("follow_up"))
    parts.append(band)
    y += height + 8
    follow_rows = [
        [
            (say("lost", n=arm.lost), True, 0),
            (say("discontinued", n=arm.discontinued), True, 0),
            (say("withdrew", n=arm.withdrew), False, 1),
            (say("died", n=arm.died), False, 1),
            (say("stopped_treatment", n=arm.stopped_treatment), False, 1),
        ]
        for _, arm in columns
    ]
    y += stage(follow_rows, "consort-follow-up", y) + 8
    band, height = _band(y, say("analysis"))
    parts.append(band)
    y += height + 8
    analysis_rows = [
        [(say("analysed", n=arm.analysed), True, 0), (say("not_analysed", n=arm.not_analysed), False, 1)]
        for _, arm in columns
    ]
    y += stage(analysis_rows, "consort-analysed", y) + 10
    total_height = int(y)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {total_height}" width="{WIDTH}" '
        f'height="{total_height}" role="img" aria-label="{escape(say("title"), {chr(34): "&quot;"})}" '
        'data-testid="consort-diagram">'
        f"<title>{escape(say('title'))}</title>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>'
        f"{''.join(parts)}</svg>"
    )
