"""The month calendar of scheduled visits (``/visits/calendar/?month=2026-12&site=DHK``)."""

from __future__ import annotations

from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from clinical.calendar import Month, parse_month
from trial_site.permissions import permission_required
from visits.calendar_selectors import calendar_sites, month_calendar
from visits.selectors import VIEW_VISITS


@permission_required(VIEW_VISITS)
@require_safe
def visit_calendar(request: HttpRequest) -> HttpResponse:
    """A month of visits at the user's sites (one of them with ``site``); a month or site that cannot be read is
    answered with this month at all the user's sites and a note saying so, never an error."""
    notes = []
    sites = calendar_sites(request.user)
    site_code = request.GET.get("site", "").strip()
    site = next((candidate for candidate in sites if candidate.code == site_code), None)
    if site_code and site is None:
        notes.append(_("That site is not one of yours; the calendar shows all your sites."))
    # Today at the site shown (or at the user's only site): the day highlighted and the visits' states.
    zone_site = site or (sites[0] if len(sites) == 1 else None)
    today = timezone.localdate(timezone=ZoneInfo(zone_site.time_zone)) if zone_site else timezone.localdate()
    month = Month.of(today)
    if "month" in request.GET:
        asked = parse_month(request.GET["month"])
        if asked is None:
            notes.append(_("That month could not be read (use the form 2026-12); the calendar shows this month."))
        else:
            month = asked
    # Monday first, or the locale's first day of the week (Django's FIRST_DAY_OF_WEEK: 0 Sunday, 1 Monday).
    first_weekday = (int(get_format("FIRST_DAY_OF_WEEK")) - 1) % 7
    weeks = month_calendar(request.user, month, today=today, site=site, first_weekday=first_weekday)
    site_query = {"site": site.code} if site else {}
    context = {
        "month": month,
        "weeks": weeks,
        "has_visits": any(day.entries for week in weeks for day in week),
        "sites": sites,
        "site": site,
        "notes": notes,
        "previous_query": urlencode({"month": str(month.previous), **site_query}),
        "next_query": urlencode({"month": str(month.next), **site_query}),
        "today_query": urlencode(site_query),
    }
    return render(request, "visits/calendar.html", context)
