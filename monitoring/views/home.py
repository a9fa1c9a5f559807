"""The monitoring section's front page: the parts the user may open, and the unresolved queries."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from monitoring.selectors.queries import VIEW_QUERIES, query_counts
from trial_site.permissions import section_required


@section_required("monitoring")
def index(request: HttpRequest) -> HttpResponse:
    counts = query_counts(request.user) if request.user.has_perm(VIEW_QUERIES) else None
    return render(request, "monitoring/index.html", {"counts": counts})
