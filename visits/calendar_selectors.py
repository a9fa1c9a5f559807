"""The month calendar of visits: one query for the month's visits of the user's sites (or one of them)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Q

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


def calendar_sites(user: Any) -> list[Site]:
    """The sites whose visits the user may read, by code (the calendar's site filter)."""
    return list(Site.objects.filter(id__in=sorted(site_ids_where(user, VIEW_VISITS))).order_by("code"))


def month_visits(user: Any, month: Month, *, site: Site | None = None) -> list[Visit]:
    """The visits of ``month`` at the user's sites (or ``site``): a visit done on its day of the month, any other
    (open or missed) on its planned day. Visits no longer due (the study ended) are left out. One query."""
    first, last = month.first_day, month.last_day
    visits = readable_visits(user).filter(cancelled=False)
    if site is not None:
        visits = visits.filter(site=site)
    on_day = Q(done_on__range=(first, last)) | Q(done_on__isnull=True, planned_date__range=(first, last))
    ordered = visits.filter(on_day).select_related("participant").order_by("participant__screening_number", "sequence")
    return list(ordered)


def month_calendar(
    user: Any, month: Month, *, today: date, site: Site | None = None, first_weekday: int = 0
) -> list[list[CalendarDay]]:
    """The weeks of ``month``, each day with its visits (and their state today)."""
    by_day: dict[date, list[CalendarEntry]] = defaultdict(list)
    for visit in month_visits(user, month, site=site):
        by_day[visit.done_on or visit.planned_date].append(CalendarEntry(visit, state_of(visit, today)))
    return [
        [
            CalendarDay(day=day, in_month=day.month == month.month, is_today=day == today, entries=by_day.get(day, []))
            for day in week
        ]
        for week in month_weeks(month, first_weekday=first_weekday)
    ]
