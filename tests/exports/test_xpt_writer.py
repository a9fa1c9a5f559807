"""The streaming SAS transport writer (``exports.xpt_writer``) writes files two independent readers read back.

What a user of the files would notice, checked with ``pyreadstat.read_xport`` and ``pandas.read_sas``: every
value comes back equal (numbers exactly, dates and datetimes as SAS dates, texts in UTF-8), with the names,
labels, formats, table name and label that ``pyreadstat.write_xport`` gives for the same data; no observation is
lost or invented whatever the row length; numbers convert exactly to IBM doubles; the memory of a write does not
grow with the rows. No database: these are unit tests of one module.

pandas reads the IBM zero (eight zero bytes, as SAS and pyreadstat write it) as 16**-65 = 5.397605e-79
(pandas-dev/pandas#50670, open); the comparisons with pandas read that one value back as the zero it is.
"""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exports import xpt_writer
from exports.xpt_writer import XptColumn, ibm_from_ieee, write_xpt

Row = Sequence[float | str | None]
PANDAS_ZERO = 2.0**-260  # what pandas makes of the IBM zero (pandas-dev/pandas#50670)
IBM_SMALLEST = 2.0**-260  # 16**-65, the smallest positive normalised IBM double
IBM_LARGEST = math.ldexp(1 - 2**-53, 252)  # the largest double under 16**63
EPOCH = date(1960, 1, 1)
EPOCH_DATETIME = datetime(1960, 1, 1)
BANGLA = "রোগীর ত্বক শক্ত, আঙুলে ঘা"  # UTF-8: 3 bytes a character
TEXT_200 = "অ" * 66 + "ab"  # 66 × 3 + 2 = 200 bytes, the most a value may have


def read_pyreadstat(path: Path, **options: Any) -> tuple[pd.DataFrame, Any]:
    return pyreadstat.read_xport(str(path), **options)


def read_pandas(path: Path) -> pd.DataFrame:
    """The file as pandas reads it, its misread zeros (pandas-dev/pandas#50670) read back as zeros."""
    frame = pd.read_sas(path, format="xport", encoding="utf-8")
    return frame.mask(frame.map(lambda value: isinstance(value, float) and value == PANDAS_ZERO), 0.0)


def same(left: Any, right: Any) -> bool:
    """Equal values, NaN equal to NaN and a missing text (None) equal to an empty one."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    return (left if left is not None else "") == (right if right is not None else "")


def column_values(frame: pd.DataFrame, name: str) -> list[Any]:
    """A column of dates or datetimes as pyreadstat gives it, its missing values (NaN, NaT) as None."""
    return [None if pd.isna(value) else value for value in frame[name].tolist()]


# --- A table of every kind of value -------------------------------------------------------------------------

NUMBERS = [0.0, 1.0, -1.0, 42.0, 3.141592653589793, -2.5, 0.1, 1e-70, -1e70, 123456789012.345, math.nan, 1e-300 * 0]
DAYS = [0.0, -1.0, 23_742.0, math.nan, 366.0, 24_000.0, -3653.0, 1.0, 10.0, math.nan, 20_000.0, 5.0]
SECONDS = [0.0, 2_051_222_400.5, -86_400.0, math.nan, 1.0, 60.0, 1_000_000_000.0, 7.25, math.nan, 3.0, 9.0, -1.0]
TEXTS = ["plain ASCII", BANGLA, "", None, TEXT_200, "x", "  leading blanks", "a;b,c\"d'", None, "৳ ১২৩", "z", "ok"]
COLUMNS = [
    XptColumn("NUM", "A number", True),
    XptColumn("VISDT", "Visit date", True, "DATE9."),
    XptColumn("COLLDTM", "Sample collected at", True, "DATETIME20."),
    XptColumn("NOTE", "Free text note", False),
    XptColumn("DOSE", "Dose (mg), 2 decimals", True, "8.2"),
]
DOSES = [7.5, math.nan, 15.0, 0.25, -0.5, 10.0, 12.5, 2.0, 5.0, 0.0, 1.25, 100.0]
ROWS = list(zip(NUMBERS, DAYS, SECONDS, TEXTS, DOSES, strict=True))


def reference_frame() -> pd.DataFrame:
    """The same table as statfiles gives pyreadstat: floats (NaN missing) and object text (None missing)."""
    return pd.DataFrame(
        {
            column.name: pd.Series(values, dtype="float64" if column.numeric else object)
            for column, values in zip(COLUMNS, zip(*ROWS, strict=True), strict=True)
        }
    )


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path]:
    """The table written by write_xpt and by pyreadstat.write_xport."""
    ours, theirs = tmp_path / "ours.xpt", tmp_path / "theirs.xpt"
    count = write_xpt(ours, table_name="VISITS", table_label="Visits of the trial", columns=COLUMNS, rows=iter(ROWS))
    assert count == len(ROWS)
    pyreadstat.write_xport(
        reference_frame(),
        str(theirs),
        file_label="Visits of the trial",
        column_labels=[column.label for column in COLUMNS],
        table_name="VISITS",
        file_format_version=5,
        variable_format={column.name: column.format for column in COLUMNS if column.format},
    )
    return ours, theirs


def test_pyreadstat_reads_every_value_back(written: tuple[Path, Path]) -> None:
    ours, _ = written
    frame, _ = read_pyreadstat(ours)
    assert len(frame) == len(ROWS)
    assert all(same(a, b) for a, b in zip(frame["NUM"].tolist(), NUMBERS, strict=True))
    assert all(same(a, b) for a, b in zip(frame["DOSE"].tolist(), DOSES, strict=True))
    expected_dates = [None if math.isnan(d) else EPOCH + timedelta(days=d) for d in DAYS]
    assert column_values(frame, "VISDT") == expected_dates
    expected_datetimes = [None if math.isnan(s) else EPOCH_DATETIME + timedelta(seconds=s) for s in SECONDS]
    assert column_values(frame, "COLLDTM") == expected_datetimes
    # SAS keeps no trailing blanks and no difference between a missing text and an empty one; leading blanks stay.
    assert frame["NOTE"].tolist() == [text or "" for text in TEXTS]


def test_pandas_reads_every_value_back(written: tuple[Path, Path]) -> None:
    ours, _ = written
    frame = read_pandas(ours)
    assert list(frame.columns) == [column.name for column in COLUMNS]
    for column, values in zip(COLUMNS, zip(*ROWS, strict=True), strict=True):
        assert all(same(a, b) for a, b in zip(frame[column.name].tolist(), values, strict=True)), column.name


def test_names_labels_formats_and_table_as_pyreadstat_writes_them(written: tuple[Path, Path]) -> None:
    ours, theirs = written
    frame, meta = read_pyreadstat(ours)
    reference, reference_meta = read_pyreadstat(theirs)
    pd.testing.assert_frame_equal(frame, reference)
    for field in (
        "column_names",
        "column_labels",
        "original_variable_types",  # the formats
        "readstat_variable_types",
        "variable_storage_width",  # text as wide as its longest value in bytes
        "variable_display_width",
        "variable_alignment",
        "table_name",
        "file_label",
        "number_rows",
    ):
        assert getattr(meta, field) == getattr(reference_meta, field), field
    assert meta.column_labels == [column.label for column in COLUMNS]
    assert meta.original_variable_types == {"NUM": None, "VISDT": "DATE9", "COLLDTM": "DATETIME20", "NOTE": None,
                                            "DOSE": "8.2"}  # fmt: skip
    assert meta.variable_storage_width["NOTE"] == 200
    assert (meta.table_name, meta.file_label) == ("VISITS", "Visits of the trial")
    pd.testing.assert_frame_equal(read_pandas(ours), read_pandas(theirs))


def test_the_headers_carry_the_creation_time(tmp_path: Path) -> None:
    path = tmp_path / "t.xpt"
    created = datetime(2031, 2, 3, 4, 5, 6)
    write_xpt(path, table_name="T", table_label="", columns=[XptColumn("A", "", True)], rows=[(1.0,)], created=created)
    _, meta = read_pyreadstat(path)
    assert (meta.creation_time, meta.modification_time) == (created, created)


def test_a_text_column_is_as_wide_as_its_longest_value_in_any_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks of 3 rows the widest value comes in the last chunk: earlier chunks are padded to it."""
    monkeypatch.setattr(xpt_writer, "CHUNK_ROWS", 3)
    texts = ["a", None, "bc", "", "d", "e", "f", BANGLA, "g", "h"]
    path = tmp_path / "t.xpt"
    columns = [XptColumn("N", "", True), XptColumn("T", "", False)]
    assert write_xpt(path, table_name="T", table_label="", columns=columns, rows=enumerate(texts)) == len(texts)
    frame, meta = read_pyreadstat(path)
    assert meta.variable_storage_width["T"] == len(BANGLA.encode())
    assert frame["T"].tolist() == [text or "" for text in texts]
    assert frame["N"].tolist() == list(range(len(texts)))
    # Not pandas: for rows under 80 bytes it takes every 8 aligned blanks of the last record for padding, and
    # here the padded texts have some (a pyreadstat file of the same table loses the same rows).


# --- Shapes: no rows, one column, row lengths -----------------------------------------------------------------


def test_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.xpt"
    columns = [XptColumn("A", "A number", True, "DATE9."), XptColumn("B", "A text", False)]
    assert write_xpt(path, table_name="EMPTY", table_label="Nothing yet", columns=columns, rows=iter(())) == 0
    frame, meta = read_pyreadstat(path)
    assert (len(frame), meta.column_names, meta.column_labels) == (0, ["A", "B"], ["A number", "A text"])
    assert meta.variable_storage_width == {"A": 8, "B": 1}  # an empty text column is 1 byte wide
    # pandas.read_sas() itself raises StopIteration on a file of no rows (pyreadstat's too): its reader tells.
    reader = pd.read_sas(path, format="xport", encoding="utf-8", iterator=True)
    assert (reader.nobs, reader.columns) == (0, ["A", "B"])
    reader.close()
    assert path.stat().st_size % 80 == 0


def test_one_column(tmp_path: Path) -> None:
    path = tmp_path / "one.xpt"
    values = [1.0, math.nan, -7.0]
    write_xpt(path, table_name="ONE", table_label="", columns=[XptColumn("X", "x", True)], rows=[(v,) for v in values])
    assert all(same(a, b) for a, b in zip(read_pyreadstat(path)[0]["X"].tolist(), values, strict=True))
    assert all(same(a, b) for a, b in zip(read_pandas(path)["X"].tolist(), values, strict=True))


@pytest.mark.parametrize(
    ("numbers", "text_width", "rows"),
    [
        (1, 0, 1),  # 8 bytes: 72 bytes of padding, nine rows' worth
        (1, 0, 9),
        (2, 3, 4),  # 19 bytes, not a multiple of 80 nor of 8
        (10, 0, 3),  # 80 bytes: no padding
        (0, 80, 2),  # 80 bytes of text
        (5, 40, 7),  # 80 bytes
        (10, 0, 1),
        (11, 0, 2),  # 88 bytes
        (3, 17, 5),  # 41 bytes
    ],
)
def test_no_observation_is_lost_or_invented(tmp_path: Path, numbers: int, text_width: int, rows: int) -> None:
    """Whatever the row length, both readers find exactly the rows written, the padding read as none."""
    columns = [XptColumn(f"N{i}", "", True) for i in range(numbers)]
    if text_width:
        columns.append(XptColumn("T", "", False))
    data = [[float(r * 100 + i) for i in range(numbers)] + ([f"r{r}".ljust(text_width, "x")] if text_width else [])
            for r in range(rows)]  # fmt: skip
    path = tmp_path / "t.xpt"
    assert write_xpt(path, table_name="T", table_label="", columns=columns, rows=data) == rows
    assert path.stat().st_size % 80 == 0
    for frame in (read_pyreadstat(path)[0], read_pandas(path)):
        assert frame.to_numpy().tolist() == data


def test_a_missing_text_between_rows_is_kept(tmp_path: Path) -> None:
    """An observation that is all blanks (a missing text in a text-only table) is kept before a later row."""
    texts = ["first", None, None, "last"]
    path = tmp_path / "t.xpt"
    write_xpt(path, table_name="T", table_label="", columns=[XptColumn("T", "", False)], rows=[(t,) for t in texts])
    assert read_pyreadstat(path)[0]["T"].tolist() == ["first", "", "", "last"]


# --- Numbers: IEEE → IBM -------------------------------------------------------------------------------------


def ibm_value(word: bytes) -> Fraction:
    """An IBM 370 double read by hand, exactly: sign, base-16 exponent with bias 64, 56-bit fraction."""
    bits = int.from_bytes(word, "big")
    sign = -1 if bits >> 63 else 1
    exponent = (bits >> 56) & 0x7F
    fraction = bits & ((1 << 56) - 1)
    return sign * Fraction(fraction, 1 << 56) * Fraction(16) ** (exponent - 64)


def in_ibm_range(value: float) -> bool:
    return value == 0 or IBM_SMALLEST <= abs(value) <= IBM_LARGEST


def test_known_ibm_words() -> None:
    words = ibm_from_ieee(np.array([1.0, -2.5, 0.0, -0.0, math.nan, 100.0, 0.1])).tobytes()
    assert [words[i : i + 8].hex() for i in range(0, len(words), 8)] == [
        "4110000000000000",
        "c128000000000000",
        "0000000000000000",
        "0000000000000000",  # -0 is the IBM zero
        "2e00000000000000",  # SAS missing "."
        "4264000000000000",
        "401999999999999a",
    ]


@settings(deadline=None, max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(in_ibm_range))
def test_floats_convert_to_ibm_exactly(value: float) -> None:
    word = ibm_from_ieee(np.array([value])).tobytes()
    assert ibm_value(word) == Fraction(value)
    assert word == b"\0" * 8 or word[1] >> 4 != 0  # normalised: the first hexadecimal digit is not 0


@settings(deadline=None, max_examples=40)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False).filter(in_ibm_range), min_size=1, max_size=30))
def test_floats_round_trip_through_a_file(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    path = tmp_path_factory.mktemp("floats") / "f.xpt"
    write_xpt(path, table_name="F", table_label="", columns=[XptColumn("X", "", True)], rows=[(v,) for v in values])
    assert read_pyreadstat(path)[0]["X"].tolist() == values
    pandas_values = pd.read_sas(path, format="xport", encoding="utf-8")["X"].tolist()
    assert [0.0 if value == PANDAS_ZERO and value not in values else value for value in pandas_values] == values


@pytest.mark.parametrize(
    "value", [math.inf, -math.inf, 2.0**252, -1e76, 1e300, 5e-79, -IBM_SMALLEST / 2, 5e-324, 1e-300]
)
def test_numbers_out_of_ibm_range_are_refused(tmp_path: Path, value: float) -> None:
    path = tmp_path / "t.xpt"
    with pytest.raises(ValueError, match="out of the range"):
        write_xpt(path, table_name="T", table_label="", columns=[XptColumn("X", "", True)], rows=[(1.0,), (value,)])
    assert not path.exists()  # nothing is written before every row has been checked


def test_the_ibm_range_edges_are_kept(tmp_path: Path) -> None:
    values = [IBM_SMALLEST, -IBM_SMALLEST, IBM_LARGEST, -IBM_LARGEST]
    path = tmp_path / "t.xpt"
    write_xpt(path, table_name="T", table_label="", columns=[XptColumn("X", "", True)], rows=[(v,) for v in values])
    assert read_pyreadstat(path)[0]["X"].tolist() == values


# --- What is refused -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"columns": [XptColumn("TOOLONGNAME", "", True)]}, "column name"),
        ({"columns": [XptColumn("A", "é", True)]}, "label"),
        ({"columns": [XptColumn("A", "x" * 41, True)]}, "label"),
        ({"columns": [XptColumn("A", "", True), XptColumn("A", "", False)]}, "unique"),
        ({"columns": [XptColumn("A", "", True, "VERYLONGFMT9.")]}, "SAS format"),
        ({"columns": [XptColumn("A", "", True, "DATE9")]}, "SAS format"),
        ({"columns": []}, "1 to 9999 columns"),
        ({"table_name": "NINECHARS"}, "table name"),
        ({"table_label": "বাংলা"}, "table label"),
        ({"rows": [(1.0, "a"), (2.0,)]}, "values for 2 columns"),
        ({"rows": [(1.0, "a" * 201)]}, "201 bytes"),
        ({"rows": [(1.0, 5.0)]}, "neither text nor None"),
        ({"rows": [("one", "a")]}, "not a number"),
    ],
)
def test_what_version_5_cannot_hold_is_refused(tmp_path: Path, arguments: dict[str, Any], message: str) -> None:
    path = tmp_path / "t.xpt"
    call: dict[str, Any] = {"table_name": "T", "table_label": "", "rows": [(1.0, "a")]}
    call["columns"] = [XptColumn("A", "", True), XptColumn("B", "", False)]
    with pytest.raises(ValueError, match=message):
        write_xpt(path, **(call | arguments))
    assert not path.exists()


# --- Memory --------------------------------------------------------------------------------------------------


def generated_rows(count: int) -> Iterator[Row]:
    """Rows made one at a time, as a database cursor yields them: numbers, a date, texts of varying length."""
    for index in range(count):
        yield (float(index), index * 0.25, float(index % 30_000), f"note {index} " * (index % 7), None, -1.5)


def peak_while_writing(path: Path, count: int) -> int:
    columns = [
        XptColumn("ID", "", True),
        XptColumn("VALUE", "", True),
        XptColumn("DAY", "", True, "DATE9."),
        XptColumn("NOTE", "", False),
        XptColumn("EMPTY", "", False),
        XptColumn("CONST", "", True),
    ]
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        written = write_xpt(path, table_name="T", table_label="", columns=columns, rows=generated_rows(count))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == count
    return peak


def test_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """Writing ten times the rows needs no more memory (measured, not timed): one chunk at a time."""
    small = peak_while_writing(tmp_path / "small.xpt", 20_000)
    large = peak_while_writing(tmp_path / "large.xpt", 200_000)
    assert large <= 1.3 * small, (small, large)
    assert (tmp_path / "large.xpt").stat().st_size > 5 * large  # the file is far larger than the memory
    assert len(read_pyreadstat(tmp_path / "large.xpt", row_limit=5, row_offset=199_995)[0]) == 5
