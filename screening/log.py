"""The screening log: the stored screening states (``ScreeningState``), filtered, counted and paged in SQL.

A fixed number of queries whatever the number of participants: one for the page of rows (keyset paging on the
participant's id, newest first), one for the counts by status and decision, one for the screen failures by criterion
(each a GROUP BY over the site's few tallies, ``ScreeningTally``, kept with the states by the same writes). Nothing
is decided per row: the status and the decision were stored by the services that changed them
(``screening.status_store``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, Sum

from clinical.eligibility import Decision
from screening.models import ScreeningState, ScreeningTally
from screening.selectors import VIEW_SCREENING
from screening.status import ScreeningStatus
from trial_site.permissions import site_ids_where

PAGE_SIZE = 50
# The participant's columns the log shows (nothing else of the participant is read).
PARTICIPANT_COLUMNS = ("screening_number", "episode", "initials", "screening_date", "site_id")


@dataclass(frozen=True)
class LogFilters:
    """What the log is filtered by: a site among the user's (its id), a status, a decision; empty for any."""

    site_id: int | None = None
    status: str = ""
    decision: str = ""


@dataclass(frozen=True)
class LogCursor:
    """Where a page starts: rows older than ``after`` (the next page) or newer than ``before`` (the previous one),
    by participant id; neither for the newest rows."""

    after: int | None = None
    before: int | None = None


@dataclass(frozen=True)
class ScreeningLogPage:
    rows: list[ScreeningState]
    status_counts: dict[ScreeningStatus, int]
    decision_counts: dict[str, int]
    # Rows matching every filter (the count of the whole list, not of the page).
    matching: int
    failures_by_code: list[tuple[str, int]]
    older: int | None = None  # the cursor of the next page (``after``), when there is one
    newer: int | None = None  # the cursor of the previous page (``before``), when there is one

    @property
    def first_page(self) -> bool:
        return self.newer is None


def log_site_ids(user: Any) -> frozenset[int]:
    """The sites whose participants the user may read (``VIEW_SCREENING`` there; a role counts at its own site)."""
    return site_ids_where(user, VIEW_SCREENING)


def _sites(user: Any, filters: LogFilters) -> list[int]:
    sites = log_site_ids(user)
    if filters.site_id is not None:
        sites = sites & {filters.site_id}
    return sorted(sites)


def _rows(states: QuerySet[ScreeningState], cursor: LogCursor) -> tuple[list[ScreeningState], int | None, int | None]:
    columns = states.select_related("participant").only(
        "status",
        "decision",
        "failed_codes",
        "unknown_codes",
        "forms_entered",
        "site_id",
        *(f"participant__{name}" for name in PARTICIPANT_COLUMNS),
    )
    if cursor.before is not None:  # the previous page: the PAGE_SIZE rows just newer than the cursor
        found = list(columns.filter(participant_id__gt=cursor.before).order_by("participant_id")[: PAGE_SIZE + 1])
        more_newer = len(found) > PAGE_SIZE
        rows = list(reversed(found[:PAGE_SIZE]))
        newer = rows[0].participant_id if rows and more_newer else None
        older = rows[-1].participant_id if rows else None
        return rows, older, newer
    if cursor.after is not None:
        columns = columns.filter(participant_id__lt=cursor.after)
    found = list(columns.order_by("-participant_id")[: PAGE_SIZE + 1])
    rows = found[:PAGE_SIZE]
    older = rows[-1].participant_id if len(found) > PAGE_SIZE else None
    newer = rows[0].participant_id if rows and cursor.after is not None else None
    return rows, older, newer


def _code_order(code: str) -> tuple[int, int]:
    """I1 … I4, E1 … E17, then anything else (the screening window, SCR)."""
    if code[:1] in {"I", "E"} and code[1:].isdigit():
        return (0 if code.startswith("I") else 1, int(code[1:]))
    return (2, 0)


def _failures(tallies: QuerySet[ScreeningTally]) -> list[tuple[str, int]]:
    """Screen failures by criterion: the tallies of recorded codes summed in SQL (few distinct sets), split here."""
    counts: Counter[str] = Counter()
    grouped = (
        tallies.exclude(failure_codes="")
        .values("failure_codes")
        .annotate(n=Sum("participants"))
        .order_by("failure_codes")
    )
    for group in grouped:
        for code in group["failure_codes"].split():
            counts[code] += group["n"]
    return sorted(((code, n) for code, n in counts.items() if n), key=lambda item: (-item[1], _code_order(item[0])))


def screening_log_page(
    user: Any, *, filters: LogFilters = LogFilters(), cursor: LogCursor = LogCursor()
) -> ScreeningLogPage:
    """One page of the screening log at the sites where the user may read participants, with the counts by status
    and decision and the screen failures by criterion (of the site filter), in three queries."""
    sites = _sites(user, filters)
    tallies = ScreeningTally.objects.filter(site_id__in=sites, participants__gt=0)
    counts_by = {
        (group["status"], group["decision"]): group["n"]
        for group in tallies.values("status", "decision").annotate(n=Sum("participants")).order_by()
        if group["n"]
    }
    status_counts: Counter[ScreeningStatus] = Counter()
    decision_counts: Counter[str] = Counter()
    for (status, decision), n in counts_by.items():
        status_counts[ScreeningStatus(status)] += n
        decision_counts[decision] += n
    matching = sum(
        n
        for (status, decision), n in counts_by.items()
        if (not filters.status or status == filters.status) and (not filters.decision or decision == filters.decision)
    )
    filtered = ScreeningState.objects.filter(site_id__in=sites)
    if filters.status:
        filtered = filtered.filter(status=filters.status)
    if filters.decision:
        filtered = filtered.filter(decision=filters.decision)
    rows, older, newer = _rows(filtered, cursor)
    return ScreeningLogPage(
        rows=rows,
        status_counts=dict(status_counts),
        decision_counts=dict(decision_counts),
        matching=matching,
        failures_by_code=_failures(tallies),
        older=older,
        newer=newer,
    )


DECISIONS: tuple[str, ...] = tuple(decision.value for decision in Decision)
