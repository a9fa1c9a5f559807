"""Numbers and dates in plain words for explanations shown to investigators."""

from __future__ import annotations

import math
from datetime import date
from typing import NamedTuple


def number(value: float) -> str:
    """A threshold as people write it: 8.0 → "8", 0.75 → "0.75", 10 → "10"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _side(value: float, threshold: float) -> int:
    return (value > threshold) - (value < threshold)


def number_against(value: float, *thresholds: float) -> str:
    """A value for reading. Typed values (up to 3 decimals) are shown as entered; computed ones such as eGFR
    are shortened (89.7342 → "89.7"), but never so much that they seem to sit on the other side of a
    threshold: 59.96 against 60 stays "59.96", not "60.0".
    """
    if isinstance(value, int) or not math.isfinite(value) or value.is_integer():
        return number(value)
    for decimals in range(1, 4):
        if float(f"{value:.{decimals}f}") == value:
            return f"{value:.{decimals}f}"
    for decimals in range(1 if abs(value) >= 10 else 2, 17):
        shown = f"{value:.{decimals}f}"
        rounded = float(shown)
        if rounded == value:
            return shown.rstrip("0").rstrip(".")
        if all(_side(rounded, threshold) == _side(value, threshold) for threshold in thresholds):
            return shown
    return repr(value)


def day(value: date) -> str:
    """A date as ISO 8601 (2025-03-01): unambiguous in every locale."""
    return value.isoformat()


def gettext_noop(text: str) -> str:
    """Marks English words for translation (makemessages finds them) without importing Django: the page that
    shows them translates them."""
    return text


class CriterionReading(NamedTuple):
    """How one criterion's result reads: ``words`` (English; pages translate them) and whether the result speaks
    for eligibility (True: green), against it (False: red) or is not yet known (None)."""

    words: str
    in_favour: bool | None


_READINGS: dict[tuple[str, str], CriterionReading] = {
    ("inclusion", "met"): CriterionReading(gettext_noop("inclusion met"), True),
    ("inclusion", "failed"): CriterionReading(gettext_noop("inclusion not met"), False),
    ("inclusion", "unknown"): CriterionReading(gettext_noop("not yet known"), None),
    ("exclusion", "met"): CriterionReading(gettext_noop("exclusion absent"), True),
    ("exclusion", "failed"): CriterionReading(gettext_noop("exclusion present"), False),
    ("exclusion", "unknown"): CriterionReading(gettext_noop("not yet known"), None),
}


def criterion_reading(kind: str, status: str) -> CriterionReading:
    """The one wording of a criterion's result, everywhere it is shown: an inclusion criterion is "met" or "not
    met", an exclusion criterion is "present" or "absent" (never "met" for an exclusion that is absent). ``kind``
    is "inclusion" or "exclusion"; ``status`` a ``CriterionStatus`` value ("met" = does not stand in the way,
    "failed" = stands in the way, "unknown"). Raises ``ValueError`` for anything else."""
    try:
        return _READINGS[(str(kind), str(status))]
    except KeyError:
        raise ValueError(f"no wording for a {kind!r} criterion with status {status!r}") from None
