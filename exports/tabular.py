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
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from exports.catalogue import dataset
from exports.formats import Progress, ProgressBatch, RowCounts, Table, dataset_tables
from exports.rows import columns, dataset_rows, people
from exports.scope import ExportScope
from monitoring.selectors.audit import csv_cell


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


def _write_csv(names: list[str], rows: Iterable[list[Any]], out: BinaryIO, progress: Progress) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(names)
        written = 0
        batch = ProgressBatch(progress)
        for row in rows:
            writer.writerow([csv_value(value) for value in row])
            written += 1
            batch.add()
        batch.flush()
        text.flush()
    finally:
        text.detach()  # leave ``out`` open for the caller
    return written


def write_table_csv(table: Table, out: BinaryIO, progress: Progress) -> int:
    """One table as a CSV on ``out``; the number of rows written."""
    return _write_csv([c.name for c in table.columns], table.rows(), out, progress)


def write_tables_zip(tables: Iterable[Table], out: BinaryIO, progress: Progress) -> RowCounts:
    """A ZIP with ``<NAME>.csv`` per table."""
    counts: RowCounts = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
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
    written = _write_csv(names, dataset_rows(chosen, scope, people(scope)), out, progress)
    return {chosen.key: written}
