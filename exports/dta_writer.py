"""A Stata ``.dta`` writer that streams: rows in, a file out, in memory that does not grow with the rows.

``pyreadstat.write_dta`` needs the whole table as one DataFrame. ``write_dta`` here takes any iterable of rows
(a generator over a database cursor, say) and writes the same file: a little-endian, UTF-8 Stata dataset of
release 119 by default, which is the release ``pyreadstat.write_dta`` writes by default (its ``version=15``),
or of release 118 (Stata 14 and later) with ``release=118``. The two differ only in the width of the variable
count (2 or 4 bytes), of the sort list's entries, and of the (v,o) split of a strL reference (2+6 or 3+5
bytes). Stata itself writes 118 for datasets of 32,767 variables or fewer; Stata 14 reads 118 but not 119.

What goes into a file, column by column (``DtaColumn``):

- a **numeric** column is a Stata ``double``. ``math.nan`` (or ``None``) is Stata's system missing ``.``
  (0x7FE0000000000000); a value outside what a Stata double can hold (infinities, above 8.988e307) is an
  error, as it is for pyreadstat;
- a **text** column is ``str#`` with ``#`` its longest value in UTF-8 bytes (at least 1), or ``strL`` where
  that is more than 2,045 bytes (``str2045`` is Stata's widest fixed-width string). ``None`` is the empty
  string, which is Stata's missing text. In a strL column every non-empty value is its own GSO, referenced as
  (variable, observation), and an empty value is (0,0), as the format description advises; equal values are
  not cross-linked (finding them would need memory that grows with the rows);
- the display format is the column's (``%td``, ``%tc``), or pyreadstat's defaults: ``%10.0g`` for a double
  (which is also Stata's own default for doubles) and ``%-9s`` for text;
- a column with ``value_labels`` gets a value-label set named as pyreadstat names it: the column's name
  followed by a running number counting the labelled columns before it (``arm0``, ``sex1``, ...), so a file
  reads back exactly like pyreadstat's for the same ``variable_value_labels``. Labels are sorted by code, as
  the format requires.

How it streams. The number of observations and each text column's width are only known once every row has
been seen, and both come before the data in the file. So the rows are read once, a chunk at a time (4,096
rows, fewer where rows are long), converted (numbers to a float64 block with missing values already in
Stata's coding, text to UTF-8 bytes) and pickled into an anonymous temporary file while the widths are
measured; then the header, map and descriptors are written, and the data section is written from the
temporary file chunk by chunk, each chunk laid out at once through one numpy structured dtype that is the
row layout (doubles, fixed-width byte strings padded with NULs, 8-byte strL references). The strL section,
when there is one, is a second pass over the temporary file. The map's offsets are filled in at the end. At
any time the writer holds one chunk: the rows of one chunk (strL values included; a chunk is cut short when
its rows are long) and their converted copy, whatever the number of rows. The temporary file on disk is about
the size of the data.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Final, Literal

import numpy as np

Release = Literal[118, 119]

DEFAULT_RELEASE: Final[Release] = 119  # what pyreadstat.write_dta writes by default (version=15)
STRF_MAX_BYTES: Final = 2045  # the widest str#; a longer value makes its column a strL
TYPE_DOUBLE: Final = 65526
TYPE_STRL: Final = 32768
NAME_CHARACTERS: Final = 32  # variable and value-label-set names
LABEL_CHARACTERS: Final = 80  # the file label and variable labels
NAME_BYTES: Final = 129  # 32 characters of up to 4 UTF-8 bytes, and a NUL
FORMAT_BYTES: Final = 57
LABEL_BYTES: Final = 321
VALUE_LABEL_TEXT_BYTES: Final = 32000  # Stata ignores a longer value label
DOUBLE_FORMAT: Final = "%10.0g"
TEXT_FORMAT: Final = "%-9s"
SYSTEM_MISSING: Final = float.fromhex("0x1.0p+1023")  # Stata's "." for a double: 0x7FE0000000000000
DOUBLE_MAX: Final = float.fromhex("0x1.fffffffffffffp+1022")  # the largest non-missing double, 8.988e307
DOUBLE_MIN: Final = -float.fromhex("0x1.fffffffffffffp+1023")  # the smallest, -1.798e308
VALUE_LABEL_MIN: Final = -2_147_483_647  # value labels map Stata longs (its non-missing range)
VALUE_LABEL_MAX: Final = 2_147_483_620
GSO_TEXT: Final = 130  # a GSO holding NUL-terminated text

CHUNK_ROWS: Final = 4096  # rows per spooled chunk at most
CHUNK_BYTES: Final = 8 * 1024 * 1024  # ... and about this many bytes of data at most, for long rows
MIN_CHUNK_ROWS: Final = 16

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_U2: Final = struct.Struct("<H")
_U4: Final = struct.Struct("<I")
_U8: Final = struct.Struct("<Q")
_MAP: Final = struct.Struct("<14Q")
_GSO_HEAD: Final = struct.Struct("<3sIQBI")  # "GSO", v, o, type, length (with the NUL)

Row = Sequence[float | str | None]


@dataclass(frozen=True)
class DtaColumn:
    """One variable of the file.

    ``name`` is a valid Stata name of 32 characters at most, unique in the file (the caller checks the
    grammar; the length and uniqueness are checked here); ``label`` is 80 characters at most (UTF-8).
    ``numeric`` columns are doubles, the others text. ``format`` is ``""`` for the default (``%10.0g`` for a
    number, ``%-9s`` for text, as pyreadstat writes them) or a Stata display format such as ``%td`` (days
    since 1 January 1960) or ``%tc`` (milliseconds since then). ``value_labels`` maps integer codes of a
    numeric column to their labels; they become a value-label set attached to the column.
    """

    name: str
    label: str
    numeric: bool
    format: str = ""
    value_labels: Mapping[int, str] | None = None


@dataclass
class _Layout:
    """What the first pass learns and the writing needs: per column, its width, and the chunks spooled."""

    columns: Sequence[DtaColumn]
    numeric: list[int]  # indexes of the numeric columns, in order
    text: list[int]  # indexes of the text columns, in order
    widths: dict[int, int]  # text column index -> longest value in UTF-8 bytes (at least 1)
    rows: int = 0
    chunks: int = 0
    strl: list[int] = field(default_factory=list)  # text columns that are strLs, in order

    def type_code(self, index: int) -> int:
        """The column's Stata type: 65526 (double), 32768 (strL) or its width (str#)."""
        if index in self.widths:
            width = self.widths[index]
            return TYPE_STRL if width > STRF_MAX_BYTES else width
        return TYPE_DOUBLE

    def row_dtype(self) -> np.dtype:
        """One observation as a numpy structured dtype: the row layout, compiled once, packed without gaps."""
        names: list[str] = []
        formats: list[str] = []
        offsets: list[int] = []
        offset = 0
        for index in range(len(self.columns)):
            code = self.type_code(index)
            size, form = {TYPE_DOUBLE: (8, "<f8"), TYPE_STRL: (8, "<u8")}.get(code, (code, f"S{code}"))
            names.append(f"c{index}")
            formats.append(form)
            offsets.append(offset)
            offset += size
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})


# --- Checks and small encodings -------------------------------------------------------------------------------


def _fixed(text: str, size: int, what: str) -> bytes:
    """``text`` in UTF-8, NUL-padded to ``size`` bytes (one NUL at least); ValueError if it does not fit."""
    encoded = text.encode("utf-8")
    if len(encoded) >= size:
        raise ValueError(f"{what} is {len(encoded)} bytes in UTF-8; at most {size - 1} fit: {text!r}")
    return encoded.ljust(size, b"\0")


def _check_columns(columns: Sequence[DtaColumn]) -> None:
    """The limits of the format that the caller's names, labels and formats must keep (ValueError)."""
    if not columns:
        raise ValueError("a .dta file needs at least one column")
    seen: set[str] = set()
    for column in columns:
        if not column.name or len(column.name) > NAME_CHARACTERS:
            raise ValueError(f"a Stata name has 1 to {NAME_CHARACTERS} characters: {column.name!r}")
        if column.name in seen:
            raise ValueError(f"two columns are named {column.name!r}")
        seen.add(column.name)
        if len(column.label) > LABEL_CHARACTERS:
            raise ValueError(f"the label of {column.name} is longer than {LABEL_CHARACTERS} characters")
        if column.format and not column.format.startswith("%"):
            raise ValueError(f"the format of {column.name} is not a Stata display format: {column.format!r}")
        if column.value_labels and not column.numeric:
            raise ValueError(f"{column.name} is text; Stata value labels label numbers only")


def _timestamp(now: datetime) -> bytes:
    """Stata's ``dd Mon yyyy hh:mm`` (English month names whatever the locale), with its length byte."""
    text = f"{now.day:02d} {_MONTHS[now.month - 1]} {now.year:04d} {now.hour:02d}:{now.minute:02d}"
    return bytes([len(text)]) + text.encode("ascii")


def label_set_names(columns: Sequence[DtaColumn]) -> dict[int, str]:
    """The value-label set of each labelled column (by index), named as pyreadstat names them.

    pyreadstat's ``write_dta`` names the set of a column with labels ``<column name><n>``, ``n`` counting the
    labelled columns before it (from 0); a column with no or empty labels has none and is not counted.
    """
    names: dict[int, str] = {}
    for index, column in enumerate(columns):
        if column.value_labels:
            name = f"{column.name}{len(names)}"
            if len(name) > NAME_CHARACTERS:
                raise ValueError(
                    f"the value-label set of {column.name} would be named {name!r}, longer than "
                    f"{NAME_CHARACTERS} characters: shorten the column's name"
                )
            names[index] = name
    return names


def _value_label_table(name: str, labels: Mapping[int, str]) -> bytes:
    """One ``<lbl>…</lbl>`` definition: the set's name, then its codes in ascending order and their texts."""
    entries: list[tuple[int, bytes]] = []
    for code, text in labels.items():
        value = int(code)
        if value != code or not VALUE_LABEL_MIN <= value <= VALUE_LABEL_MAX:
            raise ValueError(f"value label {code!r} of set {name}: codes are integers a Stata long can hold")
        encoded = str(text).encode("utf-8")
        if len(encoded) > VALUE_LABEL_TEXT_BYTES:
            raise ValueError(f"value label {code} of set {name} is longer than {VALUE_LABEL_TEXT_BYTES} bytes")
        entries.append((value, encoded))
    entries.sort()
    offsets, texts, position = [], [], 0
    for _value, encoded in entries:
        offsets.append(position)
        texts.append(encoded + b"\0")
        position += len(encoded) + 1
    count = len(entries)
    table = struct.pack(f"<ii{count}i{count}i", count, position, *offsets, *(v for v, _ in entries))
    table += b"".join(texts)
    return (
        b"<lbl>"
        + struct.pack("<i", len(table))
        + _fixed(name, NAME_BYTES, "a value-label set name")
        + (b"\0\0\0" + table + b"</lbl>")
    )


# --- The first pass: rows to the spool ------------------------------------------------------------------------


def _numbers(columns: list[tuple[float | str | None, ...]], names: list[str]) -> np.ndarray:
    """The numeric columns of one chunk as a (columns × rows) float64 block in Stata's coding.

    NaN and None become Stata's system missing; anything a Stata double cannot hold is a ValueError.
    """
    try:
        block = np.array(columns, dtype=np.float64)
    except (TypeError, ValueError) as error:
        for name, values in zip(names, columns, strict=True):
            try:
                np.array(values, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"numeric column {name} has a value that is not a number: {error}") from error
        raise
    missing = np.isnan(block)
    outside = ~missing & ((block > DOUBLE_MAX) | (block < DOUBLE_MIN))
    if outside.any():
        column, row = (int(where[0]) for where in np.nonzero(outside))
        raise ValueError(f"numeric column {names[column]}: {block[column, row]!r} is outside what Stata can store")
    block[missing] = SYSTEM_MISSING
    return block


def _texts(values: tuple[float | str | None, ...], name: str) -> tuple[np.ndarray | list[bytes], int]:
    """One text column of one chunk in UTF-8, and its longest value in bytes.

    Values that fit a ``str#`` come back as a numpy fixed-width byte array (compact, and laid into the data
    section as it is); a chunk holding a longer value keeps the list of byte strings instead.
    """
    try:
        encoded = [b"" if value is None else value.encode("utf-8") for value in values]
    except AttributeError as error:
        raise ValueError(f"text column {name} has a value that is not text: {error}") from error
    longest = max(map(len, encoded))
    if longest > STRF_MAX_BYTES:
        return encoded, longest
    return np.array(encoded, dtype=f"S{max(longest, 1)}"), longest


def _spool(rows: Iterable[Row], layout: _Layout, spool: IO[bytes]) -> None:
    """Reads every row once, converts and pickles it chunk by chunk into ``spool``, measuring text widths."""
    width = len(layout.columns)
    names = [column.name for column in layout.columns]
    numeric_names = [names[i] for i in layout.numeric]
    source: Iterator[Row] = iter(rows)
    chunk_rows = CHUNK_ROWS
    while chunk := list(islice(source, chunk_rows)):
        try:
            columns = list(zip(*chunk, strict=True))
        except ValueError as error:
            raise ValueError(f"rows {layout.rows + 1} to {layout.rows + len(chunk)}: rows of unequal length") from error
        if len(columns) != width:
            raise ValueError(f"rows {layout.rows + 1} on have {len(columns)} values for {width} columns")
        numbers = _numbers([columns[i] for i in layout.numeric], numeric_names) if layout.numeric else None
        texts = []
        row_bytes = 8 * len(layout.numeric)
        for index in layout.text:
            values, longest = _texts(columns[index], names[index])
            texts.append(values)
            layout.widths[index] = max(layout.widths[index], longest)
            row_bytes += longest
        del columns
        pickle.dump((len(chunk), numbers, texts), spool, protocol=pickle.HIGHEST_PROTOCOL)
        layout.rows += len(chunk)
        layout.chunks += 1
        chunk_rows = max(MIN_CHUNK_ROWS, min(CHUNK_ROWS, CHUNK_BYTES // max(row_bytes, 1)))


def _chunks(spool: IO[bytes], count: int) -> Iterator[tuple[int, np.ndarray | None, list[np.ndarray | list[bytes]]]]:
    """The spooled chunks again, from the start, one at a time."""
    spool.seek(0)
    for _ in range(count):
        yield pickle.load(spool)  # noqa: S301 (our own temporary file, written by _spool in this call)


# --- Writing --------------------------------------------------------------------------------------------------


def _descriptors(layout: _Layout, release: Release, label_sets: dict[int, str]) -> list[tuple[str, bytes]]:
    """The sections between the map and the data, each as (tag, contents), in file order."""
    columns = layout.columns
    count = len(columns)
    types = b"".join(_U2.pack(layout.type_code(i)) for i in range(count))
    names = b"".join(_fixed(c.name, NAME_BYTES, f"the name {c.name!r}") for c in columns)
    sortlist = b"\0" * ((count + 1) * (2 if release == 118 else 4))
    formats = b"".join(
        _fixed(c.format or (DOUBLE_FORMAT if c.numeric else TEXT_FORMAT), FORMAT_BYTES, f"the format of {c.name}")
        for c in columns
    )
    label_names = b"".join(_fixed(label_sets.get(i, ""), NAME_BYTES, "a value-label set") for i in range(count))
    labels = b"".join(_fixed(c.label, LABEL_BYTES, f"the label of {c.name}") for c in columns)
    return [
        ("variable_types", types),
        ("varnames", names),
        ("sortlist", sortlist),
        ("formats", formats),
        ("value_label_names", label_names),
        ("variable_labels", labels),
        ("characteristics", b""),
    ]


def _write_data(out: IO[bytes], spool: IO[bytes], layout: _Layout, release: Release) -> None:
    """The ``<data>`` section: each spooled chunk laid out through the row dtype and written in one go."""
    dtype = layout.row_dtype()
    shift = np.uint64(16 if release == 118 else 24)  # (v,o): v in the low 2 (118) or 3 (119) bytes
    numeric_fields = [f"c{i}" for i in layout.numeric]
    text_fields = [(f"c{i}", i in layout.strl, np.uint64(i + 1)) for i in layout.text]
    first = 1  # the observation number of the chunk's first row
    for rows, numbers, texts in _chunks(spool, layout.chunks):
        block = np.zeros(rows, dtype=dtype)
        for position, name in enumerate(numeric_fields):
            block[name] = numbers[position]
        for (name, strl, variable), values in zip(text_fields, texts, strict=True):
            if not strl:
                block[name] = values
                continue
            present = np.fromiter(map(len, values), dtype=np.int64, count=rows) > 0
            observation = np.arange(first, first + rows, dtype=np.uint64)
            block[name] = np.where(present, (observation << shift) | variable, np.uint64(0))
        out.write(block.data)
        first += rows


def _write_strls(out: IO[bytes], spool: IO[bytes], layout: _Layout) -> None:
    """The ``<strls>`` section: one GSO per non-empty strL value, in data order (observation, then variable)."""
    positions = [layout.text.index(i) for i in layout.strl]
    first = 1  # the observation number of the chunk's first row
    for rows, _numbers, texts in _chunks(spool, layout.chunks):
        columns: list[list[bytes]] = []
        cells: list[tuple[int, int]] = []  # (row in chunk, strL column) of each non-empty value
        for strl, position in enumerate(positions):
            values = texts[position]
            columns.append(values.tolist() if isinstance(values, np.ndarray) else values)
            lengths = np.fromiter(map(len, columns[-1]), dtype=np.int64, count=rows)
            cells += ((int(row), strl) for row in np.flatnonzero(lengths))
        if len(positions) > 1:
            cells.sort()
        parts: list[bytes] = []
        for row, strl in cells:
            value = columns[strl][row]
            head = _GSO_HEAD.pack(b"GSO", layout.strl[strl] + 1, first + row, GSO_TEXT, len(value) + 1)
            parts += (head, value, b"\0")
        out.write(b"".join(parts))
        first += rows


def write_dta(
    path: Path,
    *,
    file_label: str,
    columns: Sequence[DtaColumn],
    rows: Iterable[Sequence[float | str | None]],
    release: Release = DEFAULT_RELEASE,
) -> int:
    """Writes ``rows`` to a Stata dataset at ``path`` and returns the number of rows written.

    Each row has one value per column, in ``columns``' order: a float for a numeric column (``math.nan`` or
    ``None`` for missing), a ``str`` or ``None`` (empty) for a text column. The rows are read once, in chunks,
    and spooled to a temporary file, so memory holds one chunk whatever the number of rows (see the module's
    description). ``file_label`` is 80 characters at most. A value or a description the format cannot hold
    is a ValueError, raised before ``path`` is created where the rows are at fault (while they are read).
    """
    path = Path(path)
    _check_columns(columns)
    if len(file_label) > LABEL_CHARACTERS:
        raise ValueError(f"the file label is longer than {LABEL_CHARACTERS} characters")
    if release not in (118, 119):
        raise ValueError(f"release {release}: this writer writes 118 or 119")
    label_sets = label_set_names(columns)
    value_labels = b"".join(_value_label_table(label_sets[i], columns[i].value_labels or {}) for i in label_sets)
    layout = _Layout(
        columns=columns,
        numeric=[i for i, c in enumerate(columns) if c.numeric],
        text=[i for i, c in enumerate(columns) if not c.numeric],
        widths={i: 1 for i, c in enumerate(columns) if not c.numeric},
    )
    with tempfile.TemporaryFile(prefix="dta-spool-") as spool:
        _spool(rows, layout, spool)
        layout.strl = [i for i in layout.text if layout.widths[i] > STRF_MAX_BYTES]
        descriptors = _descriptors(layout, release, label_sets)
        label = file_label.encode("utf-8")
        try:
            with open(path, "wb") as out:
                offsets = [0]
                out.write(b"<stata_dta><header>")
                out.write(b"<release>%d</release><byteorder>LSF</byteorder>" % release)
                out.write(b"<K>" + (_U2 if release == 118 else _U4).pack(len(columns)) + b"</K>")
                out.write(b"<N>" + _U8.pack(layout.rows) + b"</N>")
                out.write(b"<label>" + _U2.pack(len(label)) + label + b"</label>")
                out.write(b"<timestamp>" + _timestamp(datetime.now()) + b"</timestamp></header>")
                offsets.append(out.tell())
                out.write(b"<map>" + _MAP.pack(*([0] * 14)) + b"</map>")
                for tag, contents in descriptors:
                    offsets.append(out.tell())
                    out.write(b"<%s>%s</%s>" % (tag.encode(), contents, tag.encode()))
                offsets.append(out.tell())
                out.write(b"<data>")
                _write_data(out, spool, layout, release)
                out.write(b"</data>")
                offsets.append(out.tell())
                out.write(b"<strls>")
                if layout.strl:
                    _write_strls(out, spool, layout)
                out.write(b"</strls>")
                offsets.append(out.tell())
                out.write(b"<value_labels>" + value_labels + b"</value_labels>")
                offsets.append(out.tell())
                out.write(b"</stata_dta>")
                offsets.append(out.tell())
                out.seek(offsets[1] + len(b"<map>"))
                out.write(_MAP.pack(*offsets))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return layout.rows


__all__ = ["DEFAULT_RELEASE", "DtaColumn", "label_set_names", "write_dta"]
