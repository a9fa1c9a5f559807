"""The screening window: randomisation (Day 1) only 1 to 28 days after screening (TRIAL.md: SCR Day −28 to −1).

Screening counts from its earliest dated assessment: the screening date itself, or an earlier screening
assessment the decision rests on (the screening mRSS, the laboratory samples, the pregnancy test), whichever is
first. The hepatitis tests are not counted here: E10 and E11 give them their own window (the screening date or
the 30 days before it). Day 1 must fall on one of the days from the day after screening (Day −1 is the last
day of screening) to 28 days after it (Day −28 is the first): screening on 1 March allows Day 1 from 2 March to
29 March. On the screening day itself, or later than that, the screening is refused and the way forward is to
screen again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class ScreeningWindow:
    """When screening took place and the days it allows for Day 1."""

    screened_on: date  # the earliest dated screening assessment
    counted_from: str  # which assessment gave that date (a key of the mapping given to ``screening_window``)
    first_day1: date  # the day after screening
    last_day1: date  # the last day a Day 1 may fall on: the eligibility confirmation holds until this day

    def study_day_of_screening(self, day1: date) -> int:
        """Screening's study day if Day 1 is ``day1`` (no Day 0): −28 for screening 28 days before Day 1."""
        days = (day1 - self.screened_on).days
        return -days if days > 0 else 1 - days

    def holds_on(self, day1: date) -> bool:
        return self.first_day1 <= day1 <= self.last_day1


def screening_window(assessments: Mapping[str, date | None], *, window_days: int) -> ScreeningWindow:
    """The window of a screening whose dated assessments are ``assessments`` (name → date, None if not dated).

    The first entry must be the screening date; the earliest date wins, the first listed on a tie. Raises
    ValueError without any date, or for a window shorter than one day.
    """
    if window_days < 1:
        raise ValueError(f"the screening window must allow at least one day, not {window_days}")
    dated = [(when, order, name) for order, (name, when) in enumerate(assessments.items()) if when is not None]
    if not dated:
        raise ValueError("screening has no date")
    screened_on, _order, counted_from = min(dated)
    return ScreeningWindow(
        screened_on=screened_on,
        counted_from=counted_from,
        first_day1=screened_on + timedelta(days=1),
        last_day1=screened_on + timedelta(days=window_days),
    )
