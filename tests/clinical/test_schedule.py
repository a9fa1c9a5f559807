from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.schedule import (
    VisitRule,
    VisitStatus,
    VisitTiming,
    VisitWindow,
    date_of_study_day,
    follow_up_window,
    study_day,
    timing,
    visit_schedule,
    visit_status,
    visit_window,
)

# The scheduled visits of TRIAL.md, written out here so the tests state the protocol they check.
TRIAL_RULES = (
    VisitRule("D1", 1, 0, 0),
    VisitRule("W2", 15, 3, 3),
    VisitRule("W4", 29, 3, 3),
    VisitRule("W8", 57, 7, 7),
    VisitRule("W12", 85, 7, 7),
    VisitRule("W16", 113, 7, 7),
    VisitRule("W20", 141, 7, 7),
    VisitRule("W24", 169, 7, 7),
)

# (code, earliest, target, latest) for each Day 1, read off a calendar.
EXPECTED_SCHEDULES = {
    date(2024, 1, 31): [
        ("D1", "2024-01-31", "2024-01-31", "2024-01-31"),
        ("W2", "2024-02-11", "2024-02-14", "2024-02-17"),
        ("W4", "2024-02-25", "2024-02-28", "2024-03-02"),  # crosses 29 February 2024
        ("W8", "2024-03-20", "2024-03-27", "2024-04-03"),
        ("W12", "2024-04-17", "2024-04-24", "2024-05-01"),
        ("W16", "2024-05-15", "2024-05-22", "2024-05-29"),
        ("W20", "2024-06-12", "2024-06-19", "2024-06-26"),
        ("W24", "2024-07-10", "2024-07-17", "2024-07-24"),
    ],
    date(2024, 2, 29): [  # randomised on a leap day
        ("D1", "2024-02-29", "2024-02-29", "2024-02-29"),
        ("W2", "2024-03-11", "2024-03-14", "2024-03-17"),
        ("W4", "2024-03-25", "2024-03-28", "2024-03-31"),
        ("W8", "2024-04-18", "2024-04-25", "2024-05-02"),
        ("W12", "2024-05-16", "2024-05-23", "2024-05-30"),
        ("W16", "2024-06-13", "2024-06-20", "2024-06-27"),
        ("W20", "2024-07-11", "2024-07-18", "2024-07-25"),
        ("W24", "2024-08-08", "2024-08-15", "2024-08-22"),
    ],
    date(2023, 12, 31): [  # crosses the new year, then February of a leap year
        ("D1", "2023-12-31", "2023-12-31", "2023-12-31"),
        ("W2", "2024-01-11", "2024-01-14", "2024-01-17"),
        ("W4", "2024-01-25", "2024-01-28", "2024-01-31"),
        ("W8", "2024-02-18", "2024-02-25", "2024-03-03"),
        ("W12", "2024-03-17", "2024-03-24", "2024-03-31"),
        ("W16", "2024-04-14", "2024-04-21", "2024-04-28"),
        ("W20", "2024-05-12", "2024-05-19", "2024-05-26"),
        ("W24", "2024-06-09", "2024-06-16", "2024-06-23"),
    ],
    date(2023, 2, 28): [  # last day of February in a common year
        ("D1", "2023-02-28", "2023-02-28", "2023-02-28"),
        ("W2", "2023-03-11", "2023-03-14", "2023-03-17"),
        ("W4", "2023-03-25", "2023-03-28", "2023-03-31"),
        ("W8", "2023-04-18", "2023-04-25", "2023-05-02"),
        ("W12", "2023-05-16", "2023-05-23", "2023-05-30"),
        ("W16", "2023-06-13", "2023-06-20", "2023-06-27"),
        ("W20", "2023-07-11", "2023-07-18", "2023-07-25"),
        ("W24", "2023-08-08", "2023-08-15", "2023-08-22"),
    ],
    date(2025, 11, 30): [  # crosses the new year and February of a common year
        ("D1", "2025-11-30", "2025-11-30", "2025-11-30"),
        ("W2", "2025-12-11", "2025-12-14", "2025-12-17"),
        ("W4", "2025-12-25", "2025-12-28", "2025-12-31"),
        ("W8", "2026-01-18", "2026-01-25", "2026-02-01"),
        ("W12", "2026-02-15", "2026-02-22", "2026-03-01"),
        ("W16", "2026-03-15", "2026-03-22", "2026-03-29"),
        ("W20", "2026-04-12", "2026-04-19", "2026-04-26"),
        ("W24", "2026-05-10", "2026-05-17", "2026-05-24"),
    ],
}


@pytest.mark.parametrize("day1", list(EXPECTED_SCHEDULES), ids=lambda day: day.isoformat())
def test_trial_schedule_on_the_calendar(day1: date) -> None:
    windows = visit_schedule(TRIAL_RULES, day1)
    actual = [
        (window.code, window.earliest.isoformat(), window.target.isoformat(), window.latest.isoformat())
        for window in windows
    ]
    assert actual == EXPECTED_SCHEDULES[day1]


@pytest.mark.parametrize("day1", list(EXPECTED_SCHEDULES), ids=lambda day: day.isoformat())
def test_every_target_falls_on_the_weekday_of_day_1(day1: date) -> None:
    # Every target day of TRIAL.md is Day 1 + a whole number of weeks.
    assert {window.target.weekday() for window in visit_schedule(TRIAL_RULES, day1)} == {day1.weekday()}


def test_target_is_day_1_plus_target_day_minus_one() -> None:
    window = visit_window(VisitRule("W4", 29, 3, 3), date(2024, 1, 31))
    assert window == VisitWindow(
        code="W4", target=date(2024, 2, 28), earliest=date(2024, 2, 25), latest=date(2024, 3, 2)
    )
    assert study_day(date(2024, 1, 31), window.target) == 29


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 3, 19), VisitTiming.EARLY),  # earliest − 1
        (date(2024, 3, 20), VisitTiming.IN_WINDOW),  # earliest
        (date(2024, 3, 27), VisitTiming.IN_WINDOW),  # target
        (date(2024, 4, 3), VisitTiming.IN_WINDOW),  # latest
        (date(2024, 4, 4), VisitTiming.LATE),  # latest + 1
    ],
)
def test_window_edges_are_included(day: date, expected: VisitTiming) -> None:
    w8 = visit_window(VisitRule("W8", 57, 7, 7), date(2024, 1, 31))
    assert timing(w8, day) is expected
    assert w8.contains(day) is (expected is VisitTiming.IN_WINDOW)


def test_day_1_window_is_the_day_itself() -> None:
    d1 = visit_window(TRIAL_RULES[0], date(2024, 2, 29))
    assert (d1.earliest, d1.target, d1.latest) == (date(2024, 2, 29),) * 3
    assert timing(d1, date(2024, 2, 28)) is VisitTiming.EARLY
    assert timing(d1, date(2024, 2, 29)) is VisitTiming.IN_WINDOW
    assert timing(d1, date(2024, 3, 1)) is VisitTiming.LATE


def test_asymmetric_window() -> None:
    window = visit_window(VisitRule("W6", 43, 2, 5), date(2025, 1, 1))
    assert (window.earliest, window.target, window.latest) == (date(2025, 2, 10), date(2025, 2, 12), date(2025, 2, 17))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2024, 1, 31), 1),
        (date(2024, 2, 1), 2),
        (date(2024, 1, 30), -1),  # no Day 0
        (date(2024, 1, 29), -2),
        (date(2024, 1, 3), -28),  # first day of screening
        (date(2024, 2, 14), 15),
        (date(2024, 7, 17), 169),
    ],
)
def test_study_day_has_no_day_0(day: date, expected: int) -> None:
    day1 = date(2024, 1, 31)
    assert study_day(day1, day) == expected
    assert date_of_study_day(day1, expected) == day


def test_day_0_does_not_exist() -> None:
    with pytest.raises(ValueError, match="Day 0"):
        date_of_study_day(date(2024, 1, 31), 0)
    with pytest.raises(ValueError, match="Day 0"):
        VisitRule("X", 0, 0, 0)


def test_a_negative_target_day_counts_back_without_day_0() -> None:
    window = visit_window(VisitRule("SCR", -14, 14, 13), date(2024, 1, 31))
    assert window.target == date(2024, 1, 17)
    assert (study_day(date(2024, 1, 31), window.earliest), study_day(date(2024, 1, 31), window.latest)) == (-28, -1)


def test_follow_up_is_28_days_after_the_last_dose_with_7_days_after() -> None:
    fu = follow_up_window(date(2024, 7, 16))
    assert fu == VisitWindow(code="FU", target=date(2024, 8, 13), earliest=date(2024, 8, 13), latest=date(2024, 8, 20))
    assert timing(fu, date(2024, 8, 12)) is VisitTiming.EARLY
    assert timing(fu, date(2024, 8, 20)) is VisitTiming.IN_WINDOW
    assert timing(fu, date(2024, 8, 21)) is VisitTiming.LATE


def test_follow_up_across_february_and_with_other_spans() -> None:
    assert follow_up_window(date(2024, 2, 1)).target == date(2024, 2, 29)
    assert follow_up_window(date(2023, 2, 1)).target == date(2023, 3, 1)
    custom = follow_up_window(date(2024, 1, 10), days_after_last_dose=30, days_after=0)
    assert (custom.earliest, custom.target, custom.latest) == (date(2024, 2, 9),) * 3


W12 = visit_window(VisitRule("W12", 85, 7, 7), date(2024, 1, 31))  # 17 April – 1 May 2024


@pytest.mark.parametrize(
    ("today", "done_on", "missed", "expected"),
    [
        (date(2024, 4, 16), None, False, VisitStatus.UPCOMING),
        (date(2024, 4, 17), None, False, VisitStatus.OPEN),
        (date(2024, 5, 1), None, False, VisitStatus.OPEN),
        (date(2024, 5, 2), None, False, VisitStatus.OVERDUE),
        (date(2024, 4, 20), date(2024, 4, 20), False, VisitStatus.DONE),
        (date(2024, 6, 1), date(2024, 5, 10), False, VisitStatus.DONE),  # done late is still done
        (date(2024, 4, 10), date(2024, 4, 10), False, VisitStatus.DONE),  # done early too
        (date(2024, 6, 1), None, True, VisitStatus.MISSED),
        (date(2024, 4, 20), None, True, VisitStatus.MISSED),  # declared missed while still open
    ],
)
def test_visit_status(today: date, done_on: date | None, missed: bool, expected: VisitStatus) -> None:
    assert visit_status(W12, today=today, done_on=done_on, missed=missed) is expected


def test_a_visit_cannot_be_done_and_missed() -> None:
    with pytest.raises(ValueError, match="both done"):
        visit_status(W12, today=date(2024, 5, 2), done_on=date(2024, 4, 20), missed=True)


@pytest.mark.parametrize(
    "rule",
    [
        ("", 15, 3, 3),
        ("W2", 15, -1, 3),
        ("W2", 15, 3, -1),
        ("W2", 15.0, 3, 3),
        ("W2", True, 3, 3),
    ],
)
def test_impossible_rules_are_refused(rule: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        VisitRule(*rule)  # type: ignore[arg-type]


def test_a_window_must_surround_its_target() -> None:
    with pytest.raises(ValueError, match="earliest ≤ target ≤ latest"):
        VisitWindow(code="W2", target=date(2024, 2, 14), earliest=date(2024, 2, 15), latest=date(2024, 2, 17))


def test_overlapping_or_disordered_rules_are_refused() -> None:
    with pytest.raises(ValueError, match=r"W2.*W3.*overlap"):
        visit_schedule([VisitRule("W2", 15, 3, 3), VisitRule("W3", 22, 4, 3)], date(2024, 1, 31))
    with pytest.raises(ValueError, match="overlap or are out of order"):
        visit_schedule([VisitRule("W4", 29, 3, 3), VisitRule("W2", 15, 3, 3)], date(2024, 1, 31))
    with pytest.raises(ValueError, match="unique"):
        visit_schedule([VisitRule("W2", 15, 3, 3), VisitRule("W2", 29, 3, 3)], date(2024, 1, 31))
    # Windows that touch without sharing a day are fine: W2 closes on Day 18, W3 opens on Day 19.
    assert len(visit_schedule([VisitRule("W2", 15, 3, 3), VisitRule("W3", 22, 3, 3)], date(2024, 1, 31))) == 2


def test_a_date_and_time_is_refused() -> None:
    with pytest.raises(ValueError, match="not a date and time"):
        study_day(date(2024, 1, 31), datetime(2024, 2, 1, 9, 30))
    with pytest.raises(ValueError, match="not a date and time"):
        visit_schedule(TRIAL_RULES, datetime(2024, 1, 31, 9, 30))


def test_dates_beyond_the_calendar_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the calendar"):
        visit_window(TRIAL_RULES[-1], date(9999, 12, 1))


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


@given(day1=days)
def test_trial_windows_never_overlap_and_are_in_order(day1: date) -> None:
    windows = visit_schedule(TRIAL_RULES, day1)
    assert [window.code for window in windows] == [rule.code for rule in TRIAL_RULES]
    for window, rule in zip(windows, TRIAL_RULES, strict=True):
        assert window.earliest <= window.target <= window.latest
        assert study_day(day1, window.target) == rule.target_day
        assert (window.target - window.earliest).days == rule.days_before
        assert (window.latest - window.target).days == rule.days_after
    for before, after in pairwise(windows):
        assert before.latest < after.earliest
    assert not any(sum(window.contains(day1 + timedelta(days=n)) for window in windows) > 1 for n in range(200))


@given(day1=days, day=days)
def test_study_day_and_its_date_are_inverses(day1: date, day: date) -> None:
    number = study_day(day1, day)
    assert number != 0
    assert date_of_study_day(day1, number) == day
    assert (number > 0) is (day >= day1)
