"""The record status dashboard's page: thin; the reads are ``visits.dashboard``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from trial_site.permissions import permission_required
from visits.dashboard import SORTS, Filters, dashboard
from visits.record_status import FLAGS, STATES, VISIT_LEGEND
from visits.selectors import VIEW_VISITS


@permission_required(VIEW_VISITS)
@require_safe
def record_status(request: HttpRequest) -> HttpResponse:
    """Participants × visits at the user's sites, each cell the visit's state; filtered, sorted and paged."""
    filters = Filters.from_query(request.GET)
    board = dashboard(request.user, filters)
    kept = {"site": filters.site or "", "visit": filters.visit, "state": filters.state, "sort": filters.sort}
    return render(
        request,
        "visits/dashboard.html",
        {
            "board": board,
            "filters": filters,
            "query": urlencode({key: value for key, value in kept.items() if value}),
            "states": [(state, STATES[state]) for state in VISIT_LEGEND],
            "flags": FLAGS.values(),
            "sorts": SORTS,
        },
    )
