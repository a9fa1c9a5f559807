from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.ctcae import (
    CTCAE_VERSION,
    LabGrade,
    grade_alt,
    grade_haemoglobin,
    grade_lymphocytes,
    grade_neutrophils,
    grade_platelets,
    grade_white_cells,
)

FallingGrader = Callable[..., LabGrade]

# Both sides of every threshold, with a typical laboratory LLN.
FALLING_CASES = [
    # haemoglobin g/dL, LLN 12.0: < LLN–10.0 = 1; < 10.0–8.0 = 2; < 8.0 = 3 (never 4 from the value)
    (grade_haemoglobin, 12.0, 13.5, 0),
    (grade_haemoglobin, 12.0, 12.0, 0),
    (grade_haemoglobin, 12.0, 11.99, 1),
    (grade_haemoglobin, 12.0, 10.0, 1),
    (grade_haemoglobin, 12.0, 9.99, 2),
    (grade_haemoglobin, 12.0, 8.0, 2),
    (grade_haemoglobin, 12.0, 7.99, 3),
    (grade_haemoglobin, 12.0, 4.0, 3),
    (grade_haemoglobin, 12.0, 0, 3),
    # neutrophils ×10⁹/L, LLN 2.0: < LLN–1.5; < 1.5–1.0; < 1.0–0.5; < 0.5
    (grade_neutrophils, 2.0, 2.0, 0),
    (grade_neutrophils, 2.0, 1.99, 1),
    (grade_neutrophils, 2.0, 1.5, 1),
    (grade_neutrophils, 2.0, 1.49, 2),
    (grade_neutrophils, 2.0, 1.0, 2),
    (grade_neutrophils, 2.0, 0.99, 3),
    (grade_neutrophils, 2.0, 0.5, 3),
    (grade_neutrophils, 2.0, 0.49, 4),
    (grade_neutrophils, 2.0, 0, 4),
    # lymphocytes ×10⁹/L, LLN 1.0: < LLN–0.8; < 0.8–0.5; < 0.5–0.2; < 0.2
    (grade_lymphocytes, 1.0, 1.0, 0),
    (grade_lymphocytes, 1.0, 0.99, 1),
    (grade_lymphocytes, 1.0, 0.8, 1),
    (grade_lymphocytes, 1.0, 0.79, 2),
    (grade_lymphocytes, 1.0, 0.5, 2),
    (grade_lymphocytes, 1.0, 0.49, 3),
    (grade_lymphocytes, 1.0, 0.2, 3),
    (grade_lymphocytes, 1.0, 0.19, 4),
    # white cells ×10⁹/L, LLN 4.0: < LLN–3.0; < 3.0–2.0; < 2.0–1.0; < 1.0
    (grade_white_cells, 4.0, 4.0, 0),
    (grade_white_cells, 4.0, 3.99, 1),
    (grade_white_cells, 4.0, 3.0, 1),
    (grade_white_cells, 4.0, 2.99, 2),
    (grade_white_cells, 4.0, 2.0, 2),
    (grade_white_cells, 4.0, 1.99, 3),
    (grade_white_cells, 4.0, 1.0, 3),
    (grade_white_cells, 4.0, 0.99, 4),
    # platelets ×10⁹/L, LLN 150: < LLN–75; < 75–50; < 50–25; < 25
    (grade_platelets, 150, 150, 0),
    (grade_platelets, 150, 149, 1),
    (grade_platelets, 150, 75, 1),
    (grade_platelets, 150, 74.9, 2),
    (grade_platelets, 150, 50, 2),
    (grade_platelets, 150, 49.9, 3),
    (grade_platelets, 150, 25, 3),
    (grade_platelets, 150, 24.9, 4),
    (grade_platelets, 150, 3, 4),
]


@pytest.mark.parametrize(
    ("grader", "lln", "value", "grade"),
    FALLING_CASES,
    ids=[f"{case[0].__name__[6:]} {case[2]} LLN {case[1]} → {case[3]}" for case in FALLING_CASES],
)
def test_falling_counts_on_both_sides_of_every_threshold(
    grader: FallingGrader, lln: float, value: float, grade: int
) -> None:
    result = grader(value, lln=lln)
    assert result.grade == grade
    assert result.value == value
    assert result.ctcae_version == CTCAE_VERSION == "5.0"
    assert f"grade {grade}" in result.rule


ALT_CASES = [  # ULN 40 U/L: > ULN–3 × ULN = 1; > 3–5 × ULN = 2; > 5–20 × ULN = 3; > 20 × ULN = 4
    (0, 0),
    (39, 0),
    (40, 0),  # exactly the ULN
    (40.1, 1),
    (120, 1),  # exactly 3 × ULN
    (120.1, 2),
    (200, 2),  # exactly 5 × ULN
    (200.1, 3),
    (800, 3),  # exactly 20 × ULN
    (800.1, 4),
    (2500, 4),
]


@pytest.mark.parametrize(("alt", "grade"), ALT_CASES, ids=[f"ALT {alt} ULN 40 → {grade}" for alt, grade in ALT_CASES])
def test_alt_on_both_sides_of_every_multiple_of_the_uln(alt: float, grade: int) -> None:
    result = grade_alt(alt, uln=40)
    assert (result.test, result.grade, result.value) == ("alt", grade, alt)
    assert "normal baseline" in result.rule


def test_alt_multiples_are_exact_for_the_values_as_typed() -> None:
    # 3 × 30.4 in binary floating point is 91.19999999999999; as typed it is 91.2, exactly 3 × ULN: grade 1.
    assert grade_alt(91.2, uln=30.4).grade == 1
    assert grade_alt(91.21, uln=30.4).grade == 2
    assert grade_alt(152.0, uln=30.4).grade == 2  # 5 × ULN
    assert grade_alt(608, uln=30.4).grade == 3  # 20 × ULN
    assert grade_alt(30.4, uln=30.4).grade == 0


def test_rules_explain_the_grade() -> None:
    assert grade_haemoglobin(9.99, lln=12).rule == (
        "Anemia (CTCAE v5.0): haemoglobin 9.99 g/dL is in the band < 10.0–8.0 g/dL: grade 2."
    )
    assert grade_neutrophils(1.6, lln=2.0).rule == (
        "Neutrophil count decreased (CTCAE v5.0): neutrophils 1.6 ×10⁹/L is in the band < LLN–1.5 ×10⁹/L "
        "(LLN 2 ×10⁹/L): grade 1."
    )
    assert grade_platelets(160, lln=150).rule.endswith("is at or above the LLN (150 ×10⁹/L): grade 0, not decreased.")
    assert grade_alt(130, uln=40).rule == (
        "Alanine aminotransferase increased (CTCAE v5.0, normal baseline): ALT 130 U/L is in the band "
        "> 3–5 × ULN (> 120–200 U/L; ULN 40): grade 2."
    )
    assert "> 20 × ULN (> 800 U/L" in grade_alt(801, uln=40).rule


def test_haemoglobin_grade_4_is_never_assigned_from_the_value() -> None:
    result = grade_haemoglobin(3.5, lln=12)
    assert result.grade == 3
    assert "Grade 4 (life-threatening consequences" in result.rule
    assert "never assigned from the value alone" in result.rule
    assert "Grade 4" not in grade_haemoglobin(9, lln=12).rule


@pytest.mark.parametrize(
    ("grader", "lln", "value", "grade"),
    [
        (grade_white_cells, 2.8, 2.9, 2),  # above an unusually low LLN, but below 3.0
        (grade_white_cells, 2.8, 2.8, 2),
        (grade_white_cells, 2.8, 3.0, 0),
        (grade_neutrophils, 1.4, 1.45, 2),  # an LLN below 1.5 (e.g. benign ethnic neutropenia)
        (grade_neutrophils, 1.4, 1.5, 0),
        (grade_neutrophils, 1.5, 1.5, 0),  # an LLN on the threshold: grade 1 cannot occur
        (grade_lymphocytes, 0.7, 0.75, 2),
        (grade_haemoglobin, 9.5, 9.7, 2),
    ],
)
def test_fixed_thresholds_apply_before_the_lln(grader: FallingGrader, lln: float, value: float, grade: int) -> None:
    result = grader(value, lln=lln)
    assert result.grade == grade
    if grade and value >= lln:
        assert "even though the value is at or above the laboratory's LLN" in result.rule


@pytest.mark.parametrize(
    ("grader", "value", "grade"),
    [
        (grade_haemoglobin, 11.0, None),  # grade 0 or 1: needs the LLN
        (grade_haemoglobin, 10.0, None),
        (grade_haemoglobin, 9.99, 2),  # below a fixed threshold: graded without the LLN
        (grade_haemoglobin, 7.0, 3),
        (grade_neutrophils, 1.6, None),
        (grade_neutrophils, 0.3, 4),
        (grade_lymphocytes, 0.8, None),
        (grade_lymphocytes, 0.79, 2),
        (grade_white_cells, 3.0, None),
        (grade_white_cells, 1.5, 3),
        (grade_platelets, 200, None),
        (grade_platelets, 20, 4),
    ],
)
def test_without_the_lln_only_the_fixed_thresholds_grade(
    grader: FallingGrader, value: float, grade: int | None
) -> None:
    result = grader(value, lln=None)
    assert result.grade == grade
    if grade is None:
        assert "LLN is not recorded" in result.rule


def test_alt_without_the_uln_cannot_be_graded() -> None:
    result = grade_alt(900, uln=None)
    assert result.grade is None
    assert "ULN is not recorded" in result.rule


ALL_FALLING = [grade_haemoglobin, grade_neutrophils, grade_lymphocytes, grade_white_cells, grade_platelets]


@pytest.mark.parametrize("grader", ALL_FALLING)
@pytest.mark.parametrize(("value", "lln"), [(-0.1, 1.0), (1.0, 0), (1.0, -1.0), (float("nan"), 1.0), (True, 1.0)])
def test_negative_values_and_limits_not_above_0_are_refused(grader: FallingGrader, value: float, lln: float) -> None:
    with pytest.raises(ValueError):
        grader(value, lln=lln)


@pytest.mark.parametrize(("alt", "uln"), [(-1, 40), (50, 0), (50, -40), (float("inf"), 40), (50, float("nan"))])
def test_alt_refuses_negative_values_and_a_uln_not_above_0(alt: float, uln: float) -> None:
    with pytest.raises(ValueError):
        grade_alt(alt, uln=uln)


def test_haemoglobin_in_g_per_litre_is_refused() -> None:
    with pytest.raises(ValueError, match="g/L"):
        grade_haemoglobin(95, lln=12)
    with pytest.raises(ValueError, match="g/L"):
        grade_haemoglobin(9.5, lln=120)
    assert grade_haemoglobin(25, lln=12).grade == 0


values = st.floats(min_value=0, max_value=500, allow_nan=False)
limits = st.floats(min_value=0.01, max_value=500, allow_nan=False)


@given(grader=st.sampled_from(ALL_FALLING[1:]), lower=values, higher=values, lln=limits)
def test_a_lower_count_never_has_a_lower_grade(grader: FallingGrader, lower: float, higher: float, lln: float) -> None:
    lower, higher = min(lower, higher), max(lower, higher)
    low_grade, high_grade = grader(lower, lln=lln).grade, grader(higher, lln=lln).grade
    assert low_grade is not None and high_grade is not None
    assert 0 <= high_grade <= low_grade <= 4


@given(lower=values, higher=values, uln=limits)
def test_a_higher_alt_never_has_a_lower_grade(lower: float, higher: float, uln: float) -> None:
    lower, higher = min(lower, higher), max(lower, higher)
    low_grade, high_grade = grade_alt(lower, uln=uln).grade, grade_alt(higher, uln=uln).grade
    assert low_grade is not None and high_grade is not None
    assert 0 <= low_grade <= high_grade <= 4


haemoglobin = st.floats(min_value=0, max_value=25, allow_nan=False)


@given(lower=haemoglobin, higher=haemoglobin, lln=st.floats(min_value=0.1, max_value=25))
def test_a_lower_haemoglobin_never_has_a_lower_grade(lower: float, higher: float, lln: float) -> None:
    lower, higher = min(lower, higher), max(lower, higher)
    low_grade, high_grade = grade_haemoglobin(lower, lln=lln).grade, grade_haemoglobin(higher, lln=lln).grade
    assert low_grade is not None and high_grade is not None
    assert 0 <= high_grade <= low_grade <= 3
