"""The state of each form of a visit and of each visit, for many visits at once, in a fixed number of queries.

The rules are pure (``clinical.record_status``); this module reads their inputs and gives each state its words,
colour and symbol (the legend, ``STATES``), and the link the user may follow (none to a page that would refuse
them). The record status dashboard, the participant's grid and the visit page all show states from here.

Queries, whatever the number of visits: the required-form rows (1), the forms' records (1: one ``UNION ALL``
over the visit forms' tables), the monitoring flags (4, through the setting ``RECORD_STATUS_FLAGS``: the visits
app does not import monitoring), and, for a blinded user only, the mRSS forms of the same participants (1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import CharField, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
from trial_site import registry
from trial_site.blinding import Hidden, shows
from visits.access import form_access
from visits.crfs import VisitForm, VisitMrss, crf_by_code
from visits.models import RequiredForm, Visit

__all__ = [
    "STATES",
    "CellState",
    "FormEntry",
    "FormState",
    "StateDisplay",
    "VisitCell",
    "form_states",
    "next_form",
    "visit_cell",
    "visit_cells",
    "visit_form_entries",
]


@dataclass(frozen=True)
class StateDisplay:
    """How a state is shown: a symbol (never alone: with its colour and its words), a CSS class, the words."""

    icon: str
    css: str
    label: Any


# The legend, in the order it is shown. One symbol per state; the colour classes are in static/css/app.css
# ("Record status").
STATES: dict[str, StateDisplay] = {
    CellState.NOT_DUE: StateDisplay("·", "rs-not-due", _("not due yet")),
    CellState.DUE: StateDisplay("◔", "rs-due", _("due: window open")),
    CellState.OVERDUE: StateDisplay("!", "rs-overdue", _("overdue: window closed, nothing entered")),
    CellState.EMPTY: StateDisplay("○", "rs-empty", pgettext_lazy("record status", "empty: nothing entered")),
    CellState.DRAFT: StateDisplay("◐", "rs-draft", pgettext_lazy("record status", "draft: partly entered")),
    CellState.COMPLETE: StateDisplay("●", "rs-complete", pgettext_lazy("record status", "complete")),
    CellState.MISSED: StateDisplay("✕", "rs-missed", pgettext_lazy("record status", "missed")),
    CellState.CANCELLED: StateDisplay("⊘", "rs-cancelled", _("no longer due")),
    FormEntry.NOT_REQUIRED: StateDisplay("–", "rs-not-required", pgettext_lazy("record status", "not required")),
}

# The flags, shown beside a state (symbol, words).
FLAGS: dict[str, tuple[str, Any]] = {
    "open_queries": ("?", _("open query")),
    "verified": ("✓", _("source verified")),
    "signed": ("✍", _("signed")),
    "locked": ("⊠", _("locked")),
}

# The legend of a form's states (the grid of one participant) and of a visit's (the dashboard).
FORM_LEGEND = (FormEntry.EMPTY, FormEntry.DRAFT, FormEntry.COMPLETE, FormEntry.NOT_REQUIRED)
VISIT_LEGEND = tuple(CellState)


class _Shown:
    """The display of ``self.state`` and of the flags (``self.flags``)."""

    state: str
    flags: Flags

    @property
    def display(self) -> StateDisplay:
        return STATES[self.state]

    @property
    def icon(self) -> str:
        return self.display.icon

    @property
    def css(self) -> str:
        return self.display.css

    @property
    def label(self) -> Any:
        return self.display.label

    @property
    def open_queries(self) -> int:
        return self.flags.open_queries

    @property
    def verified(self) -> bool:
        return self.flags.verified

    @property
    def signed(self) -> bool:
        return self.flags.signed

    @property
    def locked(self) -> bool:
        return self.flags.locked

    @property
    def flag_list(self) -> list[tuple[str, Any]]:
        """The flags that hold, as (symbol, words); an open query's words carry the count."""
        shown = []
        if self.flags.open_queries:
            shown.append((f"?{self.flags.open_queries}", _("open queries: %(n)s") % {"n": self.flags.open_queries}))
        for name in ("verified", "signed", "locked"):
            if getattr(self.flags, name):
                shown.append(FLAGS[name])
        return shown


@dataclass(frozen=True)
class FormState(_Shown):
    """One form of one visit: its state (``FormEntry``), its flags, and where the user may open it."""

    visit_id: int
    code: str
    name: Any  # the form's name, from the registry
    state: FormEntry
    flags: Flags = NO_FLAGS
    record_id: int | None = None
    opens: bool = False  # the user may open the form's page (read or enter)
    enters: bool = False  # the user may enter it
    took_place: bool = False  # the visit took place: its forms can be entered

    @property
    def url(self) -> str:
        """The form's page; "" when the user may not open it, or there is nothing to open yet (the visit has not taken
        place and nothing was saved) or ever (not required, nothing saved)."""
        if not self.opens or self.state == FormEntry.NOT_REQUIRED:
            return ""
        if not self.took_place and self.record_id is None:
            return ""
        return reverse("visits:crf", args=[self.visit_id, self.code])


@dataclass(frozen=True)
class VisitCell(_Shown):
    """One visit as a cell of the dashboard: its state (``CellState``), flags, forms, and the one link to follow."""

    visit: Visit
    state: CellState
    flags: Flags = NO_FLAGS
    forms: dict[str, FormState] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The form's page when the visit has exactly one form to show and the user may open it, otherwise the visit
        page (the cells are of visits the user may read)."""
        shown = [state for state in self.forms.values() if state.state != FormEntry.NOT_REQUIRED]
        if len(shown) == 1 and shown[0].url:
            return shown[0].url
        return reverse("visits:visit", args=[self.visit.pk])


NOT_REQUIRED = RequiredForm.Status.NOT_REQUIRED


def _flags_reader() -> Callable[..., tuple[dict[tuple[str, int], Flags], dict[int, Flags]]] | None:
    paths = getattr(settings, "RECORD_STATUS_FLAGS", ())
    return import_string(paths[0]) if paths else None


def saved_records(visit_ids: list[int]) -> dict[tuple[int, str], tuple[int, str]]:
    """(visit id, form code) → (record id, status) of every visit form saved for these visits: one query."""
    parts = [
        model.objects.filter(visit_id__in=visit_ids)
        .annotate(form=Value(model.form_code, output_field=CharField()))
        .values_list("visit_id", "form", "pk", "status")
        .order_by()
        for model in (form.model for form in registry.visit_forms())
    ]
    if not visit_ids or not parts:
        return {}
    query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return {(visit_id, code): (pk, status) for visit_id, code, pk, status in query}


@dataclass(frozen=True)
class _SiteId:
    """A visit's site for the permission checks, which read its id only (the site itself is not loaded)."""

    pk: int


def _site(visit: Visit) -> _SiteId:
    return _SiteId(visit.site_id)


def _later_mrss(user: Any, visits: list[Visit]) -> dict[int, list[int]]:
    """For a user blinded at some of these visits' sites: participant id → the sequences of their visits with an
    mRSS form (one query); nothing for the others."""
    if all(shows(user, _site(visit), Hidden.EARLIER_MRSS) for visit in visits):
        return {}
    found: dict[int, list[int]] = {}
    participants = sorted({visit.participant_id for visit in visits})
    for participant_id, sequence in VisitMrss.objects.filter(visit__participant_id__in=participants).values_list(
        "visit__participant_id", "visit__sequence"
    ):
        found.setdefault(participant_id, []).append(sequence)
    return found


def _may_open(
    user: Any, visit: Visit, model: type[VisitForm], status: str | None, mrss_sequences: dict[int, list[int]]
) -> tuple[bool, bool]:
    """(opens, enters): the rule of the CRF page (``visits.access.form_access``), so that no link leads to a
    refusal."""
    if user is None:
        return False, False
    later = any(sequence > visit.sequence for sequence in mrss_sequences.get(visit.participant_id, []))
    return form_access(user, _site(visit), model, complete=status == VisitForm.Status.COMPLETE, later_scored=later)


def form_states(visits: Iterable[Visit], user: Any = None) -> dict[int, dict[str, FormState]]:
    """Visit id → form code → ``FormState``, for every form each visit requires (or has saved), in the registry's
    order; a fixed number of queries whatever the number of visits (see the module's docstring).

    ``user``: who will follow the links (``FormState.opens`` / ``.enters`` / ``.url``); None gives no links."""
    return _read(list(visits), user)[0]


def visit_cell(visit: Visit, forms: dict[str, FormState], flags: Flags = NO_FLAGS, *, today: date) -> VisitCell:
    """One visit's cell from its forms' states and its own flags (``clinical.record_status`` decides)."""
    facts = VisitFacts(
        earliest=visit.earliest,
        latest=visit.latest,
        done=visit.done_on is not None,
        missed=visit.missed,
        cancelled=visit.cancelled,
    )
    states = [state.state for state in forms.values()]
    return VisitCell(
        visit=visit,
        state=visit_state(facts, states, today=today),
        flags=visit_flags(flags, [(state.state, state.flags) for state in forms.values()]),
        forms=forms,
    )


def visit_cells(visits: Iterable[Visit], user: Any = None, *, today: date | None = None) -> dict[int, VisitCell]:
    """Visit id → ``VisitCell``, in the queries of ``form_states``."""
    visits = list(visits)
    today = today or timezone.localdate()
    states, flags = _read(visits, user)
    return {
        visit.pk: visit_cell(visit, states[visit.pk], flags.get(visit.pk, NO_FLAGS), today=today) for visit in visits
    }


def _read(visits: list[Visit], user: Any) -> tuple[dict[int, dict[str, FormState]], dict[int, Flags]]:
    ids = [visit.pk for visit in visits]
    required: dict[int, dict[str, str]] = {visit_id: {} for visit_id in ids}
    # No order: the model's (by site and participant) joined the whole schedule to sort a page's forms.
    for visit_id, code, status in (
        RequiredForm.objects.filter(visit_id__in=ids).values_list("visit_id", "form", "status").order_by()
    ):
        required[visit_id][code] = status
    records = saved_records(ids)
    reader = _flags_reader()
    record_keys = [
        (crf_by_code(code)._meta.label_lower, pk, visit_id)  # type: ignore[union-attr]
        for (visit_id, code), (pk, _status) in records.items()
    ]
    form_flags, own_flags = (
        reader(visits={visit.pk: visit.participant_id for visit in visits}, records=record_keys) if reader else ({}, {})
    )
    mrss_sequences = _later_mrss(user, visits) if user is not None and visits else {}
    labels = registry.visit_form_labels()
    result: dict[int, dict[str, FormState]] = {}
    for visit in visits:
        rows = required[visit.pk]
        states: dict[str, FormState] = {}
        for code, name in labels.items():
            saved = records.get((visit.pk, code))
            if code not in rows and saved is None:
                continue
            model = crf_by_code(code)
            if model is None:
                continue
            status = saved[1] if saved else None
            opens, enters = _may_open(user, visit, model, status, mrss_sequences)
            states[code] = FormState(
                visit_id=visit.pk,
                code=code,
                name=name,
                state=form_state(required=code in rows and rows[code] != NOT_REQUIRED, record_status=status),
                flags=form_flags.get((model._meta.label_lower, saved[0]), NO_FLAGS) if saved else NO_FLAGS,
                record_id=saved[0] if saved else None,
                opens=opens,
                enters=enters,
                took_place=visit.done_on is not None,
            )  # fmt: skip
        result[visit.pk] = states
    return result, own_flags


def visit_form_entries(user: Any, visit: Visit) -> list[FormState]:
    """The visit's forms in the registry's order, with their state, flags and the link the user may follow. An
    unscheduled visit takes any visit form: once it took place, those not saved yet are listed too (empty)."""
    states = form_states([visit], user)[visit.pk]
    if not (visit.is_unscheduled and visit.done_on):
        return list(states.values())
    entries = []
    for code, name in registry.visit_form_labels().items():
        model = crf_by_code(code)
        if code in states:
            entries.append(states[code])
            continue
        if model is None:
            continue
        # Nothing saved yet at this visit: an mRSS neither complete nor (for the blinded) followed by a later one
        # it would reveal; the visit page is a single visit, so the later mRSS is read here, once per form.
        later = (
            model is VisitMrss
            and VisitMrss.objects.filter(
                visit__participant_id=visit.participant_id, visit__sequence__gt=visit.sequence
            ).exists()
        )
        opens, enters = form_access(user, _site(visit), model, complete=False, later_scored=later)
        entries.append(
            FormState(visit.pk, code, name, FormEntry.EMPTY, opens=opens, enters=enters and opens, took_place=True)
        )
    return entries


def _to_enter(entry: FormState) -> bool:
    """A form the user could enter next: theirs to enter, open to entry, required and not complete."""
    return entry.enters and bool(entry.url) and entry.state in (FormEntry.EMPTY, FormEntry.DRAFT)


def next_form(user: Any, visit: Visit, after: str) -> str | None:
    """The form to enter after ``after``: the next one in the registry's order the user enters and that is not
    complete, else the first such before it; None when every form left is complete (or not the user's)."""
    entries = visit_form_entries(user, visit)
    position = next((index for index, entry in enumerate(entries) if entry.code == after), -1)
    ordered = entries[position + 1 :] + entries[: max(position, 0)]
    return next((entry.code for entry in ordered if _to_enter(entry)), None)
