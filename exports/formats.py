"""The export formats, and the one shape every writer reads: tables of typed columns and streamed rows.

A writer is ``write(scope, out, progress) -> row counts``: it writes the whole file to the binary stream ``out``,
calls ``progress(rows)`` now and then with the number of rows written since its last call, and returns the
number of rows it wrote per table. Writers live in their own modules and are named here by dotted path, so
this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from exports.catalogue import Variable, datasets
from exports.rows import Finish, Person, columns, count, dataset_rows
from exports.scope import ExportScope

Progress = Callable[[int], None]
RowCounts = dict[str, int]
Writer = Callable[[ExportScope, BinaryIO, Progress], RowCounts]
PROGRESS_EVERY = 500  # rows between two progress calls


class ProgressBatch:
    """Passes rows on to ``progress`` a batch at a time: every ``every`` rows, and the rest on ``flush()``."""

    def __init__(self, progress: Progress, every: int = PROGRESS_EVERY) -> None:
        self.progress, self.every, self.pending = progress, every, 0

    def add(self, rows: int = 1) -> None:
        self.pending += rows
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.progress(self.pending)
            self.pending = 0


@dataclass(frozen=True)
class Table:
    """A dataset as a writer sees it: a name (eight characters at most), a label, columns, and its rows.

    ``rows()`` starts a fresh pass over the rows each time it is called (a writer that needs two passes, to
    measure text widths say, calls it twice); ``count()`` is the number of rows a pass gives at most. ``cells``,
    where there is one, is the same pass with the writer's own formatting folded into each column's conversion
    (``rows.dataset_rows``' ``finish``: the CSV writer's cells come out as text).
    """

    name: str
    label: str
    columns: tuple[Variable, ...]
    rows: Callable[[], Iterator[list[Any]]]
    count: Callable[[], int]
    cells: Callable[[Finish], Iterator[list[Any]]] | None = None


def dataset_tables(scope: ExportScope, persons: dict[int, Person]) -> list[Table]:
    """One table per clinical dataset of the catalogue, as this export sees it."""
    return [
        Table(
            name=dataset.key,
            label=dataset.label,
            columns=columns(dataset, scope),
            rows=lambda dataset=dataset: dataset_rows(dataset, scope, persons),
            count=lambda dataset=dataset: count(dataset, scope),
            cells=lambda finish, dataset=dataset: dataset_rows(dataset, scope, persons, finish),
        )
        for dataset in datasets()
    ]


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: Any
    description: Any
    writer: str  # dotted path of the writer
    extension: str
    content_type: str
    analysis: bool = False  # offered to statisticians (de-identified only) as well as to the export centre
    streams: bool = False  # small enough to stream straight to the browser; the others run as a job


FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat(
            "csv", _("CSV, one file per form"), _("One row per form instance, with participant, visit and study day."),
            "exports.tabular.write_csv_per_form", "zip", "application/zip",
        ),
        ExportFormat(
            "analysis", _("Analysis datasets (CSV)"),
            _("One row per participant and visit, and one per participant with the primary endpoint."),
            "exports.analysis.write_analysis_csv", "zip", "application/zip", analysis=True,
        ),
        ExportFormat(
            "dictionary_csv", _("Data dictionary (CSV)"),
            _("Every variable: label, type, unit, codes, ranges, visits."),
            "exports.dictionary.write_dictionary_csv", "csv", "text/csv; charset=utf-8", analysis=True, streams=True,
        ),
        ExportFormat(
            "dictionary_html", _("Data dictionary (HTML)"), _("The same, as a page to read or print."),
            "exports.dictionary.write_dictionary_html", "html", "text/html; charset=utf-8", analysis=True,
            streams=True,
        ),
        ExportFormat(
            "odm", _("CDISC ODM 1.3.2 (XML)"), _("Metadata, clinical data, audit records and signatures."),
            "exports.odm.write_odm", "xml", "application/xml",
        ),
        ExportFormat(
            "xpt", _("SAS transport (XPT v5)"), _("One file per dataset, with variable labels."),
            "exports.statfiles.write_xpt", "zip", "application/zip", analysis=True,
        ),
        ExportFormat(
            "stata", _("Stata (.dta)"), _("One file per dataset, with variable and value labels."),
            "exports.statfiles.write_stata", "zip", "application/zip", analysis=True,
        ),
        ExportFormat(
            "audit", _("Audit trail (CSV)"), _("Every change: who, when, old and new value, reason."),
            "exports.audit_trail.write_audit_csv", "csv", "text/csv; charset=utf-8",
        ),
        ExportFormat(
            "full", _("Everything (ZIP)"), _("All of the above in one archive."),
            "exports.package.write_full", "zip", "application/zip",
        ),
    )
}  # fmt: skip


def writer_for(key: str) -> Writer:
    return import_string(FORMATS[key].writer)
