"""Finding a participant: by screening or randomisation number (any part of it, any case), and by initials where
the user may see them; only at the user's sites, where a role of theirs may open the participant.

Reads only (a selector): the page's rows come with their status in a fixed number of queries, whatever the number of
participants. The query goes to the database as a parameter of the ORM's lookups, never into SQL text, and is never
logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from screening.models import Participant
from screening.selectors import participants_with_screening, screening_row, with_protocol_versions
from screening.status import ScreeningStatus
from trial_site.permissions import SEE_IDENTIFIERS, site_ids_where, user_can

# The pages a participant is opened on, and the permission each needs at the participant's site.
OPEN_SCREENING = "screening.view_participant"
OPEN_VISITS = "visits.view_visit"
MIN_LENGTH = 2
MAX_LENGTH = 40
PAGE_SIZE = 25


def searchable_site_ids(user: Any) -> frozenset[int]:
    """The sites where the user may open a participant's screening page or schedule (no query beyond the roles)."""
    return site_ids_where(user, OPEN_SCREENING) | site_ids_where(user, OPEN_VISITS)


def may_search(user: Any) -> bool:
    return bool(searchable_site_ids(user))


def clean_query(raw: str) -> str:
    """The query as searched: trimmed; "" when too short to search (the page says so)."""
    query = (raw or "").strip()[:MAX_LENGTH]
    return query if len(query) >= MIN_LENGTH else ""


def _matching_ids(user: Any, number: Q, randomisation_number: Q, initials: Q | None) -> QuerySet[Any]:
    """The ids of the participants at the user's sites that ``number`` (on the screening number),
    ``randomisation_number`` (on their allocation's, through the relation: screening does not import the
    apps to its right) or ``initials`` (where the user may see them) finds: a
    ``UNION`` of one query per field, so that each reads its own rows instead of one scan of every participant
    joined to every allocation (a part of a number still reads every participant of the sites: no trigram
    index)."""
    sites = sorted(searchable_site_ids(user))
    # No order in the parts: the model's (by site code) would join the sites and sort each part for nothing.
    found = (
        Participant.objects.filter(number, site_id__in=sites)
        .order_by()
        .values("pk")
        .union(Participant.objects.filter(randomisation_number, site_id__in=sites).order_by().values("pk"))
    )
    # Initials only at the sites where the user may see them (the one rule: trial_site.permissions).
    initials_sites = sorted(site_ids_where(user, SEE_IDENTIFIERS))
    if initials is not None and initials_sites:
        found = found.union(Participant.objects.filter(initials, site_id__in=initials_sites).order_by().values("pk"))
    return found


def _matching(user: Any, query: str) -> QuerySet[Participant]:
    ids = _matching_ids(
        user,
        Q(screening_number__icontains=query),
        Q(allocation__randomisation_number__icontains=query),
        Q(initials__icontains=query),
    )
    return Participant.objects.filter(pk__in=ids)


def exact_match(user: Any, query: str) -> Participant | None:
    """The one participant whose screening or randomisation number is ``query`` (any case), at the user's sites."""
    if not query:
        return None
    number, randomisation_number = Q(screening_number__iexact=query), Q(allocation__randomisation_number__iexact=query)
    ids = _matching_ids(user, number, randomisation_number, None)
    found = list(Participant.objects.filter(pk__in=ids).select_related("site", "allocation")[:2])
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class SearchHit:
    participant: Participant
    status: ScreeningStatus
    randomisation_number: str
    initials_shown: bool
    page: str  # the URL name of the participant's page the user may open


def page_for(user: Any, participant: Participant) -> str:
    """The participant's page for this user: the schedule once randomised (if they read visits there), else the
    screening page; never one they would be refused."""
    randomised = hasattr(participant, "allocation")
    if randomised and user_can(user, OPEN_VISITS, participant.site):
        return "visits:participant"
    if user_can(user, OPEN_SCREENING, participant.site):
        return "screening:participant"
    return "visits:participant"


def search_page(user: Any, query: str, page_number: Any = 1) -> Page:
    """One page of the participants matching ``query``, each a ``SearchHit`` (status, randomisation number). The
    matching ids are read first, in order, in one query (numbers and initials alone: it gives the count and the
    page), then only the page's 25 participants are read with their screening forms; joined before the choice,
    every participant of the user's sites was joined to its forms."""
    ids = list(_matching(user, query).order_by("site__code", "screening_number").values_list("pk", flat=True))
    page = Paginator(ids, PAGE_SIZE).get_page(page_number)
    chosen = list(page.object_list)
    read = {p.pk: p for p in participants_with_screening(Participant.objects.filter(pk__in=chosen))}
    identifier_sites = site_ids_where(user, SEE_IDENTIFIERS)
    hits = []
    for participant in with_protocol_versions([read[pk] for pk in chosen]):
        allocation = getattr(participant, "allocation", None)
        hits.append(
            SearchHit(
                participant=participant,
                status=screening_row(participant).status,
                randomisation_number=allocation.randomisation_number if allocation else "",
                initials_shown=participant.site_id in identifier_sites,
                page=page_for(user, participant),
            )
        )
    page.object_list = hits
    return page
