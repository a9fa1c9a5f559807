"""Dates against the participant's timeline: each limit allowed on its own day and refused the day before (or
after, for today)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from clinical.timeline import (
    DateMeaning,
    DateProblem,
    DateRefusal,
    Timeline,
    date_problem,
    days_outside_window,
    end_problem,
)

DAY = timedelta(days=1)
TODAY = date(2026, 12, 6)
BIRTH = date(1980, 3, 1)
CONSENT = date(2026, 8, 3)
DAY1 = date(2026, 8, 20)
TIMELINE = Timeline(today=TODAY, date_of_birth=BIRTH, consented_on=CONSENT, day1=DAY1)
EVERY_MEANING = list(DateMeaning)


@pytest.mark.parametrize("meaning", EVERY_MEANING)
def test_today_is_allowed_and_tomorrow_is_in_the_future(meaning: DateMeaning) -> None:
    assert date_problem(TODAY, meaning, TIMELINE) is None
    assert date_problem(TODAY + DAY, meaning, TIMELINE) == DateRefusal(DateProblem.FUTURE, TODAY)


@pytest.mark.parametrize("meaning", EVERY_MEANING)
def test_the_date_of_birth_is_allowed_and_the_day_before_is_not(meaning: DateMeaning) -> None:
    history = Timeline(today=TODAY, date_of_birth=BIRTH)
    assert date_problem(BIRTH, meaning, history) is None
    assert date_problem(BIRTH - DAY, meaning, history) == DateRefusal(DateProblem.BEFORE_BIRTH, BIRTH)
    assert date_problem(BIRTH - DAY, meaning, TIMELINE) == DateRefusal(DateProblem.BEFORE_BIRTH, BIRTH)


@pytest.mark.parametrize("meaning", [DateMeaning.TRIAL, DateMeaning.TREATMENT])
def test_in_the_trial_the_day_of_consent_is_allowed_and_the_day_before_is_not(meaning: DateMeaning) -> None:
    before_day1 = Timeline(today=TODAY, date_of_birth=BIRTH, consented_on=CONSENT)
    assert date_problem(CONSENT, meaning, before_day1) is None
    assert date_problem(CONSENT - DAY, meaning, before_day1) == DateRefusal(DateProblem.BEFORE_CONSENT, CONSENT)


def test_history_may_be_before_consent_but_not_before_birth() -> None:
    assert date_problem(CONSENT - DAY, DateMeaning.HISTORY, TIMELINE) is None
    assert date_problem(BIRTH, DateMeaning.HISTORY, TIMELINE) is None


def test_treatment_dates_start_on_day_1_once_randomised() -> None:
    assert date_problem(DAY1, DateMeaning.TREATMENT, TIMELINE) is None
    assert date_problem(DAY1 - DAY, DateMeaning.TREATMENT, TIMELINE) == DateRefusal(DateProblem.BEFORE_DAY1, DAY1)
    assert date_problem(DAY1 - DAY, DateMeaning.TRIAL, TIMELINE) is None  # a trial date, after consent
    not_randomised = Timeline(today=TODAY, date_of_birth=BIRTH, consented_on=CONSENT)
    assert date_problem(DAY1 - DAY, DateMeaning.TREATMENT, not_randomised) is None


def test_an_empty_date_and_unknown_facts_refuse_nothing_but_the_future() -> None:
    assert date_problem(None, DateMeaning.TREATMENT, TIMELINE) is None
    bare = Timeline(today=TODAY)
    assert date_problem(date(1900, 1, 1), DateMeaning.TREATMENT, bare) is None
    assert date_problem(TODAY + DAY, DateMeaning.HISTORY, bare) == DateRefusal(DateProblem.FUTURE, TODAY)


def test_the_first_problem_is_given_future_then_birth_then_consent() -> None:
    late_birth = Timeline(today=TODAY, date_of_birth=CONSENT, consented_on=DAY1, day1=TODAY)
    assert date_problem(CONSENT - DAY, DateMeaning.TREATMENT, late_birth).problem is DateProblem.BEFORE_BIRTH
    assert date_problem(DAY1 - DAY, DateMeaning.TREATMENT, late_birth).problem is DateProblem.BEFORE_CONSENT


def test_an_end_on_its_start_is_allowed_and_the_day_before_is_not() -> None:
    assert end_problem(CONSENT, CONSENT) is None
    assert end_problem(CONSENT, CONSENT - DAY) == DateRefusal(DateProblem.BEFORE_START, CONSENT)
    assert end_problem(None, CONSENT) is None and end_problem(CONSENT, None) is None


def test_days_outside_a_window_edges_included() -> None:
    earliest, latest = date(2026, 9, 14), date(2026, 9, 28)
    assert days_outside_window(earliest, earliest=earliest, latest=latest) == 0
    assert days_outside_window(latest, earliest=earliest, latest=latest) == 0
    assert days_outside_window(earliest - DAY, earliest=earliest, latest=latest) == -1
    assert days_outside_window(latest + 3 * DAY, earliest=earliest, latest=latest) == 3
    with pytest.raises(ValueError, match="closes"):
        days_outside_window(earliest, earliest=latest, latest=earliest)
