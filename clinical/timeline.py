"""Dates against the participant's timeline: which are impossible, and which only unusual.

A date recorded for a participant has a meaning, and the meaning says what it may not precede:

- ``HISTORY``: something that happened before the trial, or may have (disease onset, a diagnosis, a prior
  medication's start, a screening assessment): never in the future and never before the date of birth, but
  naturally before consent.
- ``TRIAL``: something done or happening in the trial (an adverse event, a pregnancy test at a visit): also never
  before the informed consent.
- ``TREATMENT``: something of the treatment period (a visit, dispensing the study drug, an interruption of it, the
  last dose, the end of study): also never before Day 1, the day of randomisation and first dose, once there is one.

Such a date is impossible (``date_problem``: a hard error, the value is refused). A date that is possible but far
from where the protocol expects it is only unusual: a visit form's date outside its visit's window
(``days_outside_window``) is queried, not refused, because visits do happen late.

"Today" is the site's today (its own time zone), given by the caller: this module knows no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class DateMeaning(StrEnum):
    HISTORY = "history"  # not in the future, not before birth
    TRIAL = "trial"  # and not before consent
    TREATMENT = "treatment"  # and not before Day 1 (when randomised)


class DateProblem(StrEnum):
    FUTURE = "future"  # after today at the site
    BEFORE_BIRTH = "before_birth"
    BEFORE_CONSENT = "before_consent"
    BEFORE_DAY1 = "before_day1"
    BEFORE_START = "before_start"  # an end before its start (stop before start, interrupted "to" before "from")


@dataclass(frozen=True)
class Timeline:
    """The facts of one participant that dates are checked against; None where not known (yet)."""

    today: date  # today at the participant's site
    date_of_birth: date | None = None
    consented_on: date | None = None  # the day of informed consent at the site
    day1: date | None = None  # the day of randomisation, once randomised


@dataclass(frozen=True)
class DateRefusal:
    """Why a date is impossible: the problem and the date it runs into (today, the date of birth, …)."""

    problem: DateProblem
    limit: date


def date_problem(day: date | None, meaning: DateMeaning, timeline: Timeline) -> DateRefusal | None:
    """Why ``day`` is impossible for a date of ``meaning`` on ``timeline``; None if it is possible (or empty).

    Today itself is allowed, and so are the date of birth, the day of consent and Day 1: the limits are inclusive.
    The first problem found is given, in the order future, birth, consent, Day 1.
    """
    if day is None:
        return None
    if day > timeline.today:
        return DateRefusal(DateProblem.FUTURE, timeline.today)
    if timeline.date_of_birth is not None and day < timeline.date_of_birth:
        return DateRefusal(DateProblem.BEFORE_BIRTH, timeline.date_of_birth)
    in_trial = meaning in (DateMeaning.TRIAL, DateMeaning.TREATMENT)
    if in_trial and timeline.consented_on is not None and day < timeline.consented_on:
        return DateRefusal(DateProblem.BEFORE_CONSENT, timeline.consented_on)
    if meaning is DateMeaning.TREATMENT and timeline.day1 is not None and day < timeline.day1:
        return DateRefusal(DateProblem.BEFORE_DAY1, timeline.day1)
    return None


def end_problem(start: date | None, end: date | None) -> DateRefusal | None:
    """An end (a stop, the last day of an interruption) before its start is impossible; the same day is allowed."""
    if start is None or end is None or end >= start:
        return None
    return DateRefusal(DateProblem.BEFORE_START, start)


def days_outside_window(day: date, *, earliest: date, latest: date) -> int:
    """How far ``day`` lies outside the window ``earliest`` to ``latest`` (both included): 0 within it, the days
    before the window opens as a negative number, the days after it closes as a positive one."""
    if latest < earliest:
        raise ValueError(f"the window closes ({latest.isoformat()}) before it opens ({earliest.isoformat()})")
    if day < earliest:
        return (day - earliest).days
    if day > latest:
        return (day - latest).days
    return 0
