"""The data dictionary: every variable of every dataset (the forms' and the analysis datasets'), as CSV or as a
printable HTML page.

One row per variable: dataset, variable name, eight-character name, label, type, unit, code list, hard and soft
ranges, the longest text allowed, the visits that ask for the form, the identifying and free-text marks, and
whether (and as what) this export includes it. Generated from the catalogue, so it always matches the exports.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.template.loader import render_to_string
from django.utils import timezone, translation

from exports.analysis import analysis_datasets
from exports.catalogue import Dataset, Variable, datasets, study_name
from exports.formats import Progress, RowCounts
from exports.rows import columns
from exports.scope import DateMode, ExportScope
from monitoring.selectors.audit import csv_cell

COLUMNS: tuple[tuple[str, str], ...] = (
    ("dataset", "Dataset"),
    ("dataset_label", "Dataset label"),
    ("variable", "Variable"),
    ("short_name", "Short name (8 characters)"),
    ("label", "Label"),
    ("data_type", "Type"),
    ("unit", "Unit"),
    ("codes", "Codes"),
    ("hard_range", "Hard range (refused outside)"),
    ("soft_range", "Soft range (confirmed outside)"),
    ("length", "Maximum length"),
    ("visits", "Visits"),
    ("identifying", "Identifying"),
    ("free_text", "Free text"),
    ("in_this_export", "In this export"),
    ("exported_as", "Exported as"),
)

# The page's only style, inline (the page is a standalone file). ``STYLE_SRC_HASH`` lets a view serving it
# inline allow exactly this style under the site's Content-Security-Policy.
CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:13px;margin:2em;color:#212529}"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;page-break-before:auto}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1em}"
    "th,td{border:1px solid #ced4da;padding:3px 6px;vertical-align:top;text-align:left}"
    "thead th{background:#e9ecef}tr{page-break-inside:avoid}"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace}.muted{color:#6c757d}.excluded{color:#adb5bd}"
    ".toc{columns:2}@media print{body{margin:0}a{color:inherit;text-decoration:none}}"
)
STYLE_SRC_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode() + "'"


@dataclass(frozen=True)
class Entry:
    """One variable's line in the dictionary, every value as text."""

    dataset: str
    dataset_label: str
    variable: str
    short_name: str
    label: str
    data_type: str
    unit: str
    codes: str
    hard_range: str
    soft_range: str
    length: str
    visits: str
    identifying: str
    free_text: str
    in_this_export: str
    exported_as: str

    def values(self) -> list[str]:
        return [getattr(self, name) for name, _label in COLUMNS]


def all_datasets() -> tuple[Dataset, ...]:
    """The forms' datasets and then the analysis datasets."""
    return (*datasets(), *analysis_datasets())


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def range_text(low: float | None, high: float | None) -> str:
    """``2–25``, ``≥ 0``, ``≤ 28`` or empty."""
    if low is not None and high is not None:
        return f"{_number(low)}–{_number(high)}"
    if low is not None:
        return f"≥ {_number(low)}"
    if high is not None:
        return f"≤ {_number(high)}"
    return ""


def codes_text(variable: Variable) -> str:
    """``0=0 normal; 1=1 mild …``; booleans ``1=Yes; 0=No``."""
    if variable.codes:
        return "; ".join(f"{code}={label}" for code, label in variable.codes)
    if variable.data_type == "boolean":
        return "1=Yes; 0=No"
    return ""


def _exported_as(variable: Variable | None, scope: ExportScope) -> str:
    if variable is None:
        return ""
    if variable.unit == "study day" and variable.data_type == "integer":
        return "integer (study day)"
    if variable.is_date and scope.date_mode == DateMode.SHIFTED:
        return f"{variable.data_type} (shifted)"
    if scope.codes_as_labels and (variable.codes or variable.data_type == "boolean"):
        return "text (labels)"
    return variable.data_type


def entries(scope: ExportScope) -> Iterator[Entry]:
    """The dictionary's lines, dataset by dataset, variables in column order."""
    yes = {True: "Yes", False: ""}
    for dataset in all_datasets():
        exported = {v.name: v for v in columns(dataset, scope)}
        for variable in dataset.variables:
            kept = exported.get(variable.name)
            yield Entry(
                dataset=dataset.key,
                dataset_label=dataset.label,
                variable=variable.name,
                short_name=variable.short_name,
                label=variable.label,
                data_type=variable.data_type,
                unit=variable.unit,
                codes=codes_text(variable),
                hard_range=range_text(variable.minimum, variable.maximum),
                soft_range=range_text(variable.soft_minimum, variable.soft_maximum),
                length=str(variable.length) if variable.length else "",
                visits=" ".join(dataset.visits),
                identifying=yes[variable.identifying],
                free_text=yes[variable.free_text],
                in_this_export="Yes" if kept else "No",
                exported_as=_exported_as(kept, scope),
            )


def write_dictionary_csv(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """The dictionary as one CSV (UTF-8, a header row of the column names)."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    written = 0
    try:
        with translation.override("en"):
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow([name for name, _label in COLUMNS])
            for entry in entries(scope):
                writer.writerow([csv_cell(value) for value in entry.values()])
                written += 1
        text.flush()
    finally:
        text.detach()
    progress(written)
    return {"dictionary": written}


def _scope_description(scope: ExportScope) -> list[str]:
    dates = {
        DateMode.ACTUAL: "actual dates",
        DateMode.SHIFTED: "dates shifted back by a fixed number of days per participant",
        DateMode.STUDY_DAY: "study days instead of dates (Day 1 = randomisation)",
    }[DateMode(scope.date_mode)]
    lines = [
        "Identified (identifying fields included)"
        if scope.identified
        else "De-identified (identifying fields left out)",
        f"Dates: {dates}",
        f"Coded values as {'labels' if scope.codes_as_labels else 'codes'}",
        "Free text included" if scope.identified or scope.free_text else "Free text left out",
        f"Data as at the end of {scope.cut_off.isoformat()}" if scope.cut_off else "Data as they are now",
    ]
    return lines


def write_dictionary_html(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """The dictionary as a standalone printable HTML page: a table of contents, then one table per dataset."""
    with translation.override("en"):
        grouped: dict[str, dict[str, Any]] = {}
        for entry in entries(scope):
            group = grouped.setdefault(entry.dataset, {"key": entry.dataset, "label": entry.dataset_label, "rows": []})
            group["rows"].append(entry)
        for group in grouped.values():
            group["visits"] = group["rows"][0].visits if group["rows"] else ""
        page = render_to_string(
            "exports/dictionary.html",
            {
                "css": CSS,
                "study": study_name(),
                "generated": timezone.localtime().strftime("%Y-%m-%d %H:%M %Z"),
                "scope_lines": _scope_description(scope),
                "datasets": list(grouped.values()),
            },
        )
    out.write(page.encode("utf-8"))
    written = sum(len(group["rows"]) for group in grouped.values())
    progress(written)
    return {"dictionary": written}
