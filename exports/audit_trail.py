"""The audit-trail export (CSV), and the reading of the audit history the ODM export shares.

Every history row of every catalogue dataset in the export's scope (its sites; rows up to the cut-off) is one
*version* of a record: created (``+``), changed (``~``) or deleted (``-``), with who, when and why. The CSV has
one line per field that a version changed (the old and the new value), or one line without a field when no
exported field changed (bookkeeping only). Each line names the protocol version the record was made under
(``protocol_version``: the version in force at the site on the day it was created; empty for data that keep none).

De-identification is the export's, as in every other format: values go through ``rows.convert`` (dates shifted
or study days, codes or labels). In a de-identified export an identifying field's values show as
"(identifying: changed)", and free text (unless the export asks for it) as "(free text: changed)", so the line
still says *that* the field changed. The time of a change is real in an identified export with actual dates;
otherwise (dates shifted, or a de-identified export) it is shifted by the participant's days like every date,
so no real date slips out through the audit trail. Reasons for change are kept as written.

Reading streams: one server-side cursor per dataset, rows in order of participant, record and time; memory
does not grow with the length of the history.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models.functions import Collate
from django.utils import translation

from exports.catalogue import Dataset, Variable, datasets
from exports.formats import Progress, ProgressBatch, RowCounts
from exports.rows import CHUNK_SIZE, Converter, Person, cut_off_moment, people, value_converter, whole_result_plans
from exports.scope import DateMode, ExportScope, shift
from monitoring.selectors.audit import ACTIONS, MASKED, csv_cell

FREE_TEXT_MASKED = "(free text: changed)"
REASON_LEFT_OUT = "(free text left out)"  # a de-identified export's reason for change, unless free text is asked for
WRITE_BYTES = 256 * 1024  # text gathered before it is encoded and written
CSV_COLUMNS = (
    "dataset", "participant", "record_id", "protocol_version", "visit", "time_utc", "user", "action", "field",
    "old_value", "new_value", "reason",
)  # fmt: skip


class Version(NamedTuple):
    """One history row of one record: the raw values of the variables asked for, and who, when, why (a named
    tuple: the exports make one per history row)."""

    participant_id: int
    record_id: int
    action: str  # "+" created, "~" changed, "-" deleted
    at: datetime  # the real moment (history_date)
    user_id: int | None
    reason: str
    site_id: int
    visit_code: str | None  # the visit the record belongs to (visit-level data), else None
    visit_id: int | None
    visit_sequence: int | None
    values: dict[str, Any]  # variable name → raw value as stored
    protocol_version: str = ""  # the protocol version the record was made under ("" for data that keep none)


def _visit_sources(dataset: Dataset) -> tuple[str, str, str] | None:
    """(code, id, sequence) paths of the record's visit, or None for data that belong to no visit."""
    if dataset.visit_path is None:
        return None
    if dataset.visit_path == "":
        return ("code", "id", "sequence")
    return (f"{dataset.visit_path}__code", f"{dataset.visit_path}_id", f"{dataset.visit_path}__sequence")


def history_rows(dataset: Dataset, scope: ExportScope) -> models.QuerySet:
    """The dataset's history rows in the scope's sites, up to the cut-off."""
    rows = dataset.model.history.filter(site_id__in=scope.site_ids)  # type: ignore[attr-defined]
    moment = cut_off_moment(scope)
    if moment is not None:
        rows = rows.filter(history_date__lte=moment)
    return rows


def history_versions(
    dataset: Dataset,
    scope: ExportScope,
    variables: Iterable[Variable],
    *,
    by_number: bool = False,
) -> Iterator[Version]:
    """The versions of the dataset's records in the scope, by participant, record and time (streamed).

    Participants come in the order of their ids, or with ``by_number`` in the order of their screening numbers
    (code point order, as Python sorts them; then ids): the ODM export reads every dataset once in the order it
    writes the participants.
    """
    variables = tuple(variables)
    visit = _visit_sources(dataset)
    head = [dataset.participant_path, "id", "history_type", "history_date", "history_user_id",
            "history_change_reason", "site_id", *(visit or ())]  # fmt: skip
    versioned = _has_protocol_version(dataset)
    if versioned:
        head.append("protocol_version")
    selects = list(dict.fromkeys([*head, *(v.source for v in variables)]))
    order: list[Any] = [dataset.participant_path, "id", "history_date", "history_id"]
    if by_number:  # SQLite compares text by its bytes already; PostgreSQL by its locale unless told "C"
        number = number_path(dataset)
        order.insert(0, Collate(number, "C") if connection.vendor == "postgresql" else number)
    ordered = history_rows(dataset, scope).order_by(*order).values_list(*selects)
    at = {name: position for position, name in enumerate(selects)}
    participant, action, moment, user, reason, site = (
        at[name]
        for name in (
            dataset.participant_path, "history_type", "history_date", "history_user_id", "history_change_reason",
            "site_id",
        )
    )  # fmt: skip
    record = at["id"]
    code, visit_id, sequence = (at[name] for name in visit) if visit else (None, None, None)
    made_under = at["protocol_version"] if versioned else None
    named = [(v.name, at[v.source]) for v in variables]
    for raw in ordered.iterator(CHUNK_SIZE):
        yield Version(
            participant_id=raw[participant],
            record_id=raw[record],
            action=raw[action],
            at=raw[moment],
            user_id=raw[user],
            reason=raw[reason] or "",
            site_id=raw[site],
            visit_code=raw[code] if code is not None else None,
            visit_id=raw[visit_id] if visit_id is not None else None,
            visit_sequence=raw[sequence] if sequence is not None else None,
            values={name: raw[position] for name, position in named},
            protocol_version=(raw[made_under] or "") if made_under is not None else "",
        )


def number_path(dataset: Dataset) -> str:
    """The ``values()`` path from a row of the dataset to its participant's screening number (set once, at
    registration: a participant's own history rows hold it as the participant has it)."""
    if dataset.participant_path == "id":
        return "screening_number"
    return f"{dataset.participant_path.removesuffix('_id')}__screening_number"


def _has_protocol_version(dataset: Dataset) -> bool:
    return any(f.name == "protocol_version" for f in dataset.model._meta.concrete_fields)


def change_moment(at: datetime, person: Person, scope: ExportScope) -> datetime:
    """When a change was made, in UTC, as this export may show it: real with actual dates in an identified
    export, otherwise shifted by the participant's days (as the dates of the data are)."""
    if scope.date_mode == DateMode.SHIFTED or not scope.identified:
        at = shift(at, person.shift_days)  # type: ignore[assignment]
    return at.astimezone(UTC)


def utc_text(at: datetime) -> str:
    """ISO 8601 in UTC with a Z: ``2025-06-01T08:30:00.123456Z``."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def value_text(value: Any) -> str:
    """A converted value as text: ISO dates, ``true``/``false``, plain decimals; empty for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def user_names() -> dict[int, str]:
    """Every user's username by id (staff: a small table)."""
    user_model = get_user_model()
    return dict(user_model._default_manager.values_list("pk", user_model.USERNAME_FIELD))


def _masked(variable: Variable, scope: ExportScope) -> str | None:
    """What stands for the variable's values in this export, or None when they are shown."""
    if scope.identified:
        return None
    if variable.identifying:
        with translation.override("en"):
            return str(MASKED)
    if variable.free_text and not scope.free_text:
        return FREE_TEXT_MASKED
    return None


def reason_text(reason: str, scope: ExportScope) -> str:
    """A reason for change as this export carries it: free text (it may name a patient or a date of a call), so
    left out of a de-identified export unless free text is asked for."""
    if not reason or scope.identified or scope.free_text:
        return reason
    return REASON_LEFT_OUT


@dataclass(frozen=True)
class ChangeColumn:
    """How the audit CSV shows one variable's values: masked, or the converted value as text."""

    name: str
    mask: str | None  # what stands for its values in this export, or None when they are shown
    text: Callable[[Any, Person], str]  # ``value_text(convert(…))``, decided once for the column


def change_columns(dataset: Dataset, variables: Iterable[Variable], scope: ExportScope) -> list[ChangeColumn]:
    found = []
    for variable in variables:
        converter, _kind = value_converter(dataset, variable, scope)

        def text(raw: Any, person: Person, converter: Converter | None = converter) -> str:
            return value_text(raw if converter is None else converter(raw, person))

        found.append(ChangeColumn(variable.name, _masked(variable, scope), text))
    return found


def _changes(
    version: Version, previous: Version | None, variables: list[ChangeColumn], person: Person
) -> list[tuple[str, str, str]]:
    """(field, old, new) for each variable this version changed (all filled ones at creation and deletion)."""
    found = []
    values = version.values
    before = previous.values if previous is not None else None
    for variable in variables:
        new = values[variable.name]
        if version.action == "-":
            old, new = new, None
        elif version.action == "+" or before is None:
            old = None
        else:
            old = before[variable.name]
        if old == new or (old in (None, "") and new in (None, "")):
            continue
        mask = variable.mask
        if mask is not None:
            found.append((variable.name, mask if old is not None else "", mask if new is not None else ""))
        else:
            found.append((variable.name, variable.text(old, person), variable.text(new, person)))
    return found


def write_audit_csv(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """Every change in the scope as CSV (UTF-8), dataset by dataset; returns the lines written per dataset."""
    persons = people(scope)
    users = user_names()
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(CSV_COLUMNS)
    counts: RowCounts = {}
    batch = ProgressBatch(progress)
    with translation.override("en"), whole_result_plans():
        actions = {code: str(label) for code, label in ACTIONS.items()}
        for dataset in datasets():
            variables = dataset.data_variables
            shown = change_columns(dataset, variables, scope)
            written = 0
            previous: Version | None = None
            for version in history_versions(dataset, scope, variables):
                person = persons.get(version.participant_id)
                if person is None:  # not screened by the cut-off, or outside the scope
                    continue
                if previous is not None and previous.record_id != version.record_id:
                    previous = None
                head = [
                    dataset.key,
                    person.number,
                    str(version.record_id),
                    version.protocol_version,
                    version.visit_code or "",
                    utc_text(change_moment(version.at, person, scope)),
                    users.get(version.user_id, "") if version.user_id is not None else "",
                    actions.get(version.action, version.action),
                ]
                changes = _changes(version, previous, shown, person) or [("", "", "")]
                reason = reason_text(version.reason, scope)
                for name, old, new in changes:
                    writer.writerow([csv_cell(cell) for cell in (*head, name, old, new, reason)])
                written += len(changes)
                batch.add(len(changes))
                previous = version
                if text.tell() > WRITE_BYTES:
                    out.write(text.getvalue().encode("utf-8"))
                    text.seek(0)
                    text.truncate()
            counts[dataset.key] = written
    out.write(text.getvalue().encode("utf-8"))
    batch.flush()
    return counts
