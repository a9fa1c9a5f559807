"""Whether a participant's casebook may be signed "accurate and complete": not while a form that is due is
missing, nor while a data query on it is unresolved.

A form is due when its visit took place, or when the visit's window has closed without it (a missed visit, or one
no longer due after the end of study, asks for nothing). A query is unresolved until it is closed: an answered
query still waits for the monitor to accept the answer (or re-open it), so it too stands in the way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class FormOfVisit:
    """One form a visit requires, as the visit's bookkeeping has it."""

    visit: str  # the visit's code: "W12"
    form: str  # the form's name: "Modified Rodnan skin score"
    entered: bool
    not_required: bool = False  # not required for this participant
    visit_done_on: date | None = None
    window_closes: date | None = None
    visit_not_due: bool = False  # missed, or no longer due (end of study)


@dataclass(frozen=True)
class QueryOnForm:
    form: str  # "Vital signs, W4"
    field: str  # the field's name as shown, or "whole form"
    status: str  # "open" | "answered" | "closed"


@dataclass(frozen=True)
class CasebookCheck:
    missing: tuple[FormOfVisit, ...]
    unresolved: tuple[QueryOnForm, ...]

    @property
    def may_sign(self) -> bool:
        return not self.missing and not self.unresolved


def form_is_missing(form: FormOfVisit, today: date) -> bool:
    """A required form not entered for a visit that took place, or whose window closed before ``today``."""
    if form.entered or form.not_required or form.visit_not_due:
        return False
    return form.visit_done_on is not None or (form.window_closes is not None and form.window_closes < today)


def casebook_check(forms: Iterable[FormOfVisit], queries: Iterable[QueryOnForm], *, today: date) -> CasebookCheck:
    """What stands in the way of signing the casebook on ``today``: each missing form (in the order given, which
    is the visits' order) and each query not closed."""
    return CasebookCheck(
        missing=tuple(form for form in forms if form_is_missing(form, today)),
        unresolved=tuple(query for query in queries if query.status != "closed"),
    )
