"""Optimistic concurrency on every form that edits saved data.

A form built with ``VersionedFormMixin`` carries, hidden, the version of the record it was opened on
(``trial_site.audit.versions``) and hands it to the record (``instance.opened_version``); the save compares it
under a row lock and refuses a stale one with ``EditConflict``, writing nothing. The view then calls
``form_after_conflict``: the same form, unbound, holding the values saved now with the user's own changes applied
on top and the new version, and a panel (``{% edit_conflict form %}``) that shows who changed what and when beside
the user's entries. Saving that form applies the user's changes in one step, and the history attributes each value
to the person who entered it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist

from trial_site.audit.errors import EditConflict
from trial_site.audit.versions import current_version, display

VERSION_FIELD = "opened_version"


class VersionedFormMixin(forms.Form):
    """For a form that edits a saved record (``self.instance``): carries the version it was opened on."""

    opened_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = getattr(self, "instance", None)
        if instance is None or instance.pk is None:
            del self.fields[VERSION_FIELD]
        elif not self.is_bound:
            self.initial.setdefault(VERSION_FIELD, current_version(instance))

    @property
    def changed_data(self) -> list[str]:
        """The data the user changed: the hidden version is bookkeeping, never a change of data."""
        return [name for name in super().changed_data if name != VERSION_FIELD]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if VERSION_FIELD in self.fields:
            self.instance.opened_version = cleaned.get(VERSION_FIELD)
        return cleaned


@dataclass(frozen=True)
class ConflictRow:
    label: str
    opened: str
    current: str
    theirs: bool
    by: str
    at: datetime | None
    yours: bool
    yours_value: str


@dataclass(frozen=True)
class ConflictView:
    rows: list[ConflictRow]
    current_version: int | None


def form_after_conflict(form: forms.Form, conflict: EditConflict, rebuild: Callable[[], forms.Form]) -> forms.Form:
    """The form to show after ``conflict``: ``rebuild()`` (the same form, unbound, on the record as saved now) with
    the user's own changes applied on top, the new version, and ``.conflict`` for the panel."""
    fresh = rebuild()
    model = type(form.instance)  # type: ignore[attr-defined]
    entered = getattr(form, "cleaned_data", {})
    for name in conflict.yours:
        if name in entered and name in fresh.fields:
            fresh.initial[name] = entered[name]
    for name in ("reason_for_change",):
        if entered.get(name) and name in fresh.fields:
            fresh.initial[name] = entered[name]
    fresh.initial[VERSION_FIELD] = conflict.current_version
    theirs = {change.field: change for change in conflict.changes}
    rows = []
    for name in [*theirs, *[n for n in conflict.yours if n not in theirs]]:
        change = theirs.get(name)
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        mine = name in conflict.yours and name in entered
        rows.append(
            ConflictRow(
                label=str(model_field.verbose_name),
                opened=change.opened if change else display(model_field, getattr(fresh.instance, name, None)),
                current=change.current if change else display(model_field, getattr(fresh.instance, name, None)),
                theirs=change is not None,
                by=change.by if change else "",
                at=change.at if change else None,
                yours=mine,
                yours_value=display(model_field, entered.get(name)) if mine else "",
            )
        )
    fresh.conflict = ConflictView(rows=rows, current_version=conflict.current_version)  # type: ignore[attr-defined]
    return fresh
