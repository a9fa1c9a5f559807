"""Reading a dataset's rows for an export: streamed from the database, de-identified, dates transformed.

Rows come from the live tables, or, with a cut-off, from the audit history as it stood at the end of that day
(``history_date`` ≤ the moment, the latest version of each record, deleted records left out). Reading uses a
server-side cursor on PostgreSQL (``iterator``), so memory does not grow with the number of rows; the only
thing held for the whole export is one small ``Person`` per participant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, connection, models
from django.utils import timezone

from clinical.schedule import study_day
from exports.catalogue import Dataset, Variable
from exports.scope import DateMode, ExportScope, date_shift_days, shift

CHUNK_SIZE = 2000
YES_NO = {True: "Yes", False: "No"}
# A column's converter: the raw value read from the database and the row's participant → the value exported.
Converter = Callable[[Any, "Person"], Any]
# What a writer makes of a column (``finish(variable, converter, output type)``): the converter it will call per
# row, or None where the writer takes the value as read (no call per cell). ``converter`` is None where the value
# is exported as read; the output type is that of every value that is not None, or None where it cannot be known
# from the field (JSON).
Finish = Callable[["Variable", Converter | None, type | None], Converter | None]


@dataclass(frozen=True)
class Person:
    """What every row of one participant needs: the number, the site, Day 1, the date shift."""

    number: str
    site: str
    time_zone: ZoneInfo
    day1: date | None
    shift_days: int


def cut_off_moment(scope: ExportScope) -> datetime | None:
    """The end of the cut-off day in the trial's time zone (the last moment whose data are included)."""
    if scope.cut_off is None:
        return None
    zone = ZoneInfo(settings.TIME_ZONE)
    return datetime.combine(scope.cut_off, time.max, tzinfo=zone)


@contextmanager
def whole_result_plans() -> Iterator[None]:
    """Plan the export's queries for reading every row, not the first few.

    Rows are read through server-side cursors, and PostgreSQL plans a cursor for a fast first row
    (``cursor_tuple_fraction`` 0.1): for the larger datasets that chose nested loops 40 times slower than the plan
    of the same ``SELECT`` run whole (as ``COPY`` runs it). An export reads every row, so its cursors are planned
    as whole queries (1.0) while it runs, and the setting is put back after it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('cursor_tuple_fraction')")
        (before,) = cursor.fetchone()
        cursor.execute("SELECT set_config('cursor_tuple_fraction', '1.0', false)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('cursor_tuple_fraction', %s, false)", [before])
        except DatabaseError:  # the transaction failed: rolling it back puts the setting back too
            pass


def source(model: type[models.Model], scope: ExportScope) -> models.QuerySet:
    """The model's records in the scope's sites, as they are now or as they stood at the cut-off."""
    moment = cut_off_moment(scope)
    if moment is None:
        queryset = model._default_manager.all()
    else:
        queryset = (
            model.history.filter(history_date__lte=moment).latest_of_each().exclude(history_type="-")  # type: ignore[attr-defined]
        )
    return queryset.filter(site_id__in=scope.site_ids)


def people(scope: ExportScope) -> dict[int, Person]:
    """Every participant in the scope (screened by the cut-off), keyed by id."""
    from randomization.models import Allocation
    from screening.models import Participant
    from trial_site.models import Site

    sites = {s.id: (s.code, ZoneInfo(s.time_zone)) for s in Site.objects.filter(id__in=scope.site_ids)}
    randomised = dict(
        source(Allocation, scope).order_by().values_list("participant_id", "randomised_at").iterator(CHUNK_SIZE)
    )
    found = {}
    rows = source(Participant, scope).order_by().values_list("id", "screening_number", "site_id")
    for participant_id, number, site_id in rows.iterator(CHUNK_SIZE):
        code, zone = sites[site_id]
        at = randomised.get(participant_id)
        found[participant_id] = Person(
            number=number,
            site=code,
            time_zone=zone,
            day1=timezone.localtime(at, zone).date() if at else None,
            shift_days=date_shift_days(participant_id, settings.SECRET_KEY),
        )
    return found


def columns(dataset: Dataset, scope: ExportScope) -> tuple[Variable, ...]:
    """The dataset's columns in this export: identifying fields and (unless asked for) free text dropped from a
    de-identified export; with study days, dates become whole numbers; with labels, codes become text."""
    kept = []
    for variable in dataset.variables:
        if not scope.identified and variable.identifying:
            continue
        if not scope.identified and variable.free_text and not scope.free_text:
            continue
        if variable.is_date and not scope.keeps_dates:
            variable = replace(variable, data_type="integer", unit="study day", label=f"{variable.label} (study day)")
        elif scope.codes_as_labels and (variable.codes or variable.data_type == "boolean"):
            variable = replace(variable, data_type="text")
        kept.append(variable)
    return tuple(kept)


def _local(value: datetime, person: Person) -> datetime:
    return timezone.localtime(value, person.time_zone) if timezone.is_aware(value) else value


def _day_of(value: date | datetime | None, person: Person) -> int | None:
    if value is None or person.day1 is None:
        return None
    if value.__class__ is datetime:
        value = _local(value, person).date()
    elif value.__class__ is not date:
        return study_day(person.day1, value)  # checks what it is given
    offset = (value - person.day1).days  # clinical.schedule.study_day for two plain dates, without a call per cell
    return offset + 1 if offset >= 0 else offset


def convert(variable: Variable, value: Any, person: Person, scope: ExportScope) -> Any:
    """One value as this export writes it (Python types: str, int, float, bool, date, datetime or None)."""
    if value is None:
        return None
    if isinstance(value, datetime | date) and variable.name != "study_day":
        if scope.date_mode == DateMode.STUDY_DAY:
            return _day_of(value, person)
        if isinstance(value, datetime):
            value = _local(value, person)
        return shift(value, person.shift_days) if scope.date_mode == DateMode.SHIFTED else value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if scope.codes_as_labels:
        if variable.data_type in ("boolean", "text") and isinstance(value, bool):
            return YES_NO[value]
        if variable.codes:
            return dict(variable.codes).get(str(value), str(value))
    return value


def _order(dataset: Dataset) -> list[str]:
    order = [dataset.participant_path]
    if dataset.visit_path == "":
        order.append("sequence")
    elif dataset.visit_path:
        order.append(f"{dataset.visit_path}__sequence")
    return [*order, "id"]


def count(dataset: Dataset, scope: ExportScope) -> int:
    return source(dataset.model, scope).order_by().count()


def _field_type(model: type[models.Model], path: str) -> type | None:
    """The Python type of the values ``values_list(path)`` reads (None where it is not one type: JSON, or a path
    that does not lead to a field)."""
    parts = path.split("__")
    for part in parts[:-1]:
        try:
            model_field = model._meta.get_field(part)
        except Exception:
            return None
        if model_field.related_model is None:
            return None
        model = model_field.related_model
    try:
        model_field = model._meta.get_field(parts[-1])
    except Exception:
        model_field = next((f for f in model._meta.concrete_fields if f.attname == parts[-1]), None)
    if model_field is None:
        return None
    if isinstance(model_field, models.ForeignKey):
        model_field = model_field.target_field
    for kind, found in (
        (models.BooleanField, bool),
        (models.DateTimeField, datetime),
        (models.DateField, date),
        (models.FloatField, float),
        (models.DecimalField, Decimal),
        (models.IntegerField | models.AutoField, int),
        (models.CharField | models.TextField, str),
    ):
        if isinstance(model_field, kind):
            return found
    return None


def value_converter(dataset: Dataset, variable: Variable, scope: ExportScope) -> tuple[Converter | None, type | None]:
    """``convert`` for one column, decided once from the field's type and the scope: (the converter, None where
    the value is exported as read; the type of the values it gives, None where unknown). Gives what ``convert``
    gives for every value of the field."""
    raw = _field_type(dataset.model, variable.source)
    if raw is None:
        return (lambda value, person: convert(variable, value, person, scope)), None
    if raw in (date, datetime) and variable.name != "study_day":
        if scope.date_mode == DateMode.STUDY_DAY:
            return _day_of, int
        days_back = scope.date_mode == DateMode.SHIFTED
        if raw is datetime:

            def moment(value: Any, person: Person) -> Any:
                if value is None:
                    return None
                value = _local(value, person)
                return shift(value, person.shift_days) if days_back else value

            return moment, datetime
        if days_back:
            return (lambda value, person: None if value is None else shift(value, person.shift_days)), date
        return None, date
    if scope.codes_as_labels:
        if raw is bool and variable.data_type in ("boolean", "text"):
            return (lambda value, person: None if value is None else YES_NO[value]), str
        if variable.codes:
            labels = dict(variable.codes)
            return (lambda value, person: None if value is None else labels.get(str(value), str(value))), str
    return None, raw


def _plain(variable: Variable, converter: Converter | None, kind: type | None) -> Converter | None:
    return converter


def dataset_rows(
    dataset: Dataset,
    scope: ExportScope,
    persons: dict[int, Person] | None = None,
    finish: Finish | None = None,
) -> Iterator[list[Any]]:
    """The rows of ``dataset`` in this export, each a list in the order of ``columns(dataset, scope)``.

    Each column's conversion is decided once (``value_converter``) and then applied to every row; ``finish``
    lets a writer fold its own formatting into it (the CSV writer turns each column straight into text). A row is
    the columns' values picked from the database row in one step; only the columns that need a conversion are
    then called, one call per cell."""
    persons = people(scope) if persons is None else persons
    finish = finish or _plain
    wanted = columns(dataset, scope)
    selects = [dataset.participant_path] + [v.source for v in wanted if v.name not in ("participant", "study_day")]
    if dataset.day_source:
        selects.append(dataset.day_source)
    index = {name: position for position, name in reversed(list(enumerate(selects)))}
    positions: list[int] = []
    calls: list[tuple[int, Converter]] = []  # (column, its converter) for the columns not taken as read
    for column, variable in enumerate(wanted):
        if variable.name == "participant":
            cell, position = finish(variable, lambda value, person: person.number, str), 0
        elif variable.name == "study_day":
            cell, position = finish(variable, _day_of, int), index[dataset.day_source]  # type: ignore[index]
        else:
            converter, kind = value_converter(dataset, variable, scope)
            cell, position = finish(variable, converter, kind), index[variable.source]
        positions.append(position)
        if cell is not None:
            calls.append((column, cell))
    pick = itemgetter(*positions) if len(positions) > 1 else (lambda values: (values[positions[0]],))
    queryset = source(dataset.model, scope).order_by(*_order(dataset)).values_list(*selects)
    for values in queryset.iterator(CHUNK_SIZE):
        person = persons.get(values[0])
        if person is None:  # a record whose participant is outside the scope (not screened by the cut-off)
            continue
        row = list(pick(values))
        for column, cell in calls:
            row[column] = cell(row[column], person)
        yield row
