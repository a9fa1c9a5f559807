from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.adherence import adherence_percent, expected_doses

DAILY = 7  # one tablet a day (baricitinib 4 mg, or 2 mg at the reduced dose)
WEEKLY_TEN = 10  # ten 2.5 mg tablets once a week (methotrexate 25 mg)


@pytest.mark.parametrize(
    ("start", "end", "per_week", "expected"),
    [
        (date(2024, 3, 1), date(2024, 3, 29), DAILY, 28),  # 1 March counted, 29 March not
        (date(2024, 3, 1), date(2024, 3, 29), WEEKLY_TEN, 40),
        (date(2024, 1, 31), date(2024, 2, 28), DAILY, 28),  # Day 1 to the W4 target
        (date(2024, 2, 1), date(2024, 3, 1), DAILY, 29),  # February of a leap year
        (date(2023, 2, 1), date(2023, 3, 1), DAILY, 28),
        (date(2024, 1, 31), date(2024, 7, 17), DAILY, 168),  # Day 1 to the W24 target: 24 weeks
        (date(2024, 1, 31), date(2024, 7, 17), WEEKLY_TEN, 240),
        (date(2024, 3, 1), date(2024, 3, 1), DAILY, 0),  # returned the same day
        (date(2024, 3, 1), date(2024, 3, 15), 0, 0),  # drug held
        (date(2024, 3, 1), date(2024, 3, 15), 3.5, 7),  # a tablet every other day
    ],
)
def test_expected_doses(start: date, end: date, per_week: float, expected: float) -> None:
    assert expected_doses(start=start, end=end, doses_per_week=per_week) == expected


def test_a_weekly_dose_over_part_of_a_week_is_pro_rata() -> None:
    assert expected_doses(start=date(2024, 3, 1), end=date(2024, 3, 31), doses_per_week=WEEKLY_TEN) == pytest.approx(
        300 / 7
    )


def test_consecutive_periods_add_up() -> None:
    first = expected_doses(start=date(2024, 1, 31), end=date(2024, 2, 14), doses_per_week=DAILY)
    second = expected_doses(start=date(2024, 2, 14), end=date(2024, 2, 28), doses_per_week=DAILY)
    whole = expected_doses(start=date(2024, 1, 31), end=date(2024, 2, 28), doses_per_week=DAILY)
    assert (first, second, whole) == (14, 14, 28)


@pytest.mark.parametrize(
    ("start", "end", "per_week", "message"),
    [
        (date(2024, 3, 2), date(2024, 3, 1), DAILY, "before the dispensing date"),
        (date(2024, 3, 1), date(2024, 3, 29), -7, "0 or more"),
        (date(2024, 3, 1), date(2024, 3, 29), float("nan"), "0 or more"),
        (date(2024, 3, 1), date(2024, 3, 29), True, "0 or more"),
        (datetime(2024, 3, 1, 9), date(2024, 3, 29), DAILY, "not a date and time"),
    ],
)
def test_expected_doses_refuses_impossible_input(start: date, end: date, per_week: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_doses(start=start, end=end, doses_per_week=per_week)


@pytest.mark.parametrize(
    ("dispensed", "returned", "expected", "percent"),
    [
        (30, 2, 28, 100.0),  # every expected tablet taken
        (30, 5, 28, 25 / 28 * 100),  # 89.29 %
        (35, 8, 30, 90.0),
        (40, 4, 40, 90.0),  # methotrexate: four 10-tablet doses expected, 36 taken
        (50, 10, 40, 100.0),
        (50, 0, 40, 125.0),  # more missing than the dose explains: not capped
        (28, 28, 28, 0.0),  # nothing taken
        (0, 0, 28, 0.0),
        (30, 3, 27, 100.0),
    ],
)
def test_adherence_percent(dispensed: int, returned: int, expected: float, percent: float) -> None:
    assert adherence_percent(dispensed=dispensed, returned=returned, expected=expected) == pytest.approx(percent)


def test_adherence_is_exact_for_round_numbers() -> None:
    assert adherence_percent(dispensed=35, returned=8, expected=30) == 90.0  # not 90.00000000000001
    assert adherence_percent(dispensed=30, returned=2, expected=28) == 100.0


def test_no_percentage_when_nothing_was_expected() -> None:
    assert adherence_percent(dispensed=30, returned=30, expected=0) is None
    assert adherence_percent(dispensed=30, returned=20, expected=0.0) is None


@pytest.mark.parametrize(
    ("dispensed", "returned", "expected", "message"),
    [
        (30, 31, 28, "more than the 30 dispensed"),
        (-1, 0, 28, "dispensed"),
        (30, -1, 28, "returned"),
        (30, 2, -28, "cannot be negative"),
        (30.0, 2, 28, "dispensed"),
        (30, 2, float("inf"), "number"),
    ],
)
def test_adherence_refuses_impossible_counts(dispensed: int, returned: int, expected: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        adherence_percent(dispensed=dispensed, returned=returned, expected=expected)


@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(min_value=1, max_value=400),
    missed=st.integers(min_value=0, max_value=400),
)
def test_a_daily_tablet_taken_every_day_but_missed_days_is_the_share_of_days(
    start: date, days: int, missed: int
) -> None:
    missed = min(missed, days)
    end = start + timedelta(days=days)
    expected = expected_doses(start=start, end=end, doses_per_week=DAILY)
    assert expected == days
    percent = adherence_percent(dispensed=days + 5, returned=5 + missed, expected=expected)
    assert percent == pytest.approx((days - missed) / days * 100)
