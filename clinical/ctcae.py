"""Grades of laboratory abnormalities by the Common Terminology Criteria for Adverse Events (CTCAE) v5.0.

Each function takes one result and the laboratory's own normal limit (lower limit of normal, LLN, for a count
that falls; upper limit of normal, ULN, for an enzyme that rises) and returns the grade with the rule that gave
it, in words. Units: haemoglobin in g/dL, ALT in U/L (ULN in the same unit), cell counts in ×10⁹/L (the same
number as ×10³/µL).

How the bands are read: "< 10.0–8.0" means below 10.0 and at or above 8.0, so haemoglobin 10.0 g/dL is grade 1,
9.99 and 8.0 are grade 2, and 7.99 is grade 3. "> 3–5 × ULN" means above 3 × ULN and at or below 5 × ULN, so
ALT exactly 3 × ULN is grade 1. Values are compared as entered, never rounded first.

For the falling counts, the fixed thresholds are applied first and the LLN only separates grade 1 from grade 0.
So a value below a fixed threshold is graded even when the laboratory's LLN is lower still (white cells 2.9 with
an LLN of 2.8 is grade 2), and even when the LLN is not recorded. Without the LLN, a value at or above the
grade-2 threshold cannot be told apart as grade 0 or 1, and the grade is None.

Grade 0 means "not abnormal by CTCAE"; the grade is None when it cannot be decided because the normal limit is
missing. Grade 4 anaemia ("life-threatening consequences; urgent intervention indicated") and grade 5 (death)
are clinical judgements: they are never assigned from a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from clinical.display import number, number_against

CTCAE_VERSION: Final = "5.0"

COUNT_UNIT: Final = "×10⁹/L"
HB_UNIT: Final = "g/dL"
ALT_UNIT: Final = "U/L"
HB_MAX_PLAUSIBLE_G_DL: Final = 25.0
"""Above this a haemoglobin value is taken to be in g/L (divide by 10) and refused."""


@dataclass(frozen=True)
class LabGrade:
    """The CTCAE grade of one laboratory result: 0 not abnormal, 1–4 mild to life-threatening, None cannot be
    graded (the laboratory's normal limit is missing). ``rule`` explains the grade in words; ``ctcae_version``
    is stored with it, as the protocol requires. ``reference`` says, in words, which normal limit graded it and
    where that limit comes from (the caller knows: a site's reference range, a protocol default, a report)."""

    test: str
    grade: int | None
    value: float
    rule: str
    ctcae_version: str = CTCAE_VERSION
    reference: str = ""


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, not {value!r}")
    return value


def _result(value: float, what: str, unit: str) -> float:
    if _finite(value, what) < 0:
        raise ValueError(f"{what} cannot be negative: {value} {unit}")
    return value


def _limit(limit: float | None, what: str, unit: str) -> float | None:
    if limit is None:
        return None
    if _finite(limit, what) <= 0:
        raise ValueError(f"{what} must be above 0, not {limit} {unit}")
    return limit


@dataclass(frozen=True)
class _FallingCount:
    test: str
    term: str  # the CTCAE v5.0 term
    label: str  # the result as it reads in a sentence
    unit: str
    thresholds: tuple[float, ...]  # the lower edges of grade 1, 2, …: a value below thresholds[k] is grade k + 2
    decimals: int  # thresholds are written as in CTCAE: "10.0", "1.5", "75"
    last_grade_is_clinical: bool = False

    def threshold(self, index: int) -> str:
        return f"{self.thresholds[index]:.{self.decimals}f}"


def _grade_falling(spec: _FallingCount, value: float, lln: float | None) -> LabGrade:
    value = _result(value, spec.label, spec.unit)
    lln = _limit(lln, f"the LLN of {spec.label}", spec.unit)
    thresholds = spec.thresholds
    shown_limits = (*thresholds, *(() if lln is None else (lln,)))
    shown = f"{spec.label} {number_against(value, *shown_limits)} {spec.unit}"
    prefix = f"{spec.term} (CTCAE v{CTCAE_VERSION}): {shown}"
    below = sum(value < threshold for threshold in thresholds)
    if below:
        grade = below + 1
        if below == len(thresholds):
            band = f"< {spec.threshold(-1)}"
        else:
            band = f"< {spec.threshold(below - 1)}–{spec.threshold(below)}"
        rule = f"{prefix} is in the band {band} {spec.unit}: grade {grade}."
        if lln is not None and value >= lln:
            rule += (
                f" The fixed threshold applies even though the value is at or above the laboratory's LLN "
                f"({number(lln)} {spec.unit})."
            )
        if below == len(thresholds) and spec.last_grade_is_clinical:
            rule += (
                f" Grade {grade + 1} (life-threatening consequences; urgent intervention indicated) is a clinical"
                " judgement, never assigned from the value alone."
            )
        return LabGrade(test=spec.test, grade=grade, value=value, rule=rule)
    if lln is None:
        rule = (
            f"{prefix} cannot be graded: the laboratory's LLN is not recorded, and at or above "
            f"{spec.threshold(0)} {spec.unit} the value is grade 0 or grade 1 depending on it."
        )
        return LabGrade(test=spec.test, grade=None, value=value, rule=rule)
    if value < lln:
        rule = (
            f"{prefix} is in the band < LLN–{spec.threshold(0)} {spec.unit} (LLN {number(lln)} {spec.unit}): grade 1."
        )
        return LabGrade(test=spec.test, grade=1, value=value, rule=rule)
    rule = f"{prefix} is at or above the LLN ({number(lln)} {spec.unit}): grade 0, not decreased."
    return LabGrade(test=spec.test, grade=0, value=value, rule=rule)


_HAEMOGLOBIN: Final = _FallingCount(
    "haemoglobin", "Anemia", "haemoglobin", HB_UNIT, (10.0, 8.0), decimals=1, last_grade_is_clinical=True
)
_NEUTROPHILS: Final = _FallingCount(
    "neutrophils", "Neutrophil count decreased", "neutrophils", COUNT_UNIT, (1.5, 1.0, 0.5), decimals=1
)
_LYMPHOCYTES: Final = _FallingCount(
    "lymphocytes", "Lymphocyte count decreased", "lymphocytes", COUNT_UNIT, (0.8, 0.5, 0.2), decimals=1
)
_WHITE_CELLS: Final = _FallingCount(
    "white_cells", "White blood cell decreased", "white cells", COUNT_UNIT, (3.0, 2.0, 1.0), decimals=1
)
_PLATELETS: Final = _FallingCount(
    "platelets", "Platelet count decreased", "platelets", COUNT_UNIT, (75, 50, 25), decimals=0
)


def grade_haemoglobin(hb_g_dl: float, *, lln: float | None) -> LabGrade:
    """Anaemia: < LLN–10.0 g/dL grade 1; < 10.0–8.0 grade 2; < 8.0 grade 3.

    Grade 4 ("life-threatening consequences; urgent intervention indicated") is a clinical judgement and is
    never assigned from the value alone: the lowest haemoglobin gets grade 3 here.
    Raises ValueError for a negative value, an LLN that is not above 0, or a value or LLN above 25 g/dL
    (it is in g/L: divide by 10).
    """
    for value, what in ((hb_g_dl, "haemoglobin"), (lln, "the LLN of haemoglobin")):
        if value is not None and _finite(value, what) > HB_MAX_PLAUSIBLE_G_DL:
            raise ValueError(
                f"{what} {value} is above {number(HB_MAX_PLAUSIBLE_G_DL)} g/dL: it looks like g/L; enter g/dL "
                "(g/L ÷ 10)"
            )
    return _grade_falling(_HAEMOGLOBIN, hb_g_dl, lln)


def grade_neutrophils(anc: float, *, lln: float | None) -> LabGrade:
    """Neutrophil count decreased (×10⁹/L): < LLN–1.5 grade 1; < 1.5–1.0 grade 2; < 1.0–0.5 grade 3;
    < 0.5 grade 4. Raises ValueError for a negative count or an LLN that is not above 0."""
    return _grade_falling(_NEUTROPHILS, anc, lln)


def grade_lymphocytes(alc: float, *, lln: float | None) -> LabGrade:
    """Lymphocyte count decreased (×10⁹/L): < LLN–0.8 grade 1; < 0.8–0.5 grade 2; < 0.5–0.2 grade 3;
    < 0.2 grade 4. Raises ValueError for a negative count or an LLN that is not above 0."""
    return _grade_falling(_LYMPHOCYTES, alc, lln)


def grade_white_cells(wbc: float, *, lln: float | None) -> LabGrade:
    """White blood cell decreased (×10⁹/L): < LLN–3.0 grade 1; < 3.0–2.0 grade 2; < 2.0–1.0 grade 3;
    < 1.0 grade 4. Raises ValueError for a negative count or an LLN that is not above 0."""
    return _grade_falling(_WHITE_CELLS, wbc, lln)


def grade_platelets(platelets: float, *, lln: float | None) -> LabGrade:
    """Platelet count decreased (×10⁹/L): < LLN–75 grade 1; < 75–50 grade 2; < 50–25 grade 3; < 25 grade 4.
    Raises ValueError for a negative count or an LLN that is not above 0."""
    return _grade_falling(_PLATELETS, platelets, lln)


_ALT_TERM: Final = "Alanine aminotransferase increased"
_ALT_MULTIPLES: Final = (1, 3, 5, 20)  # ALT above this many × ULN is at least grade 1, 2, 3, 4


def _exact(value: float) -> Fraction:
    """The value as it was typed (0.7 is seven tenths), so 3 × ULN lands exactly on the typed product."""
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def grade_alt(alt: float, *, uln: float | None) -> LabGrade:
    """Alanine aminotransferase increased, for a participant whose baseline ALT was normal:
    > ULN–3.0 × ULN grade 1; > 3.0–5.0 × ULN grade 2; > 5.0–20.0 × ULN grade 3; > 20.0 × ULN grade 4.
    At or below the ULN is grade 0; without the ULN the grade is None.

    The edges belong to the lower grade: with a ULN of 40 U/L, ALT 120 (exactly 3 × ULN) is grade 1 and 120.1 is
    grade 2; 800 (20 × ULN) is grade 3. When the baseline ALT was already abnormal, CTCAE grades against the
    baseline value instead; that is left to the investigator.
    Raises ValueError for a negative value or a ULN that is not above 0.
    """
    alt = _result(alt, "ALT", ALT_UNIT)
    uln = _limit(uln, "the ULN of ALT", ALT_UNIT)
    prefix = f"{_ALT_TERM} (CTCAE v{CTCAE_VERSION}, normal baseline): ALT"
    if uln is None:
        rule = f"{prefix} {number(alt)} {ALT_UNIT} cannot be graded: the laboratory's ULN is not recorded."
        return LabGrade(test="alt", grade=None, value=alt, rule=rule)
    limits = [float(multiple * _exact(uln)) for multiple in _ALT_MULTIPLES]
    shown = f"{prefix} {number_against(alt, *limits)} {ALT_UNIT}"
    grade = sum(_exact(alt) > multiple * _exact(uln) for multiple in _ALT_MULTIPLES)
    if grade == 0:
        rule = f"{shown} is at or below the ULN ({number(uln)} {ALT_UNIT}): grade 0, not increased."
    elif grade == len(_ALT_MULTIPLES):
        rule = f"{shown} is > 20 × ULN (> {number(limits[-1])} {ALT_UNIT}; ULN {number(uln)}): grade 4."
    else:
        low, high = _ALT_MULTIPLES[grade - 1], _ALT_MULTIPLES[grade]
        band = f"> {'ULN' if low == 1 else low}–{high} × ULN"
        rule = (
            f"{shown} is in the band {band} (> {number(limits[grade - 1])}–{number(limits[grade])} {ALT_UNIT}; "
            f"ULN {number(uln)}): grade {grade}."
        )
    return LabGrade(test="alt", grade=grade, value=alt, rule=rule)
