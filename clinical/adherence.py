"""Adherence to study tablets by pill count: tablets taken (dispensed − returned) against tablets expected.

The period runs from the dispensing date up to the day before the return date: the dispensing day counts
(Day 1 is the day of the first dose) and the return day does not (that day's dose belongs to the next
period, which starts on it). So consecutive periods chain without a gap or an overlap. Tablets dispensed on
1 March and returned on 29 March cover 28 days.

Nothing here knows the study drugs: the caller passes the tablets expected per week from the protocol and
the participant's current dose (a daily tablet is 7 a week; a weekly dose of ten tablets is 10 a week).
"""

from __future__ import annotations

import math
from datetime import date, datetime


def _plain_date(value: date, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"the {what} must be a calendar date (not a date and time), not {value!r}")
    return value


def _tablets(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"tablets {what} must be a whole number of 0 or more, not {value!r}")
    return value


def expected_doses(*, start: date, end: date, doses_per_week: float) -> float:
    """Tablets expected from ``start`` (the dispensing date, counted) up to ``end`` (the return date, not
    counted): days × ``doses_per_week`` ÷ 7, unrounded.

    One tablet daily from 1 to 29 March is 28 × 7 ÷ 7 = 28 tablets; ten tablets once a week over the same 28
    days is 40. For a once-weekly dose over a period that is not a whole number of weeks the result is a
    pro-rata average (30 days of a weekly dose of 10 is 42.86, while the participant took either 40 or 50
    depending on the weekday); compare such periods with care.
    Raises ValueError if ``end`` is before ``start`` or ``doses_per_week`` is negative or not a number.
    """
    start, end = _plain_date(start, "dispensing date"), _plain_date(end, "return date")
    if end < start:
        raise ValueError(f"the return date {end.isoformat()} is before the dispensing date {start.isoformat()}")
    if (
        isinstance(doses_per_week, bool)
        or not isinstance(doses_per_week, int | float)
        or not math.isfinite(doses_per_week)
        or doses_per_week < 0
    ):
        raise ValueError(f"tablets per week must be a number of 0 or more, not {doses_per_week!r}")
    return (end - start).days * doses_per_week / 7


def adherence_percent(*, dispensed: int, returned: int, expected: float) -> float | None:
    """Tablets taken as a percentage of tablets expected: (dispensed − returned) ÷ expected × 100, unrounded.

    Not capped at 100: above 100 % means more tablets are missing than the dose explains (extra doses, lost
    tablets or a miscount) and should be looked at. None when no tablets were expected (for example the drug
    was held for the whole period), since no percentage can be computed.
    Raises ValueError for a negative number of tablets, more tablets returned than dispensed, or a negative or
    non-numeric ``expected``.
    """
    dispensed = _tablets(dispensed, "dispensed")
    returned = _tablets(returned, "returned")
    if returned > dispensed:
        raise ValueError(f"{returned} tablets returned is more than the {dispensed} dispensed")
    if isinstance(expected, bool) or not isinstance(expected, int | float) or not math.isfinite(expected):
        raise ValueError(f"expected tablets must be a number, not {expected!r}")
    if expected < 0:
        raise ValueError(f"expected tablets cannot be negative, not {expected!r}")
    if expected == 0:
        return None
    return (dispensed - returned) * 100 / expected
