"""The state of a form and of a visit (``clinical.record_status``): every state, both sides of each rule."""

from __future__ import annotations

from datetime import date

import pytest

from clinical.record_status import (
    NO_FLAGS,
    CellState,
    Flags,
    FormEntry,
    VisitFacts,
    form_state,
    visit_flags,
    visit_state,
)

TODAY = date(2026, 6, 15)
E, D, C, N = FormEntry.EMPTY, FormEntry.DRAFT, FormEntry.COMPLETE, FormEntry.NOT_REQUIRED


@pytest.mark.parametrize(
    ("required", "record_status", "expected"),
    [
        (True, "complete", C),
        (False, "complete", C),  # entered though not required: shows what was entered
        (True, "draft", D),
        (False, "draft", D),
        (True, None, E),
        (False, None, N),
    ],
)
def test_a_form_is_complete_draft_empty_or_not_required(
    required: bool, record_status: str | None, expected: str
) -> None:
    assert form_state(required=required, record_status=record_status) == expected


def window(
    *, done: bool = False, missed: bool = False, cancelled: bool = False, opens: int = -3, closes: int = 3
) -> VisitFacts:
    return VisitFacts(
        earliest=date.fromordinal(TODAY.toordinal() + opens),
        latest=date.fromordinal(TODAY.toordinal() + closes),
        done=done,
        missed=missed,
        cancelled=cancelled,
    )


def test_a_cancelled_visit_is_cancelled_whatever_was_entered() -> None:
    assert visit_state(window(cancelled=True, done=True), [C, C], today=TODAY) == CellState.CANCELLED
    assert visit_state(window(cancelled=False, done=True), [C, C], today=TODAY) == CellState.COMPLETE


def test_a_missed_visit_is_missed_even_when_its_window_is_closed() -> None:
    assert visit_state(window(missed=True, opens=-20, closes=-10), [E], today=TODAY) == CellState.MISSED
    assert visit_state(window(missed=False, opens=-20, closes=-10), [E], today=TODAY) == CellState.OVERDUE


def test_complete_needs_every_required_form_complete() -> None:
    assert visit_state(window(done=True), [C, C, N], today=TODAY) == CellState.COMPLETE
    assert visit_state(window(done=True), [C, D, N], today=TODAY) == CellState.DRAFT
    assert visit_state(window(done=True), [C, E], today=TODAY) == CellState.DRAFT


def test_a_draft_is_any_entry_short_of_complete() -> None:
    assert visit_state(window(done=True), [D, E, E], today=TODAY) == CellState.DRAFT
    assert visit_state(window(done=True), [E, E, E], today=TODAY) == CellState.EMPTY


def test_an_entry_counts_even_on_a_form_not_required() -> None:
    # A not-required form saved anyway (its state is then draft or complete, never NOT_REQUIRED).
    assert visit_state(window(done=True), [D, N], today=TODAY) == CellState.DRAFT


def test_a_visit_done_that_requires_no_form_is_complete_one_that_does_is_empty() -> None:
    assert visit_state(window(done=True), [N, N], today=TODAY) == CellState.COMPLETE
    assert visit_state(window(done=True), [N, E], today=TODAY) == CellState.EMPTY


def test_nothing_entered_follows_the_window_on_both_sides_of_each_edge() -> None:
    assert visit_state(window(opens=1, closes=7), [E], today=TODAY) == CellState.NOT_DUE
    assert visit_state(window(opens=0, closes=7), [E], today=TODAY) == CellState.DUE
    assert visit_state(window(opens=-7, closes=0), [E], today=TODAY) == CellState.DUE
    assert visit_state(window(opens=-7, closes=-1), [E], today=TODAY) == CellState.OVERDUE


def test_an_entered_visit_is_draft_or_complete_whatever_its_window() -> None:
    assert visit_state(window(opens=-20, closes=-10, done=True), [C], today=TODAY) == CellState.COMPLETE
    assert visit_state(window(opens=-20, closes=-10, done=True), [D], today=TODAY) == CellState.DRAFT


def test_a_visits_flags_count_queries_and_need_every_entered_form_verified() -> None:
    verified_one_query = Flags(open_queries=1, verified=True)
    verified_two_queries = Flags(open_queries=2, verified=True)
    flags = visit_flags(NO_FLAGS, [(C, verified_one_query), (D, verified_two_queries), (E, NO_FLAGS)])
    assert flags.open_queries == 3
    assert flags.verified
    assert not visit_flags(NO_FLAGS, [(C, verified_one_query), (C, NO_FLAGS)]).verified
    assert not visit_flags(NO_FLAGS, [(E, NO_FLAGS)]).verified  # nothing entered: nothing verified


def test_a_visit_is_signed_or_locked_by_itself_or_by_every_entered_form() -> None:
    signed_locked = Flags(signed=True, locked=True)
    assert visit_flags(Flags(signed=True), [(E, NO_FLAGS)]).signed
    assert visit_flags(Flags(locked=True), []).locked
    assert visit_flags(NO_FLAGS, [(C, signed_locked), (D, signed_locked), (N, NO_FLAGS)]).signed
    both = visit_flags(NO_FLAGS, [(C, signed_locked), (C, NO_FLAGS)])
    assert not both.signed
    assert not both.locked
