"""Study days, visit windows and visit status: the calendar of a participant's visits.

**Study days.** Day 1 is the day of randomisation and first dose. The day after is Day 2, and the day before is
Day −1: there is no Day 0, as in clinical protocols. So Day 15 is 14 calendar days after Day 1, and screening
"Day −28 to −1" runs from 28 days before Day 1 to the day before.

**Windows.** A visit has a target day and a window of allowed calendar days before and after the target
(W2: target Day 15, ±3 days, so Day 12 to Day 18, edges included). The window is counted in calendar days
from the target date, so it never skips a day even if it were to cross Day 1.

**Follow-up.** The safety follow-up visit (FU) is timed from the last dose, not from Day 1: in this trial its
target is the last dose + 28 days and it may happen up to 7 days later (nothing earlier).

The rules themselves (codes, target days, windows) come from the protocol definition; nothing here hard-codes
the visits of a trial. Dates are plain dates: a date-and-time is refused, because which day a moment falls on
depends on the site's time zone, which the caller knows and this module does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Final

FOLLOW_UP_CODE: Final = "FU"


def _plain_date(value: date, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{what} must be a calendar date (not a date and time), not {value!r}")
    return value


def _whole_number(value: int, what: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number of days, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be at least {minimum} days, not {value}")
    return value


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise ValueError(f"{days} days from {day.isoformat()} is outside the calendar") from None


def study_day(day1: date, day: date) -> int:
    """The study day of ``day`` for a participant whose Day 1 is ``day1``.

    ``day1`` itself is Day 1, the next day Day 2, and the day before Day −1; there is no Day 0. For example
    with Day 1 on 31 January 2024: 14 February is Day 15, 30 January is Day −1, 3 January is Day −28.
    """
    day1, day = _plain_date(day1, "Day 1"), _plain_date(day, "the date")
    offset = (day - day1).days
    return offset + 1 if offset >= 0 else offset


def date_of_study_day(day1: date, day: int) -> date:
    """The calendar date of study day ``day`` (the inverse of ``study_day``); Day 0 does not exist.

    Day 1 is ``day1``, Day 15 is ``day1`` + 14 days, Day −1 is ``day1`` − 1 day.
    """
    day1 = _plain_date(day1, "Day 1")
    _whole_number(day, "the study day")
    if day == 0:
        raise ValueError("there is no study Day 0: the day before Day 1 is Day −1")
    return _shift(day1, day - 1 if day > 0 else day)


@dataclass(frozen=True)
class VisitRule:
    """One scheduled visit of the protocol: its code ("D1", "W2", … "W24"), its target study day and how many
    days before and after the target it may take place (W8: target Day 57, 7 days before, 7 days after)."""

    code: str
    target_day: int  # study day; Day 1 = day of randomisation and first dose; no Day 0
    days_before: int  # allowed days before the target
    days_after: int  # allowed days after the target

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code.strip():
            raise ValueError(f"a visit needs a code such as 'W4', not {self.code!r}")
        _whole_number(self.target_day, f"the target day of visit {self.code}")
        if self.target_day == 0:
            raise ValueError(f"visit {self.code}: there is no study Day 0 (the day before Day 1 is Day −1)")
        _whole_number(self.days_before, f"the days allowed before visit {self.code}", minimum=0)
        _whole_number(self.days_after, f"the days allowed after visit {self.code}", minimum=0)


@dataclass(frozen=True)
class VisitWindow:
    """The dates of one visit for one participant: the target date and the first and last allowed dates
    (both included)."""

    code: str
    target: date
    earliest: date
    latest: date

    def __post_init__(self) -> None:
        for what in ("target", "earliest", "latest"):
            _plain_date(getattr(self, what), f"the {what} date of visit {self.code}")
        if not self.earliest <= self.target <= self.latest:
            raise ValueError(
                f"visit {self.code}: the window must run earliest ≤ target ≤ latest, not "
                f"{self.earliest.isoformat()} / {self.target.isoformat()} / {self.latest.isoformat()}"
            )

    def contains(self, day: date) -> bool:
        """True if ``day`` is within the window, edges included."""
        return self.earliest <= _plain_date(day, "the date") <= self.latest


class VisitTiming(StrEnum):
    EARLY = "early"  # before the first allowed date
    IN_WINDOW = "in_window"
    LATE = "late"  # after the last allowed date


class VisitStatus(StrEnum):
    UPCOMING = "upcoming"  # the window has not opened yet
    OPEN = "open"  # today is within the window
    OVERDUE = "overdue"  # the window has closed and the visit is neither done nor declared missed
    DONE = "done"
    MISSED = "missed"


def visit_window(rule: VisitRule, day1: date) -> VisitWindow:
    """The window of ``rule`` for a participant whose Day 1 is ``day1``.

    The target is the date of the rule's study day (Day 29 is ``day1`` + 28 days); the window runs from
    ``days_before`` calendar days before the target to ``days_after`` calendar days after it.
    """
    target = date_of_study_day(day1, rule.target_day)
    return VisitWindow(
        code=rule.code,
        target=target,
        earliest=_shift(target, -rule.days_before),
        latest=_shift(target, rule.days_after),
    )


def visit_schedule(rules: Sequence[VisitRule], day1: date) -> tuple[VisitWindow, ...]:
    """The windows of all ``rules`` for a participant whose Day 1 is ``day1``, in the order of the rules.

    Raises ValueError if two rules share a code, or if a visit's window does not close before the next
    visit's window opens (overlapping or out-of-order windows would make it ambiguous which visit a date
    belongs to). Whether windows overlap depends only on the rules, never on ``day1``, so a protocol that
    passes once passes for every participant.
    """
    codes = [rule.code for rule in rules]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        raise ValueError(f"visit codes must be unique; repeated: {', '.join(duplicates)}")
    windows = tuple(visit_window(rule, day1) for rule in rules)
    for before, after in pairwise(windows):
        if before.latest >= after.earliest:
            raise ValueError(
                f"the window of visit {before.code} (to {before.latest.isoformat()}) must close before the "
                f"window of visit {after.code} opens ({after.earliest.isoformat()}); they overlap or are out "
                "of order"
            )
    return windows


def follow_up_window(last_dose: date, *, days_after_last_dose: int = 28, days_after: int = 7) -> VisitWindow:
    """The safety follow-up window (code "FU"): target ``days_after_last_dose`` days after the last dose,
    allowed up to ``days_after`` days later and never earlier.

    With the defaults (TRIAL.md: last dose + 28, window +7) a last dose on 16 July 2024 gives a target of
    13 August 2024 and a window of 13 to 20 August.
    """
    last_dose = _plain_date(last_dose, "the date of the last dose")
    _whole_number(days_after_last_dose, "the days from the last dose to follow-up", minimum=0)
    _whole_number(days_after, "the days allowed after the follow-up target", minimum=0)
    target = _shift(last_dose, days_after_last_dose)
    return VisitWindow(code=FOLLOW_UP_CODE, target=target, earliest=target, latest=_shift(target, days_after))


def timing(window: VisitWindow, day: date) -> VisitTiming:
    """Whether a visit on ``day`` is early (before the window), in the window (edges included) or late."""
    day = _plain_date(day, "the visit date")
    if day < window.earliest:
        return VisitTiming.EARLY
    if day > window.latest:
        return VisitTiming.LATE
    return VisitTiming.IN_WINDOW


def visit_status(window: VisitWindow, *, today: date, done_on: date | None, missed: bool) -> VisitStatus:
    """Where a visit stands today.

    A visit done (``done_on`` recorded, whether in the window or not: ``timing`` says which) is DONE, and one
    declared missed is MISSED, whatever today is. Otherwise it is UPCOMING before the window opens, OPEN from
    the first to the last allowed date, and OVERDUE after the window has closed.
    Raises ValueError if a visit is both done and declared missed.
    """
    today = _plain_date(today, "today")
    if done_on is not None:
        _plain_date(done_on, "the visit date")
        if missed:
            raise ValueError(f"visit {window.code} cannot be both done (on {done_on.isoformat()}) and declared missed")
        return VisitStatus.DONE
    if missed:
        return VisitStatus.MISSED
    if today < window.earliest:
        return VisitStatus.UPCOMING
    if today > window.latest:
        return VisitStatus.OVERDUE
    return VisitStatus.OPEN
