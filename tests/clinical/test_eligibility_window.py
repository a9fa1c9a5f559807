"""The screening window: Day 1 from the day after screening to 28 days after it, counted from the earliest dated
screening assessment."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinical.eligibility_window import screening_window

SCREENED = date(2025, 3, 1)


@pytest.mark.parametrize(
    ("days_after_screening", "study_day", "holds"),
    [(0, 1, False), (1, -1, True), (27, -27, True), (28, -28, True), (29, -29, False)],
    ids=["the same day", "Day -1", "Day -27", "Day -28", "Day -29"],
)
def test_day_1_from_the_day_after_screening_to_28_days_after(
    days_after_screening: int, study_day: int, holds: bool
) -> None:
    found = screening_window({"screening_date": SCREENED}, window_days=28)
    day1 = SCREENED + timedelta(days=days_after_screening)
    assert found.holds_on(day1) is holds
    assert found.study_day_of_screening(day1) == study_day
    assert (found.first_day1, found.last_day1) == (date(2025, 3, 2), date(2025, 3, 29))


def test_an_earlier_screening_assessment_starts_the_window() -> None:
    found = screening_window(
        {"screening_date": SCREENED, "labs": date(2025, 2, 25), "mrss": date(2025, 2, 27), "pregnancy_test": None},
        window_days=28,
    )
    assert (found.screened_on, found.counted_from, found.last_day1) == (date(2025, 2, 25), "labs", date(2025, 3, 25))


def test_on_a_tie_the_screening_date_names_the_window() -> None:
    found = screening_window({"screening_date": SCREENED, "labs": SCREENED}, window_days=28)
    assert found.counted_from == "screening_date"


def test_a_window_needs_a_date_and_a_day() -> None:
    with pytest.raises(ValueError):
        screening_window({"screening_date": None}, window_days=28)
    with pytest.raises(ValueError):
        screening_window({"screening_date": SCREENED}, window_days=0)
