"""The modified Rodnan skin score (mRSS): 17 areas scored 0–3, total 0–51."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

_PAIRED_AREAS: Final = (
    ("fingers", "Fingers"),
    ("hands", "Dorsum of hand"),
    ("forearms", "Forearm"),
    ("upper_arms", "Upper arm"),
    ("thighs", "Thigh"),
    ("lower_legs", "Lower leg"),
    ("feet", "Dorsum of foot"),
)

MRSS_AREAS: Final[tuple[tuple[str, str], ...]] = (
    ("face", "Face"),
    ("anterior_chest", "Anterior chest"),
    ("abdomen", "Abdomen"),
    *((f"{code}_{side}", f"{label}, {side}") for code, label in _PAIRED_AREAS for side in ("right", "left")),
)
"""The 17 areas in the order of the protocol, as (code, English label)."""

MRSS_AREA_CODES: Final[tuple[str, ...]] = tuple(code for code, _ in MRSS_AREAS)
MRSS_MAX_AREA_SCORE: Final = 3
MRSS_MAX_TOTAL: Final = MRSS_MAX_AREA_SCORE * len(MRSS_AREAS)  # 51


def _valid_score(code: str, score: int) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MRSS_MAX_AREA_SCORE:
        raise ValueError(f"mRSS score for {code!r} must be a whole number 0–{MRSS_MAX_AREA_SCORE}, not {score!r}")
    return score


def mrss_total(scores: Mapping[str, int | None]) -> int | None:
    """The total of the 17 area scores, or None while any area is missing or None.

    Raises ValueError for an unknown area code or a score that is not a whole number 0–3 (checked even while
    other areas are missing, so a bad entry is reported at once).
    """
    unknown = sorted(set(scores) - set(MRSS_AREA_CODES))
    if unknown:
        raise ValueError(f"unknown mRSS area code(s): {', '.join(map(repr, unknown))}")
    present = {code: _valid_score(code, score) for code, score in scores.items() if score is not None}
    if len(present) < len(MRSS_AREA_CODES):
        return None
    return sum(present.values())
