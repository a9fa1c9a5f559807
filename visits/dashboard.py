"""The record status dashboard's reads: participants (rows) × visits (columns) at the sites where the user may read
visits, filtered, sorted and paged, each cell the visit's state (``visits.record_status``).

A fixed number of queries whatever the number of participants: the sites and the visit columns of the filters (2),
the page (a count and the rows: 2), the page's visits (1) and their states (``visit_cells``: 6 or 7). The filter
by state runs in the database: ``cell_state_sql`` is the rules of ``clinical.record_status.visit_state`` as one SQL
expression over a visit (its forms' records and required-form rows); a test holds the two equal on every state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.paginator import Page
from django.db.models import Case, CharField, Exists, F, Min, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from clinical.record_status import CellState
from screening.models import Participant
from trial_site.models import Site
from trial_site.permissions import site_ids_where
from trial_site.protocol_versions import approved_versions
from trial_site.scoping import scope_to_user_sites
from visits.models import Visit, VisitProgress
from visits.paging import CappedPaginator
from visits.record_status import VisitCell, visit_cells
from visits.selectors import VIEW_VISITS, readable_visits

PER_PAGE = 25
SORTS = ("number", "site", "next_due")


FORMS = VisitProgress.Forms
NOTHING_ENTERED = (FORMS.NOTHING, FORMS.NONE_REQUIRED)


def cell_state_sql(today: date) -> Case:
    """``clinical.record_status.visit_state`` as SQL over a visit row and its stored progress
    (``VisitProgress.forms``, kept by the services: ``visits.progress``), in the same order of rules."""
    forms = "progress__forms"
    return Case(
        When(cancelled=True, then=Value(CellState.CANCELLED.value)),
        When(missed=True, then=Value(CellState.MISSED.value)),
        When(**{forms: FORMS.COMPLETE}, then=Value(CellState.COMPLETE.value)),
        When(**{forms: FORMS.DRAFT}, then=Value(CellState.DRAFT.value)),
        When(Q(done_on__isnull=False) & Q(**{forms: FORMS.NOTHING}), then=Value(CellState.EMPTY.value)),
        When(done_on__isnull=False, then=Value(CellState.COMPLETE.value)),
        When(earliest__gt=today, then=Value(CellState.NOT_DUE.value)),
        When(latest__gte=today, then=Value(CellState.DUE.value)),
        default=Value(CellState.OVERDUE.value),
        output_field=CharField(),
    )


def state_q(state: str, today: date) -> Q:
    """The visits in ``state`` (a ``CellState`` value) today: the rules of ``cell_state_sql`` as one condition each,
    so that the database can use the visit's columns and their indexes (the open visits by the day their window
    closes: ``visit_open_by_latest``) rather than compute every visit's state."""
    kept = Q(cancelled=False, missed=False)
    waiting = kept & Q(done_on__isnull=True, progress__forms__in=NOTHING_ENTERED)
    conditions = {
        CellState.CANCELLED: Q(cancelled=True),
        CellState.MISSED: Q(cancelled=False, missed=True),
        CellState.COMPLETE: kept
        & (Q(progress__forms=FORMS.COMPLETE) | Q(done_on__isnull=False, progress__forms=FORMS.NONE_REQUIRED)),
        CellState.DRAFT: kept & Q(progress__forms=FORMS.DRAFT),
        CellState.EMPTY: kept & Q(done_on__isnull=False, progress__forms=FORMS.NOTHING),
        CellState.NOT_DUE: waiting & Q(earliest__gt=today),
        CellState.DUE: waiting & Q(earliest__lte=today, latest__gte=today),
        CellState.OVERDUE: waiting & Q(latest__lt=today),
    }
    return conditions[CellState(state)]


def schedule_columns() -> list[str]:
    """The scheduled visits' codes of every approved protocol version, in the order of their target days (the
    safety follow-up last): the dashboard's columns, read from the protocol (one query for its amendments), not
    from every visit of the trial."""
    days: dict[str, float] = {}
    for protocol in approved_versions():
        for definition in protocol.visits:
            days.setdefault(definition.code, definition.target_day)
        days.setdefault(protocol.follow_up.code, float("inf"))
    return sorted(days, key=lambda code: (days[code], code))


@dataclass(frozen=True)
class Filters:
    """What the user chose: a site (id), a visit (code), a state (``CellState`` value), a sort, a page."""

    site: int | None = None
    visit: str = ""
    state: str = ""
    sort: str = "number"
    page: int | str = 1

    @classmethod
    def from_query(cls, query: Any) -> Filters:
        site = query.get("site", "")
        state = query.get("state", "")
        sort = query.get("sort", "number")
        return cls(
            site=int(site) if site.isdigit() else None,
            visit=query.get("visit", "")[:8],
            state=state if state in CellState.__members__.values() else "",
            sort=sort if sort in SORTS else "number",
            page=query.get("page", 1),
        )


@dataclass
class Row:
    participant: Participant
    cells: dict[str, VisitCell] = field(default_factory=dict)  # visit code → cell
    unscheduled: list[VisitCell] = field(default_factory=list)
    line: list[tuple[str, VisitCell | None]] = field(default_factory=list)  # the cells in the columns' order


@dataclass
class Dashboard:
    sites: list[Site]
    columns: list[str]  # visit codes, in schedule order
    all_columns: list[str]
    page: Page
    rows: list[Row]
    filters: Filters


def dashboard(user: Any, filters: Filters, *, today: date | None = None) -> Dashboard:
    """The dashboard's page for ``user`` (see the module's docstring for its queries)."""
    today = today or timezone.localdate()
    sites = list(Site.objects.filter(pk__in=sorted(site_ids_where(user, VIEW_VISITS))).order_by("code"))
    visits = readable_visits(user)
    all_columns = schedule_columns()
    participants = scope_to_user_sites(Participant.objects.all(), user, permission=VIEW_VISITS).filter(
        Exists(Visit.objects.filter(participant=OuterRef("pk")))
    )
    if filters.site is not None:
        participants = participants.filter(site_id=filters.site)
    if filters.state:
        matching = visits.filter(state_q(filters.state, today))
        if filters.visit:
            matching = matching.filter(code=filters.visit)
        participants = participants.filter(pk__in=matching.values("participant_id"))
    page = CappedPaginator(_sorted(participants, filters.sort), PER_PAGE).get_page(filters.page)
    page_participants = list(page.object_list)
    page_visits = list(
        visits.filter(participant__in=[p.pk for p in page_participants]).order_by(
            "participant", "sequence", "target_date"
        )
    )
    cells = visit_cells(page_visits, user, today=today)
    rows = {participant.pk: Row(participant) for participant in page_participants}
    for visit in page_visits:
        row = rows[visit.participant_id]
        if visit.is_unscheduled:
            row.unscheduled.append(cells[visit.pk])
        else:
            row.cells[visit.code] = cells[visit.pk]
    columns = [filters.visit] if filters.visit in all_columns else all_columns
    for row in rows.values():
        row.line = [(code, row.cells.get(code)) for code in columns]
    return Dashboard(sites, columns, all_columns, page, list(rows.values()), filters)


def _sorted(participants: QuerySet[Participant], sort: str) -> QuerySet[Participant]:
    participants = participants.select_related("site", "allocation")
    if sort == "site":
        return participants.order_by("site__code", "screening_number")
    if sort == "next_due":
        open_visit = Q(visits__done_on__isnull=True, visits__missed=False, visits__cancelled=False)
        return participants.annotate(next_due=Min("visits__latest", filter=open_visit)).order_by(
            F("next_due").asc(nulls_last=True), "screening_number"
        )
    return participants.order_by("screening_number")
