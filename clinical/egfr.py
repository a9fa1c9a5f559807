"""Serum creatinine units and the CKD-EPI 2021 (race-free) eGFR equation.

eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [if female], with Scr in mg/dL,
κ = 0.7 (F) / 0.9 (M) and α = −0.241 (F) / −0.302 (M) (Inker et al., N Engl J Med 2021;385:1737-49).
"""

from __future__ import annotations

import math
from typing import Final

UMOL_PER_MG_DL: Final = 88.4
"""µmol/L of creatinine in 1 mg/dL."""

MG_DL: Final = "mg/dL"
UMOL_L: Final = "µmol/L"
CREATININE_UNITS: Final[tuple[str, ...]] = (MG_DL, UMOL_L)
"""The units a form offers, in the spelling this module prints."""

# "µ" is the micro sign (U+00B5); the Greek small letter mu (U+03BC) looks the same and is typed by some
# keyboards, and "umol/L" is the ASCII spelling.
_UMOL_SPELLINGS: Final = frozenset({"µmol/L", "μmol/L", "umol/L"})

_KAPPA: Final = {"F": 0.7, "M": 0.9}
_ALPHA: Final = {"F": -0.241, "M": -0.302}
_FEMALE_FACTOR: Final = 1.012
MIN_ADULT_AGE_YEARS: Final = 18


def _positive_finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number, not {value!r}")
    return float(value)


def creatinine_mg_dl(value: float, unit: str) -> float:
    """Serum creatinine in mg/dL from a value in "mg/dL" or "µmol/L" (also "umol/L"); µmol/L ÷ 88.4.

    Raises ValueError for an unknown unit or a value that is not a positive number.
    """
    value = _positive_finite(value, "creatinine")
    if unit == MG_DL:
        return value
    if unit in _UMOL_SPELLINGS:
        return value / UMOL_PER_MG_DL
    raise ValueError(f"unknown creatinine unit {unit!r}; expected {MG_DL!r} or {UMOL_L!r}")


def egfr_ckd_epi_2021(*, creatinine_mg_dl: float, age_years: float, sex: str) -> float:
    """eGFR in mL/min/1.73 m² by CKD-EPI 2021 (race-free), unrounded.

    ``sex`` is "F" or "M"; ``age_years`` must be ≥ 18 (the equation is validated in adults only).
    Raises ValueError for another sex, an age below 18 or a creatinine that is not a positive number.
    """
    if sex not in _KAPPA:
        raise ValueError(f"sex must be 'F' or 'M' for CKD-EPI, not {sex!r}")
    scr = _positive_finite(creatinine_mg_dl, "creatinine")
    if isinstance(age_years, bool) or not isinstance(age_years, int | float) or not math.isfinite(age_years):
        raise ValueError(f"age must be a number of years, not {age_years!r}")
    if age_years < MIN_ADULT_AGE_YEARS:
        raise ValueError(f"CKD-EPI 2021 is for adults (age ≥ {MIN_ADULT_AGE_YEARS}); age given: {age_years}")
    ratio = scr / _KAPPA[sex]
    egfr = 142 * min(ratio, 1.0) ** _ALPHA[sex] * max(ratio, 1.0) ** -1.200 * 0.9938**age_years
    if sex == "F":
        egfr *= _FEMALE_FACTOR
    return egfr
