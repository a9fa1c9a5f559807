"""Calendar arithmetic for ages, disease duration and look-back windows.

One convention throughout: counting back n months (or years) from a date lands on the same day of the month,
or on the last day of that month when it is shorter (31 August minus 6 months is 28 or 29 February). A span
from ``start`` to ``end`` has completed n months exactly when ``start`` is on or before that day; so an
anniversary that does not exist in a month (31 January → February, 29 February → a common year) is reached
on the first day of the following month. ``age_in_years`` and ``months_between`` are the inverses of
``years_before`` and ``months_before``::

    months_between(start, end) >= n  ⇔  start <= months_before(end, n)
    age_in_years(dob, on) >= n       ⇔  dob <= years_before(on, n)
"""

from __future__ import annotations

import calendar
from datetime import date


def _month_end_clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _check_order(start: date, end: date, start_name: str, end_name: str) -> None:
    if end < start:
        raise ValueError(f"{end_name} {end.isoformat()} is before {start_name} {start.isoformat()}")


def age_in_years(date_of_birth: date, on: date) -> int:
    """Completed years of age on ``on``.

    Someone born on 29 February turns a year older on 1 March in a common year (28 February is still the day
    before the birthday). Raises ValueError if ``on`` is before the date of birth.
    """
    _check_order(date_of_birth, on, "date of birth", "date")
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def months_between(start: date, end: date) -> int:
    """Completed calendar months from ``start`` to ``end``.

    A month is completed on the same day of the month as ``start`` (15 Jan → 15 Feb is 1). When ``start``'s
    day does not exist in the end month, counting back from ``end`` lands on the last day of the shorter
    month, so 31 Jan 2020 → 29 Feb 2020 is 0 months and → 1 Mar 2020 is 1 month; 29 Feb 2020 → 31 Mar 2020
    is 1 month. Raises ValueError if ``end`` is before ``start``.
    """
    _check_order(start, end, "start", "end")
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return months


def years_before(on: date, years: int) -> date:
    """The date ``years`` years before ``on``; 29 February falls back to 28 February in a common year."""
    if years < 0:
        raise ValueError(f"years must not be negative, not {years}")
    return _month_end_clamped(on.year - years, on.month, on.day)


def months_before(on: date, months: int) -> date:
    """The date ``months`` months before ``on``, clamped to the end of a shorter month.

    31 August 2024 minus 6 months is 29 February 2024 (28 February in a common year).
    """
    if months < 0:
        raise ValueError(f"months must not be negative, not {months}")
    index = on.year * 12 + (on.month - 1) - months
    return _month_end_clamped(index // 12, index % 12 + 1, on.day)
