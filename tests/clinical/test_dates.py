from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.dates import (
    age_in_years,
    first_day_beyond,
    months_after,
    months_and_days,
    months_before,
    months_between,
    years_before,
)


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(1980, 6, 15), date(2025, 6, 14), 44),
        (date(1980, 6, 15), date(2025, 6, 15), 45),
        (date(2000, 2, 29), date(2025, 2, 28), 24),  # a leap-day birthday is not yet reached on 28 Feb
        (date(2000, 2, 29), date(2025, 3, 1), 25),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2000, 2, 29), date(2000, 2, 29), 0),
    ],
)
def test_age_in_completed_years(born: date, on: date, age: int) -> None:
    assert age_in_years(born, on) == age


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(ValueError):
        age_in_years(date(2000, 1, 2), date(2000, 1, 1))


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2020, 1, 15), date(2020, 2, 14), 0),
        (date(2020, 1, 15), date(2020, 2, 15), 1),
        (date(2020, 1, 31), date(2020, 2, 29), 0),  # 31 Feb does not exist: the month completes on 1 Mar
        (date(2020, 1, 31), date(2020, 3, 1), 1),
        (date(2020, 1, 31), date(2020, 3, 30), 1),
        (date(2020, 1, 31), date(2020, 3, 31), 2),
        (date(2020, 2, 29), date(2020, 3, 29), 1),
        (date(2020, 2, 29), date(2021, 2, 28), 11),
        (date(2020, 2, 29), date(2021, 3, 1), 12),
        (date(2019, 12, 31), date(2020, 1, 31), 1),
        (date(2020, 3, 3), date(2025, 3, 3), 60),
        (date(2020, 2, 4), date(2025, 3, 3), 60),
        (date(2020, 2, 3), date(2025, 3, 3), 61),
        (date(2025, 3, 3), date(2025, 3, 3), 0),
    ],
)
def test_months_between_counts_completed_months(start: date, end: date, months: int) -> None:
    assert months_between(start, end) == months


def test_months_between_refuses_an_end_before_the_start() -> None:
    with pytest.raises(ValueError):
        months_between(date(2025, 3, 3), date(2025, 3, 2))


@pytest.mark.parametrize(
    ("on", "months", "expected"),
    [
        (date(2024, 8, 31), 6, date(2024, 2, 29)),
        (date(2025, 8, 31), 6, date(2025, 2, 28)),
        (date(2025, 3, 31), 1, date(2025, 2, 28)),
        (date(2025, 1, 15), 1, date(2024, 12, 15)),
        (date(2025, 3, 3), 6, date(2024, 9, 3)),
        (date(2025, 3, 3), 0, date(2025, 3, 3)),
        (date(2025, 3, 3), 61, date(2020, 2, 3)),
        (date(2025, 5, 31), 3, date(2025, 2, 28)),
    ],
)
def test_months_before_clamps_to_month_end(on: date, months: int, expected: date) -> None:
    assert months_before(on, months) == expected


@pytest.mark.parametrize(
    ("on", "years", "expected"),
    [
        (date(2025, 3, 3), 5, date(2020, 3, 3)),
        (date(2024, 2, 29), 1, date(2023, 2, 28)),
        (date(2024, 2, 29), 4, date(2020, 2, 29)),
        (date(2025, 2, 28), 5, date(2020, 2, 28)),
    ],
)
def test_years_before(on: date, years: int, expected: date) -> None:
    assert years_before(on, years) == expected


def test_negative_spans_are_refused() -> None:
    with pytest.raises(ValueError):
        months_before(date(2025, 3, 3), -1)
    with pytest.raises(ValueError):
        years_before(date(2025, 3, 3), -1)


days = st.dates(min_value=date(1950, 1, 1), max_value=date(2060, 12, 31))


@given(start=days, span=st.integers(min_value=0, max_value=20000), n=st.integers(min_value=0, max_value=700))
def test_months_between_and_months_before_agree(start: date, span: int, n: int) -> None:
    end = start + timedelta(days=span)
    assert (months_between(start, end) >= n) == (start <= months_before(end, n))


@given(born=days, span=st.integers(min_value=0, max_value=40000), n=st.integers(min_value=0, max_value=110))
def test_age_and_years_before_agree(born: date, span: int, n: int) -> None:
    on = born + timedelta(days=span)
    assert (age_in_years(born, on) >= n) == (born <= years_before(on, n))
    assert age_in_years(born, on) == months_between(born, on) // 12


@pytest.mark.parametrize(
    ("on", "months", "expected"),
    [
        (date(2020, 2, 29), 60, date(2025, 2, 28)),  # 2025 has no 29 February: the last day of that February
        (date(2020, 2, 29), 48, date(2024, 2, 29)),  # the same day number where it exists
        (date(2020, 2, 29), 1, date(2020, 3, 29)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2020, 3, 3), 60, date(2025, 3, 3)),
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2025, 3, 3), 0, date(2025, 3, 3)),
        (date(2025, 11, 15), 2, date(2026, 1, 15)),
    ],
)
def test_months_after_clamps_to_month_end(on: date, months: int, expected: date) -> None:
    assert months_after(on, months) == expected


@pytest.mark.parametrize(
    ("start", "end", "span"),
    [
        (date(2020, 2, 29), date(2025, 2, 28), (60, 0)),
        (date(2020, 2, 29), date(2025, 3, 1), (60, 1)),
        (date(2021, 5, 2), date(2026, 6, 1), (60, 30)),
        (date(2020, 3, 3), date(2025, 3, 3), (60, 0)),
        (date(2020, 3, 3), date(2025, 3, 2), (59, 27)),
        (date(2025, 1, 31), date(2025, 2, 28), (1, 0)),
        (date(2025, 1, 31), date(2025, 3, 30), (1, 30)),
        (date(2025, 3, 3), date(2025, 3, 3), (0, 0)),
    ],
)
def test_months_and_days(start: date, end: date, span: tuple[int, int]) -> None:
    assert months_and_days(start, end) == span


def test_months_after_and_months_and_days_refuse_what_cannot_be() -> None:
    with pytest.raises(ValueError):
        months_after(date(2025, 3, 3), -1)
    with pytest.raises(ValueError):
        months_and_days(date(2025, 3, 3), date(2025, 3, 2))
    with pytest.raises(ValueError):
        first_day_beyond(date(2025, 3, 3), -1)


@pytest.mark.parametrize(
    ("event", "months", "first"),
    [
        (date(2025, 2, 20), 6, date(2025, 8, 21)),
        (date(2025, 2, 28), 6, date(2025, 9, 1)),  # 6 months before 31 August 2025 is 28 February: still within
        (date(2024, 8, 31), 6, date(2025, 3, 1)),
        (date(2024, 2, 29), 6, date(2024, 9, 1)),  # 6 months before 30 and 31 August 2024 is 29 February
    ],
)
def test_first_day_beyond(event: date, months: int, first: date) -> None:
    assert first_day_beyond(event, months) == first


@given(start=days, span=st.integers(min_value=0, max_value=20000), n=st.integers(min_value=0, max_value=700))
def test_months_after_and_months_and_days_agree(start: date, span: int, n: int) -> None:
    end = start + timedelta(days=span)
    months, rest = months_and_days(start, end)
    assert (end <= months_after(start, n)) == ((months, rest) <= (n, 0))
    assert months_after(start, months) + timedelta(days=rest) == end
    assert months_after(start, months + 1) > end


@given(event=days, n=st.integers(min_value=0, max_value=120))
def test_first_day_beyond_is_the_first_day_months_before_passes_the_event(event: date, n: int) -> None:
    first = first_day_beyond(event, n)
    assert months_before(first, n) > event
    assert months_before(first - timedelta(days=1), n) <= event
