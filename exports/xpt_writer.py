"""A streaming writer of SAS transport files, version 5 (SAS TS-140), whose memory does not grow with the rows.

``pyreadstat.write_xport`` needs the whole table as one DataFrame. :func:`write_xpt` reads the rows from any
iterable instead, a chunk of :data:`CHUNK_ROWS` rows at a time, and holds no more than one chunk:

1. **Spooling.** Each chunk's numbers are converted to IBM 370 doubles (vectorised with numpy) and its texts
   encoded to UTF-8, and the result is appended to an anonymous temporary file (``tempfile.TemporaryFile``,
   next to the output) while the largest byte length of every text column is measured. Every error in the data
   (a text over 200 bytes, a number SAS cannot hold, a row of the wrong length) is found here, before the
   output file is opened.
2. **Writing.** With the text widths known, the headers are written, then the spooled chunks are read back one
   at a time and laid out as fixed-width observations, and the last 80-byte record is padded with blanks.

The file layout (every record 80 bytes, every number big-endian):

- the library header record, the first real header record (``SAS``, ``SASLIB``, version ``6.06``, OS
  ``bsd4.2``, the creation time) and the second (the modification time);
- the member header record (``...000000000000000001600000000140``: 140-byte namestrs) and the ``DSCRPTR``
  header record;
- the member descriptor records: ``SAS``, the dataset name, ``SASDATA``, version, OS and creation time; then the
  modification time, the dataset label (40 characters) and an empty dataset type;
- the ``NAMESTR`` header record with the number of variables, one 140-byte namestr per variable (type, length,
  number from 1, name, label, format name / width / decimals, position in the observation), padded with blanks
  to a multiple of 80 bytes;
- the ``OBS`` header record, then the observations back to back (numbers 8 bytes, texts blank-padded to their
  column's width), the last record padded with blanks to 80 bytes.

This is what ``pyreadstat.write_xport(..., file_format_version=5)`` writes for the same table (byte for byte
but for the timestamps): a numeric variable's format justification ``nfj`` is 1, a text variable's 0, the
informat fields are empty. Two properties of the format itself are kept as SAS has them: a missing text and an
empty text are both blanks, and trailing blanks of a text are not kept; and since the last record's padding is
blanks, readers drop trailing observations that are blank from end to end (possible only when every column is
text and every value missing), as they do for pyreadstat's files.
"""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np

CHUNK_ROWS = 4096  # rows converted, spooled and written at a time: the memory of one write
XPT_NAME_LENGTH = 8  # dataset and variable names
XPT_LABEL_LENGTH = 40  # dataset and variable labels
XPT_TEXT_BYTES = 200  # the longest text value of SAS transport version 5
XPT_MAX_VARIABLES = 9999  # the namestr header's count has four digits in TS-140
RECORD_LENGTH = 80
NAMESTR_LENGTH = 140
BLANK = 0x20

SAS_MISSING = 0x2E00_0000_0000_0000  # '.' followed by seven zero bytes
_SIGN = np.uint64(0x8000_0000_0000_0000)
_IEEE_FRACTION = np.uint64((1 << 52) - 1)
_IEEE_HIDDEN_BIT = np.uint64(1 << 52)
# A finite IEEE double lies in [2**e, 2**(e + 1)); IBM holds it exactly (56 fraction bits, base-16 exponent -64
# to 63) when 16**-65 <= |x| < 16**63, that is -260 <= e <= 251. Zero is IBM's zero (all bits 0).
_IBM_MIN_EXPONENT = -260
_IBM_MAX_EXPONENT = 251

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# A SAS format: name (with "$" for text formats), width, ".", decimals, as "DATE9.", "DATETIME20.", "8.2", "$CHAR5."
_FORMAT = re.compile(r"(?P<name>\$?(?:[A-Za-z_][A-Za-z0-9_]*?)?)(?P<width>\d*)\.(?P<decimals>\d*)")

_HEADER = "HEADER RECORD*******{name:<8}HEADER RECORD!!!!!!!{numbers:<30}  "
# ntype, nhfun, nlng, nvar0, nname, nlabel, nform, nfl, nfd, nfj, nfill, niform, nifl, nifd, npos, rest
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")
_CHUNK_HEADER = struct.Struct("<I")  # spool: rows in the chunk
_TEXT_HEADER = struct.Struct("<H")  # spool: the chunk's width of one text column
assert _NAMESTR.size == NAMESTR_LENGTH


@dataclass(frozen=True)
class XptColumn:
    """One variable of the file.

    ``name``: at most 8 ASCII characters (upper-case and unique: the caller's business; length, ASCII and
    uniqueness are checked). ``label``: at most 40 ASCII characters. ``numeric``: True for an 8-byte IBM
    double, False for text. ``format``: "" or a SAS format such as "DATE9." or "DATETIME20." (name, width, ".",
    optional decimals), written to the namestr's nform / nfl / nfd.
    """

    name: str
    label: str
    numeric: bool
    format: str = ""


@dataclass(frozen=True)
class _Layout:
    """Where the columns go: numeric and text column indexes in the row, in column order."""

    numeric: tuple[int, ...]
    text: tuple[int, ...]


# --- Numbers ---------------------------------------------------------------------------------------------------


def ibm_from_ieee(values: np.ndarray) -> np.ndarray:
    """IEEE doubles as IBM 370 hexadecimal doubles: an array of the same shape of big-endian 64-bit words.

    Exact: IBM has 56 fraction bits, so the 53 bits of a double shifted by 0 to 3 (to a base-16 exponent) always
    fit. 0 (and -0) become IBM zero, NaN the SAS missing value ``.``; a number IBM cannot hold (infinite, or of
    magnitude 16**63 and above or under 16**-65, about 7.2e75 and 5.4e-79) raises ValueError.
    """
    doubles = np.ascontiguousarray(values, dtype=np.float64)
    bits = doubles.view(np.uint64)
    exponent = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023  # x in [2**e, 2**(e + 1))
    zero = (bits & ~_SIGN) == 0
    nan = np.isnan(doubles)
    out_of_range = ~zero & ~nan & ((exponent < _IBM_MIN_EXPONENT) | (exponent > _IBM_MAX_EXPONENT))
    if out_of_range.any():
        bad = float(doubles[out_of_range].flat[0])
        raise ValueError(f"{bad!r} is out of the range of SAS transport numbers (IBM doubles)")
    # x = 1.f * 2**e = 0.F * 16**k with e + 1 = 4k - s, s in 0..3: k = ceil((e + 1) / 4), F = (1.f << 52) << (3 - s)
    hex_exponent = (exponent + 4) >> 2
    shift = (exponent + 4 - 4 * hex_exponent).astype(np.uint64)
    fraction = ((bits & _IEEE_FRACTION) | _IEEE_HIDDEN_BIT) << shift
    ibm = (bits & _SIGN) | ((hex_exponent + 64).astype(np.uint64) << np.uint64(56)) | fraction
    ibm[zero] = 0
    ibm[nan] = SAS_MISSING
    return ibm.astype(">u8")


# --- Header records --------------------------------------------------------------------------------------------


def _header(name: str, numbers: str = "0" * 30) -> bytes:
    return _HEADER.format(name=name, numbers=numbers).encode("ascii")


def _padded(text: str, length: int) -> bytes:
    return text.encode("ascii").ljust(length, b" ")


def sas_timestamp(moment: datetime) -> str:
    """A header's time, as "08DEC26:01:41:28" (ddMMMyy:hh:mm:ss, month in English whatever the locale)."""
    month = _MONTHS[moment.month - 1]
    return f"{moment.day:02d}{month}{moment.year % 100:02d}:{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def parse_format(sas_format: str) -> tuple[str, int, int]:
    """A SAS format as the namestr's (nform, nfl, nfd): "DATETIME20." → ("DATETIME", 20, 0), "8.2" → ("", 8, 2)."""
    if not sas_format:
        return "", 0, 0
    match = _FORMAT.fullmatch(sas_format)
    if not match or len(match["name"]) > XPT_NAME_LENGTH:
        raise ValueError(f"{sas_format!r} is not a SAS format of transport version 5 (as DATE9. or DATETIME20.)")
    return match["name"], int(match["width"] or 0), int(match["decimals"] or 0)


def _namestr(number: int, column: XptColumn, width: int, position: int) -> bytes:
    form, form_width, decimals = parse_format(column.format)
    return _NAMESTR.pack(
        1 if column.numeric else 2,  # ntype
        0,  # nhfun
        width,  # nlng
        number,  # nvar0: from 1
        _padded(column.name, XPT_NAME_LENGTH),
        _padded(column.label, XPT_LABEL_LENGTH),
        _padded(form, XPT_NAME_LENGTH),
        form_width,
        decimals,
        1 if column.numeric else 0,  # nfj: as pyreadstat
        b"\0\0",  # nfill
        b" " * 8,  # niform: no informat
        0,  # nifl
        0,  # nifd
        position,  # npos
        b"\0" * 52,
    )


def _headers(table_name: str, table_label: str, columns: Sequence[XptColumn], widths: list[int], created: str) -> bytes:
    """Every record before the observations: library, member, descriptor, namestrs and the OBS header."""
    sas = "SAS     "
    library = sas + sas + "SASLIB  6.06    bsd4.2  " + " " * 24 + created
    member = sas + f"{table_name:<8}" + "SASDATA 6.06    bsd4.2  " + " " * 24 + created
    member_label = created + " " * 16 + f"{table_label:<40}" + " " * 8
    parts = [
        _header("LIBRARY"),
        library.encode("ascii"),
        _padded(created, RECORD_LENGTH),
        _header("MEMBER", "000000000000000001600000000140"),  # 160: descriptor; 140: namestr length
        _header("DSCRPTR"),
        member.encode("ascii"),
        member_label.encode("ascii"),
        _header("NAMESTR", f"00000{len(columns):05d}" + "0" * 20),
    ]
    namestrs = bytearray()
    position = 0
    for number, (column, width) in enumerate(zip(columns, widths, strict=True), start=1):
        namestrs += _namestr(number, column, width, position)
        position += width
    namestrs += b" " * (-len(namestrs) % RECORD_LENGTH)
    parts += [bytes(namestrs), _header("OBS")]
    return b"".join(parts)


# --- Checks ----------------------------------------------------------------------------------------------------


def _check_text(what: str, text: str, limit: int, *, empty: bool = True) -> None:
    if not text.isascii() or len(text) > limit or (not empty and not text):
        raise ValueError(f"{what} {text!r} must be {'' if empty else '1 to '}{limit} ASCII characters")


def _check(table_name: str, table_label: str, columns: Sequence[XptColumn]) -> None:
    _check_text("The table name", table_name, XPT_NAME_LENGTH, empty=False)
    _check_text("The table label", table_label, XPT_LABEL_LENGTH)
    if not 1 <= len(columns) <= XPT_MAX_VARIABLES:
        raise ValueError(f"A SAS transport file has 1 to {XPT_MAX_VARIABLES} columns, not {len(columns)}")
    for column in columns:
        _check_text("The column name", column.name, XPT_NAME_LENGTH, empty=False)
        _check_text("The label", column.label, XPT_LABEL_LENGTH)
        parse_format(column.format)
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"The column names must be unique: {names}")


# --- Spooling --------------------------------------------------------------------------------------------------


def _chunks(rows: Iterable[Sequence[float | str | None]], size: int) -> Iterator[list[Sequence[float | str | None]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _numbers(
    columns: Sequence[XptColumn], cells: list[tuple[float | str | None, ...]], rows: int, layout: _Layout
) -> bytes:
    """The chunk's numeric cells, row by row, as IBM doubles (None and NaN: missing)."""
    matrix = np.empty((rows, len(layout.numeric)), dtype=np.float64)
    for place, index in enumerate(layout.numeric):
        try:
            matrix[:, place] = np.array(cells[index], dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Column {columns[index].name}: a value is not a number ({error})") from None
    try:
        return ibm_from_ieee(matrix).tobytes()
    except ValueError as error:
        raise ValueError(f"{error}, in the columns {[columns[i].name for i in layout.numeric]}") from None


def _spool_text(spool: BinaryIO, column: XptColumn, values: tuple[float | str | None, ...]) -> int:
    """One text column of a chunk to the spool: its chunk width, byte lengths and fixed-width bytes.

    Returns the longest value's length in bytes.
    """
    try:
        encoded = [b"" if value is None else value.encode() for value in values]  # type: ignore[union-attr]
    except AttributeError:
        raise ValueError(f"Column {column.name}: a value is neither text nor None") from None
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    longest = int(lengths.max())
    if longest > XPT_TEXT_BYTES:
        raise ValueError(f"Column {column.name}: a text of {longest} bytes (SAS transport allows {XPT_TEXT_BYTES})")
    width = max(longest, 1)
    spool.write(_TEXT_HEADER.pack(width))
    spool.write(lengths.astype(np.uint8).tobytes())
    spool.write(np.array(encoded, dtype=f"S{width}").tobytes())  # NUL-padded here, blank-padded when written
    return longest


def _spool(
    spool: BinaryIO, columns: Sequence[XptColumn], rows: Iterable[Sequence[float | str | None]], layout: _Layout
) -> tuple[int, list[int]]:
    """Every row to the spool, a chunk at a time; returns the number of rows and each text column's width."""
    count = 0
    longest = dict.fromkeys(layout.text, 1)
    for chunk in _chunks(rows, CHUNK_ROWS):
        if set(map(len, chunk)) != {len(columns)}:
            row = next(i for i, values in enumerate(chunk) if len(values) != len(columns))
            raise ValueError(f"Row {count + row + 1} has {len(chunk[row])} values for {len(columns)} columns")
        cells = list(zip(*chunk, strict=True))
        spool.write(_CHUNK_HEADER.pack(len(chunk)))
        spool.write(_numbers(columns, cells, len(chunk), layout))
        for index in layout.text:
            longest[index] = max(longest[index], _spool_text(spool, columns[index], cells[index]))
        count += len(chunk)
    widths = [8 if column.numeric else longest[index] for index, column in enumerate(columns)]
    return count, widths


# --- Writing the observations ----------------------------------------------------------------------------------


def _read(spool: BinaryIO, size: int) -> bytes:
    data = spool.read(size)
    if len(data) != size:
        raise OSError("The spooled rows of the SAS transport file ended early")
    return data


def _observations(spool: BinaryIO, layout: _Layout, widths: list[int]) -> Iterator[np.ndarray]:
    """The spooled chunks, read back one at a time, as fixed-width observations: an (n, row length) byte array."""
    positions = np.cumsum([0, *widths[:-1]]).tolist()
    row_length = sum(widths)
    numeric_bytes = 8 * len(layout.numeric)
    while header := spool.read(_CHUNK_HEADER.size):
        (rows,) = _CHUNK_HEADER.unpack(header)
        observations = np.full((rows, row_length), BLANK, dtype=np.uint8)
        numbers = np.frombuffer(_read(spool, rows * numeric_bytes), dtype=np.uint8).reshape(rows, numeric_bytes)
        for place, index in enumerate(layout.numeric):
            observations[:, positions[index] : positions[index] + 8] = numbers[:, 8 * place : 8 * place + 8]
        for index in layout.text:
            (width,) = _TEXT_HEADER.unpack(_read(spool, _TEXT_HEADER.size))
            lengths = np.frombuffer(_read(spool, rows), dtype=np.uint8)
            text = np.frombuffer(_read(spool, rows * width), dtype=np.uint8).reshape(rows, width)
            padding = np.arange(width) >= lengths[:, None]
            observations[:, positions[index] : positions[index] + width] = np.where(padding, BLANK, text)
        yield observations


def write_xpt(
    path: Path,
    *,
    table_name: str,
    table_label: str,
    columns: Sequence[XptColumn],
    rows: Iterable[Sequence[float | str | None]],
    created: datetime | None = None,
) -> int:
    """Write one table as a SAS transport (XPT version 5) file at ``path``; returns the number of rows written.

    ``rows`` is read once, a chunk at a time, each row a sequence with one value per column: for a numeric
    column a float (``math.nan`` or None: missing, written as SAS ``.``); for a text column a str of at most 200
    UTF-8 bytes (cut by the caller) or None (missing: blanks). A text column is as wide as its longest value in
    bytes (at least 1). ``created`` is the time in the headers (default: now, local time). Raises ValueError for
    names, labels or formats that version 5 cannot hold, rows of the wrong length, texts over 200 bytes and
    numbers out of the IBM range; the output file is opened only once every row has been read and checked.
    """
    path = Path(path)
    _check(table_name, table_label, columns)
    layout = _Layout(
        numeric=tuple(i for i, column in enumerate(columns) if column.numeric),
        text=tuple(i for i, column in enumerate(columns) if not column.numeric),
    )
    timestamp = sas_timestamp(created or datetime.now())  # SAS headers carry a local time
    with tempfile.TemporaryFile(dir=path.parent) as spool:
        count, widths = _spool(spool, columns, rows, layout)
        spool.seek(0)
        with path.open("wb") as out:
            out.write(_headers(table_name, table_label, columns, widths, timestamp))
            written = 0
            for observations in _observations(spool, layout, widths):
                out.write(observations.data)
                written += observations.nbytes
            out.write(b" " * (-written % RECORD_LENGTH))
    return count
