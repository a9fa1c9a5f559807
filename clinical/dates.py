"""Calendar arithmetic for ages, disease duration and look-back windows.

One convention throughout: counting back n months (or years) from a date lands on the same day of the month,
or on the last day of that month when it is shorter (31 August minus 6 months is 28 or 29 February). A span
from ``start`` to ``end`` has completed n months exactly when ``start`` is on or before that day; so an
anniversary that does not exist in a month (31 January → February, 29 February → a common year) is reached
on the first day of the following month. ``age_in_years`` and ``months_between`` are the inverses of
``years_before`` and ``months_before``::

    months_between(start, end) >= n  ⇔  start <= months_before(end, n)
    age_in_years(dob, on) >= n       ⇔  dob <= years_before(on, n)

Counting forward is the mirror image: ``months_after`` lands on the same day of the month, or on the last day of
a shorter month (60 months after 29 February 2020 is 28 February 2025; 1 month after 31 January is 28 or 29
February). ``months_and_days`` measures a span in those steps, so that::

    end <= months_after(start, n)  ⇔  months_and_days(start, end) <= (n, 0)

The two directions differ only at month ends (1 month after 31 January is 29 February, 1 month before
29 February is 29 January): a rule worded "n months after X" uses ``months_after``, a rule worded "within n
months before Y" uses ``months_before``.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


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


def months_after(on: date, months: int) -> date:
    """The date ``months`` calendar months after ``on``, clamped to the end of a shorter month.

    60 months after 29 February 2020 is 28 February 2025, the last day of that February (2025 has no
    29 February); 48 months after 29 February 2020 is 29 February 2024; 1 month after 31 January 2025 is
    28 February 2025.
    """
    if months < 0:
        raise ValueError(f"months must not be negative, not {months}")
    index = on.year * 12 + (on.month - 1) + months
    return _month_end_clamped(index // 12, index % 12 + 1, on.day)


def months_and_days(start: date, end: date) -> tuple[int, int]:
    """The span from ``start`` to ``end`` as (calendar months, remaining days), counting forward.

    The months are the largest n with ``months_after(start, n) <= end``; the days are those left after it.
    29 February 2020 → 28 February 2025 is (60, 0) and → 1 March 2025 is (60, 1); 2 May 2021 → 1 June 2026 is
    (60, 30). Raises ValueError if ``end`` is before ``start``.
    """
    _check_order(start, end, "start", "end")
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if months_after(start, months) > end:
        months -= 1
    return months, (end - months_after(start, months)).days


def first_day_beyond(event: date, months: int) -> date:
    """The first day on which ``event`` is no longer within the ``months`` months before it: the earliest ``d``
    with ``event < months_before(d, months)``.

    A renal crisis on 20 February 2025 is within the 6 months before any day up to 20 August 2025 and beyond
    them from 21 August 2025. At month ends the clamping of ``months_before`` decides: an event on
    28 February 2025 is within the 6 months before 31 August 2025 (6 months before it is 28 February), so the
    first day beyond is 1 September 2025.
    """
    if months < 0:
        raise ValueError(f"months must not be negative, not {months}")
    day = months_after(event, months)
    while months_before(day, months) <= event:
        day += timedelta(days=1)
    while months_before(day - timedelta(days=1), months) > event:
        day -= timedelta(days=1)
    return day
