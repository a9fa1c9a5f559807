"""The state of a form of a visit, and of a visit as a whole, as the record status dashboard shows it.

Pure: the inputs are what was recorded (is the form required, is there a record and is it a draft or complete,
the visit's window and whether it took place, was missed or is no longer due) and the monitoring flags; the
output is one state with its flags. The selectors (``visits.record_status``) read the inputs in a fixed number of
queries; the pages show the state with a symbol, a colour and words.

A form's state (``form_state``), first rule that applies:

1. a record saved as complete → COMPLETE;
2. a record saved as a draft → DRAFT;
3. no record, and the form is required at this visit → EMPTY;
4. no record, and not required (branching, or another protocol version) → NOT_REQUIRED.

A form entered although not required shows what was entered (rules 1 and 2 come first).

A visit's state (``visit_state``), first rule that applies:

1. no longer due (the participant's study ended) → CANCELLED;
2. recorded as missed → MISSED;
3. at least one form entered and every required form complete (none empty, none a draft) → COMPLETE;
4. at least one form entered (a draft, or some required form still empty) → DRAFT;
5. took place (a date is recorded) with nothing entered, or a visit that requires no form → EMPTY when
   forms are required, COMPLETE when it requires none;
6. nothing entered and the window not open yet → NOT_DUE;
7. nothing entered and the window open today → DUE;
8. nothing entered and the window closed → OVERDUE.

The flags never change the state; they are shown beside it. For a visit: ``open_queries`` is the sum over its
forms; ``verified`` when every entered form is verified; ``signed`` when the visit (or casebook) is signed or every
entered form is; ``locked`` when the visit, casebook or database is locked or every entered form is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class FormEntry(StrEnum):
    NOT_REQUIRED = "not_required"
    EMPTY = "empty"
    DRAFT = "draft"
    COMPLETE = "complete"


class CellState(StrEnum):
    NOT_DUE = "not_due"
    DUE = "due"
    OVERDUE = "overdue"
    EMPTY = "empty"
    DRAFT = "draft"
    COMPLETE = "complete"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Flags:
    """What monitoring added to a record or a visit: unresolved queries (open or answered), a source data
    verification in force, a signature in force, a lock in force."""

    open_queries: int = 0
    verified: bool = False
    signed: bool = False
    locked: bool = False


NO_FLAGS = Flags()


def form_state(*, required: bool, record_status: str | None) -> FormEntry:
    """One form of a visit: ``required`` as the visit's required-form row says (False for "not required" or no
    row); ``record_status`` the saved record's status ("draft", "complete") or None when nothing was saved."""
    if record_status == "complete":
        return FormEntry.COMPLETE
    if record_status is not None:
        return FormEntry.DRAFT
    return FormEntry.EMPTY if required else FormEntry.NOT_REQUIRED


@dataclass(frozen=True)
class VisitFacts:
    """What the visit's own row says: its window, whether it took place, was missed, or is no longer due."""

    earliest: date
    latest: date
    done: bool = False
    missed: bool = False
    cancelled: bool = False


def visit_state(facts: VisitFacts, forms: Iterable[FormEntry], *, today: date) -> CellState:
    """The visit's state from its window and its forms' states (see the module's rules, in that order)."""
    if facts.cancelled:
        return CellState.CANCELLED
    if facts.missed:
        return CellState.MISSED
    states = [state for state in forms if state != FormEntry.NOT_REQUIRED]
    entered = [state for state in states if state in (FormEntry.DRAFT, FormEntry.COMPLETE)]
    if entered:
        return CellState.COMPLETE if all(state == FormEntry.COMPLETE for state in states) else CellState.DRAFT
    if facts.done:
        return CellState.EMPTY if states else CellState.COMPLETE
    if today < facts.earliest:
        return CellState.NOT_DUE
    if today <= facts.latest:
        return CellState.DUE
    return CellState.OVERDUE


def visit_flags(visit: Flags, forms: Iterable[tuple[FormEntry, Flags]]) -> Flags:
    """The visit's flags: its own (a signature or lock of the visit, casebook or database) with its entered forms'
    (see the module's rules)."""
    entered = [flags for state, flags in forms if state in (FormEntry.DRAFT, FormEntry.COMPLETE)]
    return Flags(
        open_queries=sum(flags.open_queries for flags in entered),
        verified=bool(entered) and all(flags.verified for flags in entered),
        signed=visit.signed or (bool(entered) and all(flags.signed for flags in entered)),
        locked=visit.locked or (bool(entered) and all(flags.locked for flags in entered)),
    )
