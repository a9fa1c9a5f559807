"""The month calendar of visits: the month's visits of the user's sites (or one of them), at most ``PER_DAY`` shown a
day with the number of the others. Two queries whatever the size of the trial: the visits a day (``GROUP BY``) and
the first ``PER_DAY`` of each day (a window function), only the columns shown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, F, Q, Window
from django.db.models.functions import Coalesce, RowNumber

from clinical.calendar import Month, month_weeks
from trial_site.models import Site
from trial_site.permissions import site_ids_where
from visits.models import Visit
from visits.selectors import VIEW_VISITS, readable_visits
from visits.status import VisitState, state_of


@dataclass(frozen=True)
class CalendarEntry:
    visit: Visit
    state: VisitState


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    is_today: bool
    entries: list[CalendarEntry]
    more: int = 0  # the visits of the day not shown (beyond ``PER_DAY``)


def calendar_sites(user: Any) -> list[Site]:
    """The sites whose visits the user may read, by code (the calendar's site filter)."""
    return list(Site.objects.filter(id__in=sorted(site_ids_where(user, VIEW_VISITS))).order_by("code"))


PER_DAY = 8
SHOWN_COLUMNS = (
    "id", "code", "earliest", "latest", "planned_date", "done_on", "missed", "cancelled", "target_date", "site_id",
    "participant_id", "participant__id", "participant__screening_number",
)  # fmt: skip


def _month_queryset(user: Any, month: Month, site: Site | None) -> Any:
    first, last = month.first_day, month.last_day
    visits = readable_visits(user).filter(cancelled=False)
    if site is not None:
        visits = visits.filter(site=site)
    on_day = Q(done_on__range=(first, last)) | Q(done_on__isnull=True, planned_date__range=(first, last))
    return visits.filter(on_day).annotate(day=Coalesce("done_on", "planned_date"))


def month_visits(user: Any, month: Month, *, site: Site | None = None, per_day: int = PER_DAY) -> list[Visit]:
    """The visits of ``month`` at the user's sites (or ``site``): a visit done on its day of the month, any other
    (open or missed) on its planned day; at most ``per_day`` a day (by screening number). Visits no longer due (the
    study ended) are left out. One query."""
    ranked = _month_queryset(user, month, site).annotate(
        rank=Window(
            RowNumber(), partition_by=[F("day")], order_by=[F("participant__screening_number").asc(), "sequence"]
        )
    )
    shown = ranked.filter(rank__lte=per_day).select_related("participant").only(*SHOWN_COLUMNS)
    return list(shown.order_by("participant__screening_number", "sequence"))


def month_counts(user: Any, month: Month, *, site: Site | None = None) -> dict[date, int]:
    """Day → the number of visits of ``month`` on it (as ``month_visits`` places them). One query."""
    rows = _month_queryset(user, month, site).order_by().values("day").annotate(n=Count("id"))
    return {row["day"]: row["n"] for row in rows}


def month_calendar(
    user: Any, month: Month, *, today: date, site: Site | None = None, first_weekday: int = 0
) -> list[list[CalendarDay]]:
    """The weeks of ``month``, each day with its first visits (and their state today) and how many more."""
    by_day: dict[date, list[CalendarEntry]] = defaultdict(list)
    for visit in month_visits(user, month, site=site):
        by_day[visit.done_on or visit.planned_date].append(CalendarEntry(visit, state_of(visit, today)))
    counts = month_counts(user, month, site=site)  # always read: the same queries whatever the month holds
    return [
        [
            CalendarDay(
                day=day,
                in_month=day.month == month.month,
                is_today=day == today,
                entries=by_day.get(day, []),
                more=max(counts.get(day, 0) - len(by_day.get(day, [])), 0),
            )
            for day in week
        ]
        for week in month_weeks(month, first_weekday=first_weekday)
    ]
