"""A month on a calendar: its weeks of days, the months before and after, and a month read from a URL. Pure."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

# The months a calendar may show: wide enough for any trial, narrow enough that the month after never overflows.
FIRST_YEAR = 2000
LAST_YEAR = 2100
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @property
    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def __str__(self) -> str:
        """``2026-12``: the form the calendar's URL carries."""
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)


def parse_month(text: str | None) -> Month | None:
    """``2026-12`` → that month; None for anything else (not a month, or outside ``FIRST_YEAR`` … ``LAST_YEAR``)."""
    match = _MONTH.match((text or "").strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (FIRST_YEAR <= year <= LAST_YEAR and 1 <= month <= 12):
        return None
    return Month(year, month)


def month_weeks(month: Month, *, first_weekday: int = calendar.MONDAY) -> list[list[date]]:
    """The weeks (rows of 7 days, starting on ``first_weekday``: 0 Monday … 6 Sunday) that show ``month``; the
    first and last week carry days of the months around it."""
    days = list(calendar.Calendar(first_weekday).itermonthdates(month.year, month.month))
    return [days[index : index + 7] for index in range(0, len(days), 7)]
