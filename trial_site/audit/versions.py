"""Versions of audited records, for optimistic concurrency.

A record's version is the id of its latest history row: every save writes one, and history is append-only, so
the number grows with every change and can never be reused. A form carries the version it was opened on; the
save compares it, under a row lock, with the version in the database (``AuditedModel.save``). When they differ,
the history rows in between say who changed which field, when, from what to what (``changes_since``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy

_yes, _no = gettext_lazy("Yes"), gettext_lazy("No")

# Bookkeeping that every save changes: never "a change of data" in a conflict or a no-op comparison.
BOOKKEEPING = frozenset({"id", "modified_at", "modified_by", "created_at", "created_by", "protocol_version"})


@dataclass(frozen=True)
class FieldChange:
    """One field changed by someone else since a form was opened."""

    field: str
    label: str
    opened: str  # the value when the form was opened, as shown
    current: str  # the value saved now, as shown
    by: str  # who saved it (full name, else username)
    at: datetime


def data_fields(model: type[models.Model]) -> list[models.Field]:
    """The concrete fields that hold data (not the primary key nor the save bookkeeping)."""
    return [field for field in model._meta.concrete_fields if field.name not in BOOKKEEPING and not field.primary_key]


def history_model(record: models.Model) -> Any:
    return type(record).history.model  # type: ignore[attr-defined]


def current_version(record: models.Model) -> int | None:
    """The version of ``record`` in the database: the id of its latest history row (None if unsaved)."""
    if record.pk is None:
        return None
    return (
        history_model(record)
        .objects.filter(id=record.pk)
        .order_by("-history_id")
        .values_list("history_id", flat=True)
        .first()
    )


def display(field: models.Field, value: Any) -> str:
    """A stored value as a person reads it: the label of a choice, the name of a user, "—" for nothing."""
    if value is None or value == "":
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_yes) if value else str(_no)
    return str(value)


def person(user: Any) -> str:
    if user is None:
        return "?"
    return user.get_full_name() or user.get_username()


def changes_since(record: models.Model, opened_version: int) -> list[FieldChange]:
    """What others changed in ``record`` after ``opened_version``: one entry per field, with its last changer."""
    model = type(record)
    fields = data_fields(model)
    rows = list(
        history_model(record)
        .objects.filter(id=record.pk, history_id__gte=opened_version)
        .select_related("history_user")
        .order_by("history_id")
    )
    opened = next((row for row in rows if row.history_id == opened_version), None)
    if opened is None:  # the version was never this record's: treat everything saved since as changed
        opened, rows = (rows[0] if rows else None), rows
    if opened is None:
        return []
    last_by: dict[str, Any] = {}
    previous = opened
    for row in rows:
        if row.history_id <= opened.history_id:
            continue
        for field in fields:
            if getattr(row, field.attname) != getattr(previous, field.attname):
                last_by[field.name] = row
        previous = row
    changes = []
    for field in fields:
        row = last_by.get(field.name)
        if row is None or getattr(row, field.attname) == getattr(opened, field.attname):
            continue
        changes.append(
            FieldChange(
                field=field.name,
                label=str(field.verbose_name),
                opened=_shown(field, opened),
                current=_shown(field, previous),
                by=person(row.history_user),
                at=row.history_date,
            )
        )
    return changes


def fields_changed_from(record: models.Model, version: int) -> list[str]:
    """The data fields whose value in ``record`` (in memory) differs from the saved ``version``."""
    row = history_model(record).objects.filter(id=record.pk, history_id=version).first()
    if row is None:
        return []
    return [f.name for f in data_fields(type(record)) if getattr(record, f.attname) != getattr(row, f.attname)]


def _shown(field: models.Field, row: Any) -> str:
    value = getattr(row, field.attname)
    if isinstance(field, models.ForeignKey) and value is not None:
        target = field.related_model._base_manager.filter(pk=value).first()  # type: ignore[union-attr]
        return person(target) if hasattr(target, "get_username") else str(target)
    return display(field, value)
