"""SAS transport (XPT version 5) and Stata (.dta) exports: a ZIP with one file per table, written by our own
streaming writers (``exports.xpt_writer``, ``exports.dta_writer``).

Each ZIP holds one file per table (the clinical datasets of the catalogue, then the analysis datasets ``ANVISIT``
and ``ANPART``), plus ``variables.csv`` (every column: its name in the file, its full name, full label and the
label as the file carries it, its type, unit and codes) and ``README.txt`` (what the files are, the scope of
the export, and any value that had to be cut).

What a value becomes:

- **numbers** (integers, decimals, and the booleans as 1/0) are numeric; **text** is text (UTF-8);
- **dates** are real SAS / Stata dates (days since 1 January 1960, format ``DATE9.`` / ``%td``), **datetimes**
  real datetimes (seconds / milliseconds since 1960, ``DATETIME20.`` / ``%tc``) in the local wall-clock time of
  the participant's site; with study days instead of dates they are whole numbers, as the scope says;
- with codes as labels, coded values and booleans are their English text ("Yes" / "No").

The SAS transport version 5 limits are kept: dataset and variable names of eight characters (the catalogue's
``short_name``), labels of 40 ASCII characters (transliterated, cut at a word with "..."), text values of 200
bytes at most (longer ones are cut, and counted in ``README.txt``). Stata files use the variable names (32
characters at most), labels of 80 characters, and value labels for coded integer variables and booleans
(``0 "No" 1 "Yes"``) where the scope keeps codes.

Memory: flat as the trial grows. Each table's rows are converted one at a time (``table_rows``) and handed to
the writer, which spools them to a temporary file in chunks of a few thousand rows while it learns what the
file's header needs (the widest text of each column, the number of rows), then writes the header and the rows
from the spool. The peak is one chunk, never a table nor the export. The files are those pyreadstat writes for
the same data (the writers' tests compare them), which the exports used until #21.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from django.utils import translation

from exports.catalogue import Variable, short_names, study_name
from exports.dta_writer import DtaColumn
from exports.dta_writer import write_dta as write_dta_file
from exports.formats import Progress, ProgressBatch, RowCounts, Table
from exports.scope import ExportScope
from exports.xpt_writer import XptColumn
from exports.xpt_writer import write_xpt as write_xpt_file
from monitoring.selectors.audit import csv_cell

FileKind = Literal["xpt", "dta"]

EPOCH_DATE = date(1960, 1, 1)  # day 0 of SAS and Stata dates
EPOCH_DATETIME = datetime(1960, 1, 1)

XPT_NAME_LENGTH = 8
XPT_LABEL_LENGTH = 40
XPT_TEXT_BYTES = 200
DTA_NAME_LENGTH = 32
DTA_LABEL_LENGTH = 80
YES_NO_LABELS = {0: "No", 1: "Yes"}

# Stata's reserved words, which cannot name a variable (str1 … str2045 are matched by pattern).
STATA_RESERVED = frozenset(
    ("_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_N", "_pi",
     "_pred", "_rc", "_skip", "strL", "using", "with")
)  # fmt: skip
_STATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Characters of our labels that have a plain-ASCII spelling worth keeping (NFKD handles accents).
_ASCII_SPELLINGS = {
    "×": "x", "⁹": "^9", "³": "^3", "²": "^2", "°": "deg", "µ": "u", "μ": "u", "–": "-", "—": "-",
    "‘": "'", "’": "'", "“": '"', "”": '"', "≥": ">=", "≤": "<=", "…": "...", "·": ".",
}  # fmt: skip


# --- Names and labels ------------------------------------------------------------------------------------------


def ascii_text(text: str) -> str:
    """``text`` in plain ASCII: known symbols spelled out (× → x, ⁹ → ^9, ° → deg), accents dropped."""
    spelled = "".join(_ASCII_SPELLINGS.get(char, char) for char in text)
    decomposed = unicodedata.normalize("NFKD", spelled)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` UTF-8 bytes: kept whole if it fits, otherwise cut after a whole word (where
    one ends in the second half of the room), before a parenthesis the cut would leave open, and marked "..."."""
    if len(text.encode()) <= limit:
        return text
    room = limit - 3
    cut = text.encode()[:room].decode("utf-8", "ignore")
    space = cut.rfind(" ")
    if space > room // 2:
        cut = cut[:space]
    opened = cut.rfind("(")
    if opened > room // 2 and cut.count("(") > cut.count(")"):  # no parenthesis left open
        cut = cut[:opened]
    return cut.rstrip(" ,;:-(/") + "..."


def xpt_label(label: str) -> str:
    return shorten(ascii_text(label), XPT_LABEL_LENGTH)


def dta_label(label: str) -> str:
    return shorten(label, DTA_LABEL_LENGTH)


def xpt_names(columns: tuple[Variable, ...]) -> list[str]:
    """The eight-character names: the catalogue's ``short_name``s, or new ones if a table lacks them."""
    names = [v.short_name.upper() for v in columns]
    fit = all(0 < len(n) <= XPT_NAME_LENGTH for n in names) and len(set(names)) == len(names)
    return names if fit else short_names([v.name for v in columns])


def _stata_name(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", name) or "var"
    if not _STATA_NAME.fullmatch(name):
        name = f"v{name}"
    if name in STATA_RESERVED or re.fullmatch(r"str\d+", name):
        name = f"{name}_"
    return name


def stata_layout(columns: tuple[Variable, ...]) -> tuple[list[str], dict[str, dict[int, str]]]:
    """The Stata names of ``columns`` and their value labels (by name).

    A name is the variable's name where that is a valid Stata name of 32 characters at most; otherwise it is
    cleaned and cut to 32, with a number where that makes two alike. Each value-label set is named
    after its variable plus a running number (``dta_writer.label_set_names``, as pyreadstat names them), and those
    names have 32 characters at most too: a coded integer variable with a name too long for that is cut further,
    and a boolean with such a name goes without its No/Yes labels (its 1/0 and its label say it).
    """
    taken: set[str] = set()
    names: list[str] = []
    labels: dict[str, dict[int, str]] = {}
    for variable in columns:
        name = _stata_name(variable.name)
        found = value_labels(variable)
        room = DTA_NAME_LENGTH
        if found:
            room -= len(str(len(labels)))
            if len(name) > room and variable.data_type == "boolean":
                found, room = None, DTA_NAME_LENGTH
        base, candidate, number = name[:room], name[:room], 1
        while candidate in taken:
            suffix = f"_{number}"
            candidate = base[: room - len(suffix)] + suffix
            number += 1
        taken.add(candidate)
        names.append(candidate)
        if found:
            labels[candidate] = found
    return names, labels


def stata_names(columns: tuple[Variable, ...]) -> list[str]:
    return stata_layout(columns)[0]


# --- One table as a DataFrame ----------------------------------------------------------------------------------


def sas_days(value: date) -> float:
    return float((value - EPOCH_DATE).days)


def sas_seconds(value: datetime) -> float:
    return (value.replace(tzinfo=None) - EPOCH_DATETIME).total_seconds()


def _number(value: Any) -> float:
    """Integers, decimals and booleans (True → 1.0) as floats: SAS and Stata numbers here are doubles."""
    return float(value)


@dataclass
class Written:
    """What writing one table found: its rows and the text values cut to the XPT limit (by column name)."""

    rows: int = 0
    cut: dict[str, int] = field(default_factory=dict)


def _cell(variable: Variable, value: Any, kind: FileKind, cut: dict[str, int]) -> Any:
    """One value as it goes into the file: a float (NaN for missing), or text (None for missing)."""
    data_type = variable.data_type
    if data_type == "text":
        if value is None:
            return None
        text = value if isinstance(value, str) else str(value)
        if kind == "xpt" and len(text.encode()) > XPT_TEXT_BYTES:
            cut[variable.name] = cut.get(variable.name, 0) + 1
            text = text.encode()[:XPT_TEXT_BYTES].decode("utf-8", "ignore")
        return text
    if value is None:
        return math.nan
    if data_type == "date":
        return sas_days(value.date() if isinstance(value, datetime) else value)
    if data_type == "datetime":
        if not isinstance(value, datetime):
            value = datetime.combine(value, datetime.min.time())
        seconds = sas_seconds(value)
        return seconds * 1000 if kind == "dta" else seconds  # Stata's %tc counts milliseconds
    return _number(value)


def table_rows(table: Table, kind: FileKind, progress: Progress, written: Written) -> Iterator[list[Any]]:
    """The table's rows as the file takes them (``_cell``), one at a time, counted in ``written``."""
    columns = table.columns
    batch = ProgressBatch(progress)
    for row in table.rows():
        yield [_cell(variable, value, kind, written.cut) for variable, value in zip(columns, row, strict=True)]
        written.rows += 1
        batch.add()
    batch.flush()


def _formats(table: Table, names: list[str], kind: FileKind) -> dict[str, str]:
    date_format, datetime_format = ("DATE9.", "DATETIME20.") if kind == "xpt" else ("%td", "%tc")
    formats = {}
    for name, variable in zip(names, table.columns, strict=True):
        if variable.data_type == "date":
            formats[name] = date_format
        elif variable.data_type == "datetime":
            formats[name] = datetime_format
    return formats


def value_labels(variable: Variable) -> dict[int, str] | None:
    """Stata value labels of a numeric coded variable (integer codes) or a boolean; None for any other."""
    if variable.data_type == "boolean":
        return dict(YES_NO_LABELS)
    if variable.data_type == "integer" and variable.codes:
        try:
            return {int(code): label for code, label in variable.codes}
        except ValueError:
            return None
    return None


# --- Writing ---------------------------------------------------------------------------------------------------


def _write_xpt_file(table: Table, path: Path, progress: Progress) -> Written:
    names = xpt_names(table.columns)
    formats = _formats(table, names, "xpt")
    columns = [
        XptColumn(name, xpt_label(variable.label), variable.data_type != "text", formats.get(name, ""))
        for name, variable in zip(names, table.columns, strict=True)
    ]
    written = Written()
    write_xpt_file(
        path,
        table_name=table.name.upper()[:XPT_NAME_LENGTH],
        table_label=xpt_label(table.label),
        columns=columns,
        rows=table_rows(table, "xpt", progress, written),
    )
    return written


def _write_dta_file(table: Table, path: Path, progress: Progress) -> Written:
    names, labels = stata_layout(table.columns)
    formats = _formats(table, names, "dta")
    columns = [
        DtaColumn(
            name, dta_label(variable.label), variable.data_type != "text", formats.get(name, ""), labels.get(name)
        )
        for name, variable in zip(names, table.columns, strict=True)
    ]
    written = Written()
    write_dta_file(
        path, file_label=dta_label(table.label), columns=columns, rows=table_rows(table, "dta", progress, written)
    )
    return written


def _variable_rows(table: Table, kind: FileKind) -> list[list[str]]:
    names = xpt_names(table.columns) if kind == "xpt" else stata_names(table.columns)
    in_file = xpt_label if kind == "xpt" else dta_label
    return [
        [
            table.name,
            name,
            variable.name,
            variable.label,
            in_file(variable.label),
            variable.data_type,
            variable.unit,
            "; ".join(f"{code}={label}" for code, label in variable.codes),
        ]
        for name, variable in zip(names, table.columns, strict=True)
    ]


VARIABLE_HEADER = ["dataset", "name_in_file", "variable", "label", "label_in_file", "type", "unit", "codes"]


def _variables_csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(VARIABLE_HEADER)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return text.getvalue().encode("utf-8-sig")


def _readme(scope: ExportScope, kind: FileKind, tables: list[Table], written: dict[str, Written]) -> str:
    if kind == "xpt":
        what = (
            "SAS transport files, version 5 (one .xpt per dataset; the dataset name is the file name). Variable\n"
            "names have eight characters and labels 40 (ASCII; cut labels end in '...'); text values are UTF-8\n"
            f"and at most {XPT_TEXT_BYTES} bytes. Read with: libname x xport 'LABS.xpt'; proc copy in=x out=work;\n"
            "or pyreadstat.read_xport. pandas.read_sas(format='xport', encoding='utf-8') reads 0 as 5.4e-79, fails\n"
            "on a dataset without rows, and may miss the last row of a narrow dataset (records of 80 bytes or less)."
        )
    else:
        what = (
            "Stata files (.dta, format 119; one per dataset). Variable names are the full names (cut to 32\n"
            "characters where longer), labels up to 80 characters; coded integer variables and yes/no variables\n"
            "carry value labels (except a yes/no variable with a name of 31 or 32 characters: 1 = yes, 0 = no).\n"
            "Read with: use LABS.dta"
        )
    dates = {
        "actual": "actual dates",
        "shifted": "dates shifted back by a fixed number of days per participant",
        "study_day": "study days (Day 1 = randomisation) instead of dates",
    }[str(scope.date_mode)]
    lines = [
        f"{study_name()}: data export",
        "",
        what,
        "",
        "variables.csv lists every variable of every file: its name in the file, its full name and label, its",
        "type, unit and codes.",
        "",
        f"Identified: {'yes' if scope.identified else 'no (identifying variables left out)'}",
        f"Free text: {'yes' if scope.identified or scope.free_text else 'no'}",
        f"Dates: {dates}; datetimes are local time at the participant's site.",
        f"Coded values: {'text labels' if scope.codes_as_labels else 'codes (see variables.csv)'}",
        f"Data as at: {scope.cut_off.isoformat() if scope.cut_off else 'the time of the export'}",
        "",
        "Datasets (rows):",
    ]
    for table in tables:
        lines.append(f"  {table.name:<8} {written[table.name].rows:>8}  {table.label}")
    cut = [(name, column, n) for name, w in written.items() for column, n in w.cut.items()]
    if cut:
        lines += ["", f"Text values longer than {XPT_TEXT_BYTES} bytes, cut to fit (the CSV export has them whole):"]
        lines += [f"  {name}.{column}: {n}" for name, column, n in cut]
    return "\n".join(lines) + "\n"


def export_tables(scope: ExportScope) -> list[Table]:
    """The tables of a statistical export: every clinical dataset, then the analysis datasets."""
    from exports.analysis import analysis_tables
    from exports.formats import dataset_tables
    from exports.rows import people

    persons = people(scope)
    return dataset_tables(scope, persons) + analysis_tables(scope, persons)


def write_statfiles(
    scope: ExportScope,
    out: BinaryIO,
    progress: Progress,
    kind: FileKind,
) -> RowCounts:
    """The ZIP of one ``.xpt`` or ``.dta`` file per table, ``variables.csv`` and ``README.txt``, written to
    ``out``; one table in memory at a time."""
    from exports.rows import whole_result_plans

    write_file: Callable[[Table, Path, Progress], Written] = _write_xpt_file if kind == "xpt" else _write_dta_file
    with translation.override("en"), whole_result_plans():
        tables = export_tables(scope)
        written: dict[str, Written] = {}
        variables: list[list[str]] = []
        with (
            tempfile.TemporaryDirectory(prefix="statfiles-") as folder,
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            for table in tables:
                path = Path(folder) / f"{table.name}.{kind}"
                written[table.name] = write_file(table, path, progress)
                archive.write(path, path.name)
                path.unlink()
                variables += _variable_rows(table, kind)
            archive.writestr("variables.csv", _variables_csv(variables))
            archive.writestr("README.txt", _readme(scope, kind, tables, written).encode())
    return {name: w.rows for name, w in written.items()}


def write_xpt(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """SAS transport (XPT version 5) files in a ZIP; see the module's docstring. Peak memory: one table."""
    return write_statfiles(scope, out, progress, "xpt")


def write_stata(scope: ExportScope, out: BinaryIO, progress: Progress) -> RowCounts:
    """Stata (.dta) files in a ZIP; see the module's docstring. Peak memory: one table."""
    return write_statfiles(scope, out, progress, "dta")
