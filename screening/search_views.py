"""The participant search of the header: an exact number opens the participant, anything else lists the matches."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from screening import search


@login_required
@require_safe
def participant_search(request: HttpRequest) -> HttpResponse:
    """``?q=``: one participant whose screening or randomisation number is exactly ``q`` → their page; otherwise a
    page of matches (paged). An empty or too short query answers the page with a message, not an error."""
    raw = request.GET.get("q", "")
    query = search.clean_query(raw)
    allowed = search.may_search(request.user)
    if query and allowed:
        participant = search.exact_match(request.user, query)
        if participant is not None:
            return redirect(search.page_for(request.user, participant), number=participant.screening_number)
    page = search.search_page(request.user, query, request.GET.get("page")) if query and allowed else None
    context = {
        "query": (shown := raw.strip()[: search.MAX_LENGTH]),
        "search_query": shown,
        "too_short": not query,
        "allowed": allowed,
        "page": page,
        "min_length": search.MIN_LENGTH,
        "page_query": urlencode({"q": query}),
    }
    return render(request, "screening/search.html", context)
