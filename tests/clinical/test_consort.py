"""The CONSORT diagram's layout: well-formed SVG, every number in its box, pooled without arm names, escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from clinical.consort import ArmFlow, ConsortFlow, consort_svg

SVG = "{http://www.w3.org/2000/svg}"
A = ArmFlow(allocated=5, received=4, lost=1, withdrew=1, died=0, stopped_treatment=1, analysed=2)
B = ArmFlow(allocated=4, received=4, lost=0, withdrew=0, died=1, stopped_treatment=0, analysed=3)
FLOW = ConsortFlow(
    episodes=21,
    assessed=20,
    not_meeting_criteria=7,
    failed_criteria=(("I4", 3), ("E8", 2), ("E17", 4)),
    declined=2,
    other=1,
    still_screening=1,
    randomised=9,
    randomised_in_error=1,
    arms=(A, B),
)


def parse(svg: str) -> ET.Element:
    """Parse SVG we made ourselves (not untrusted input)."""
    return ET.fromstring(svg)  # noqa: S314


def texts(svg: str, testid: str) -> list[str]:
    root = parse(svg)
    groups = [g for g in root.iter(f"{SVG}g") if g.get("data-testid") == testid]
    assert groups, testid
    return [text.text or "" for group in groups for text in group.iter(f"{SVG}text")]


def test_the_diagram_is_well_formed_and_holds_every_number() -> None:
    svg = consort_svg(FLOW, arm_labels=("A: baricitinib", "B: methotrexate"))
    assert parse(svg).tag == f"{SVG}svg"
    assert texts(svg, "consort-assessed")[0] == "Assessed for eligibility (n = 20)"
    assert "people; 21 screening episodes" in texts(svg, "consort-assessed")
    excluded = texts(svg, "consort-excluded")
    assert excluded[0] == "Excluded or not randomised (n = 11)"
    criteria = [line for line in excluded if line.split()[0][1:].isdigit()]
    assert criteria == ["I4 (n = 3)", "E8 (n = 2)", "E17 (n = 4)"]
    assert "Randomised (n = 9)" in texts(svg, "consort-randomised")
    assert "of whom randomised in error (n = 1)" in texts(svg, "consort-randomised")
    assert texts(svg, "consort-allocated-0")[:3] == [
        "Allocated to A: baricitinib (n = 5)",
        "Received allocated intervention (n = 4)",
        "Did not receive it (n = 1)",
    ]
    assert "Discontinued (n = 2)" in texts(svg, "consort-follow-up-0")
    assert "died (n = 1)" in texts(svg, "consort-follow-up-1")
    assert texts(svg, "consort-analysed-1") == ["Analysed (n = 3)", "No baseline and week-24 mRSS (n = 1)"]
    assert FLOW.excluded + FLOW.randomised == FLOW.assessed


def test_the_pooled_diagram_names_no_arm_and_adds_the_arms_together() -> None:
    svg = consort_svg(FLOW, arm_labels=None)
    parse(svg)
    assert "baricitinib" not in svg and "methotrexate" not in svg and "Allocated to" not in svg
    assert texts(svg, "consort-allocated-0")[0] == "Allocated, arms pooled (n = 9)"
    assert "Lost to follow-up (n = 1)" in texts(svg, "consort-follow-up-0")
    assert texts(svg, "consort-analysed-0")[0] == "Analysed (n = 5)"
    assert not [g for g in parse(svg).iter(f"{SVG}g") if g.get("data-testid") == "consort-allocated-1"]


def test_text_is_escaped_and_may_be_translated() -> None:
    svg = consort_svg(
        FLOW, arm_labels=("<script>&", 'B "x"'), text={"randomised": "দৈবচয়িত <b> (n = {n})", "title": 'a"b<'}
    )
    root = parse(svg)
    assert "<script>" not in svg and "<b>" not in svg
    assert "দৈবচয়িত <b> (n = 9)" in texts(svg, "consort-randomised")
    assert texts(svg, "consort-allocated-0")[0] == "Allocated to <script>& (n = 5)"
    assert root.get("aria-label") == 'a"b<'


def test_one_label_per_arm_is_needed() -> None:
    with pytest.raises(ValueError):
        consort_svg(FLOW, arm_labels=("A",))
