"""Oral corticosteroid doses as prednisone equivalents (for exclusion E6: > 10 mg/day prednisone or equivalent)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Final

# Usual equivalent anti-inflammatory oral doses: 5 mg prednisone ≈ 5 mg prednisolone ≈ 4 mg methylprednisolone
# ≈ 20 mg hydrocortisone ≈ 0.75 mg dexamethasone ≈ 0.6 mg betamethasone ≈ 6 mg deflazacort.
# Sources: BNF, "Glucocorticoid therapy: equivalent anti-inflammatory doses" (prednisolone 5 mg, methyl-
# prednisolone 4 mg, hydrocortisone 20 mg, dexamethasone 750 micrograms, deflazacort 6 mg); Chrousos,
# "Adrenocorticosteroids & adrenocortical antagonists", Katzung's Basic & Clinical Pharmacology (betamethasone
# 0.6 mg; the BNF lists 750 micrograms). Each factor is mg of prednisone per mg of the drug: 5 / equivalent dose.
_PREDNISONE_REFERENCE_MG: Final = Fraction(5)
_EQUIVALENT_DOSE_MG: Final[dict[str, Fraction]] = {
    "prednisone": Fraction(5),
    "prednisolone": Fraction(5),
    "methylprednisolone": Fraction(4),
    "deflazacort": Fraction(6),
    "hydrocortisone": Fraction(20),
    "dexamethasone": Fraction("0.75"),
    "betamethasone": Fraction("0.6"),
}
PREDNISONE_EQUIVALENT_FACTOR: Final[dict[str, float]] = {
    drug: float(_PREDNISONE_REFERENCE_MG / dose) for drug, dose in _EQUIVALENT_DOSE_MG.items()
}
"""mg of prednisone per mg of the drug, keyed by lower-case generic name: prednisone 1, prednisolone 1,
methylprednisolone 5/4, deflazacort 5/6, hydrocortisone 5/20, dexamethasone 5/0.75, betamethasone 5/0.6."""


def prednisone_equivalent_mg(drug: str, daily_dose_mg: float) -> float:
    """The daily prednisone-equivalent dose in mg of ``daily_dose_mg`` of ``drug`` (generic name, any case).

    Computed exactly from the dose as entered and then rounded once to a float, so an equivalent dose lands
    exactly on the threshold (1.5 mg dexamethasone is 10 mg prednisone, not 10.000000000000002).
    Raises ValueError for a drug not in ``PREDNISONE_EQUIVALENT_FACTOR`` or a dose that is negative or not a
    number.
    """
    equivalent = _EQUIVALENT_DOSE_MG.get(drug.strip().lower()) if isinstance(drug, str) else None
    if equivalent is None:
        known = ", ".join(_EQUIVALENT_DOSE_MG)
        raise ValueError(f"unknown corticosteroid {drug!r}; known: {known}")
    if (
        isinstance(daily_dose_mg, bool)
        or not isinstance(daily_dose_mg, int | float)
        or not math.isfinite(daily_dose_mg)
        or daily_dose_mg < 0
    ):
        raise ValueError(f"daily dose must be a number of mg ≥ 0, not {daily_dose_mg!r}")
    return float(Fraction(repr(daily_dose_mg)) * _PREDNISONE_REFERENCE_MG / equivalent)
