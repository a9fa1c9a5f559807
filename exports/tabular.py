"""CSV exports: one CSV per dataset in a ZIP, or one dataset's CSV on its own.

Each CSV has one header row of variable names (the labels, units and codes are in the data dictionary), then one
row per record. UTF-8 without a byte-order mark; dates ISO 8601 (``2025-03-14``), date-times ISO 8601 with the
site's offset (``2025-03-14T10:30:00+06:00``), booleans 1/0 (Yes/No when the export asks for labels), no value
empty. The ZIP is written as it goes (no seeking), so it can be streamed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from exports.catalogue import Variable, dataset
from exports.formats import Progress, ProgressBatch, RowCounts, Table, dataset_tables
from exports.rows import Converter, columns, dataset_rows, people, whole_result_plans
from exports.scope import ExportScope
from monitoring.selectors.audit import FORMULA_STARTS, csv_cell

# Rows formatted together before they are encoded and written (a ZIP member compresses each write on its own).
ROWS_PER_WRITE = 1000


def csv_value(value: Any) -> str:
    """One value as the CSV exports write it; text that a spreadsheet would run as a formula gets an apostrophe
    in front (``csv_cell``), numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same number
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    return csv_cell(str(value))


# A text starting with none of these cannot be taken for a formula (``csv_cell`` leaves it as it is).
_CAREFUL = frozenset(FORMULA_STARTS + " \n\t\r\x0b\x0c\xa0")


# ``csv_value`` for a column whose values are known to be of one type (or None): each is called with the value and
# the participant, so a column exported as read costs one call per cell; any other type goes to ``csv_value``.
def _int_text(value: Any, person: Any = None) -> str:
    return str(value) if value.__class__ is int else csv_value(value)


def _str_text(value: Any, person: Any = None) -> str:
    if value.__class__ is str:
        return value if not value or value[0] not in _CAREFUL else csv_cell(value)
    return csv_value(value)


def _float_text(value: Any, person: Any = None) -> str:
    return repr(value) if value.__class__ is float else csv_value(value)


def _bool_text(value: Any, person: Any = None) -> str:
    return ("1" if value else "0") if value.__class__ is bool else csv_value(value)


def _decimal_text(value: Any, person: Any = None) -> str:
    return format(value, "f") if value.__class__ is Decimal else csv_value(value)


def _date_text(value: Any, person: Any = None) -> str:
    return value.isoformat() if value.__class__ is date or value.__class__ is datetime else csv_value(value)


def _any_text(value: Any, person: Any = None) -> str:
    return csv_value(value)


TEXTS: dict[type | None, Callable[..., str]] = {
    int: _int_text,
    str: _str_text,
    float: _float_text,
    bool: _bool_text,
    Decimal: _decimal_text,
    date: _date_text,
    datetime: _date_text,
}


# Types the csv module writes itself as ``csv_value`` does (``str`` of an int, ``repr`` of a float, nothing for None):
# a column of them read as is needs no call per cell.
AS_WRITTEN: frozenset[type] = frozenset({int, float})


def csv_column(variable: Variable, converter: Converter | None, kind: type | None) -> Converter | None:
    """A column's converter and ``csv_value`` folded into one (``rows.dataset_rows``' ``finish``): the raw value
    and the participant → the text of the CSV cell. A column of ints or floats (study days too) is left to the
    csv module, which writes them as ``csv_value`` would: None where read as is, else the converter alone."""
    if kind in AS_WRITTEN:
        return converter
    text = TEXTS.get(kind, _any_text)
    if converter is None:
        return text
    return lambda value, person: text(converter(value, person))


def _write_csv(names: list[str], rows: Iterable[list[Any]], out: BinaryIO, progress: Progress, *, text: bool) -> int:
    """The CSV of ``rows`` (when ``text``, already text or values the csv module writes as ``csv_value`` does;
    else values for ``csv_value``), written a thousand rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    written = pending = 0
    batch = ProgressBatch(progress)
    for row in rows:
        writer.writerow(row if text else [csv_value(value) for value in row])
        pending += 1
        if pending == ROWS_PER_WRITE:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
            written += pending
            batch.add(pending)
            pending = 0
    out.write(buffer.getvalue().encode("utf-8"))
    written += pending
    batch.add(pending)
    batch.flush()
    return written


def write_table_csv(table: Table, out: BinaryIO, progress: Progress) -> int:
    """One table as a CSV on ``out``; the number of rows written."""
    names = [c.name for c in table.columns]
    if table.cells is not None:
        return _write_csv(names, table.cells(csv_column), out, progress, text=True)
    return _write_csv(names, table.rows(), out, progress, text=False)


def write_tables_zip(tables: Iterable[Table], out: BinaryIO, progress: Progress) -> RowCounts:
    """A ZIP with ``<NAME>.csv`` per table."""
    counts: RowCounts = {}
    with whole_result_plans(), zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for table in tables:
            with archive.open(f"{table.name}.csv", "w", force_zip64=True) as member:
                counts[table.name] = write_table_csv(table, member, progress)  # type: ignore[arg-type]
    return counts


def write_csv_per_form(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """Every dataset of the catalogue, one CSV each, in a ZIP."""
    return write_tables_zip(dataset_tables(scope, people(scope)), out, progress)


def write_dataset_csv(scope: ExportScope, out: BinaryIO, progress: Progress, dataset_key: str) -> RowCounts:
    """One dataset as a plain CSV (small enough to stream to the browser)."""
    chosen = dataset(dataset_key)
    names = [c.name for c in columns(chosen, scope)]
    with whole_result_plans():
        rows = dataset_rows(chosen, scope, people(scope), csv_column)
        written = _write_csv(names, rows, out, progress, text=True)
    return {chosen.key: written}
