"""The streaming Stata writer (exports.dta_writer), read back by two independent readers, pyreadstat (ReadStat, C)
and pandas (pure Python), and compared with what pyreadstat.write_dta writes for the same data: values, names,
labels, formats, value labels. Then zero rows, one column, release 118, the errors, and memory that stays flat
while the rows grow (tracemalloc; never timing)."""

from __future__ import annotations

import math
import struct
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest

from exports.dta_writer import DtaColumn, write_dta

EPOCH_DATE = date(1960, 1, 1)
EPOCH_DATETIME = datetime(1960, 1, 1)
BANGLA = "ঢাকা বিভাগ, রোগীর মন্তব্য"
AT_2045 = "ক" * 681 + "ab"  # 681 three-byte letters and two ASCII: 2,045 bytes, the widest str#
OVER_2045 = "খ" * 700 + "end"  # 2,103 bytes: a strL


def days(value: date) -> float:
    return float((value - EPOCH_DATE).days)


def milliseconds(value: datetime) -> float:
    return (value - EPOCH_DATETIME) / timedelta(milliseconds=1)


VISIT_DAYS = [date(2024, 3, 1), date(1959, 12, 31), EPOCH_DATE, None, date(2031, 7, 15), date(2000, 2, 29)]
TAKEN_AT = [
    datetime(2024, 3, 1, 13, 45, 30, 250000),
    datetime(1960, 1, 1),
    None,
    datetime(1999, 12, 31, 23, 59, 59),
    datetime(2031, 7, 15, 6, 0),
    datetime(1955, 5, 5, 5, 5, 5),
]

COLUMNS = [
    DtaColumn("count", "Number of visits", True),
    DtaColumn("dose_mg", "Dose (mg), ঔষধের মাত্রা", True),
    DtaColumn("visit_day", "Visit date", True, "%td"),
    DtaColumn("taken_at", "Sample taken at", True, "%tc"),
    DtaColumn("arm", "Treatment arm", True, value_labels={2: "Placebo", 1: "Active ঔষধ", -9: "Not allocated"}),
    DtaColumn("score", "A score without labels", True, value_labels={}),
    DtaColumn("name", "Participant's note", False),
    DtaColumn("sex", "Sex", True, value_labels={0: "Female", 1: "Male"}),
    DtaColumn("comment", "Comment of 2,045 bytes at most", False),
    DtaColumn("memo", "Long memo (strL)", False),
]
ROWS: list[list[float | str | None]] = [
    [1.0, 0.5, days(VISIT_DAYS[0]), milliseconds(TAKEN_AT[0]), 1.0, 10.0, "ASCII text", 0.0, AT_2045, OVER_2045],
    [0.0, -12.25, days(VISIT_DAYS[1]), milliseconds(TAKEN_AT[1]), 2.0, 0.0, BANGLA, 1.0, "short", None],
    [-3.0, 0.0, 0.0, math.nan, -9.0, -1.5, "", math.nan, None, "a short memo"],
    [123456789.0, math.nan, math.nan, milliseconds(TAKEN_AT[3]), math.nan, math.nan, None, 0.0, "", ""],
    [2.0, 1e-9, days(VISIT_DAYS[4]), milliseconds(TAKEN_AT[4]), 3.0, 7.0, "tab\tand new\nline", 1.0, "x", "মেমো"],
    [-1.0, 3.5e10, days(VISIT_DAYS[5]), milliseconds(TAKEN_AT[5]), 2.0, 2.0, "  spaces  ", 1.0, BANGLA, OVER_2045],
]
FILE_LABEL = "Trial visits: পরীক্ষা"


def pyreadstat_file(path: Path, columns: Sequence[DtaColumn], rows: Sequence[Sequence[Any]], label: str) -> None:
    """What exports.statfiles does today: one DataFrame, written by pyreadstat.write_dta.

    pyreadstat cannot write None in a column it makes a strL, which it does from 2,045 bytes on ("A registered
    string reference was never inserted into any row"), so in such a column the reference gets "" where the rows
    have None; both are Stata's empty string.
    """
    frame = {}
    for index, column in enumerate(columns):
        values = [row[index] for row in rows]
        if column.numeric:
            frame[column.name] = pd.Series(values, dtype="float64")
        else:
            if any(len((value or "").encode()) >= 2045 for value in values):
                values = ["" if value is None else value for value in values]
            frame[column.name] = pd.Series(values, dtype=object)
    pyreadstat.write_dta(
        pd.DataFrame(frame),
        str(path),
        file_label=label,
        column_labels=[column.label for column in columns],
        variable_value_labels={c.name: dict(c.value_labels) for c in columns if c.value_labels},
        variable_format={column.name: column.format for column in columns if column.format},
    )


def generated(rows: Sequence[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """The rows one at a time, as a database cursor would give them."""
    yield from rows


def read_pandas(path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """pandas' reading of a file: its data, and its file label, variable labels and value labels."""
    with pd.io.stata.StataReader(path, **options) as reader:
        frame = reader.read()
        meta = {"label": reader.data_label, "variables": reader.variable_labels(), "values": reader.value_labels()}
    return frame, meta


# --- A table of every kind of value ------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    ours, reference = tmp_path / "ours.dta", tmp_path / "reference.dta"
    assert write_dta(ours, file_label=FILE_LABEL, columns=COLUMNS, rows=generated(ROWS)) == len(ROWS)
    pyreadstat_file(reference, COLUMNS, ROWS, FILE_LABEL)
    return ours, reference


def test_values_read_back_as_written(files: tuple[Path, Path]) -> None:
    """Every value comes back: numbers to the bit, missing as missing, dates and datetimes as such, text in
    UTF-8 whatever its length (None and "" are both Stata's empty string), coded integers as codes."""
    ours, _ = files
    frame, _meta = pyreadstat.read_dta(str(ours), apply_value_formats=False)
    assert list(frame.columns) == [column.name for column in COLUMNS]
    for index, column in enumerate(COLUMNS):
        if column.numeric and not column.format:
            expected = [row[index] for row in ROWS]
            got = frame[column.name].tolist()
            assert [math.isnan(v) for v in got] == [math.isnan(v) for v in expected], column.name  # type: ignore
            assert [v for v in got if not math.isnan(v)] == [v for v in expected if not math.isnan(v)], column.name  # type: ignore
        elif not column.numeric:
            assert frame[column.name].tolist() == [row[index] or "" for row in ROWS], column.name
    assert [None if pd.isna(v) else v for v in frame["visit_day"]] == VISIT_DAYS
    assert [None if pd.isna(v) else v.to_pydatetime() for v in frame["taken_at"]] == TAKEN_AT

    frame, _meta = read_pandas(ours, convert_categoricals=False)
    assert frame["name"].tolist() == ["ASCII text", BANGLA, "", "", "tab\tand new\nline", "  spaces  "]
    assert frame["comment"].tolist() == [AT_2045, "short", "", "", "x", BANGLA]
    assert frame["memo"].tolist() == [OVER_2045, "", "a short memo", "", "মেমো", OVER_2045]
    assert frame["count"].tolist() == [1.0, 0.0, -3.0, 123456789.0, 2.0, -1.0]
    assert frame["dose_mg"].isna().tolist() == [False, False, False, True, False, False]
    assert frame["arm"].fillna(99).tolist() == [1.0, 2.0, -9.0, 99, 3.0, 2.0]
    assert [None if pd.isna(v) else v.date() for v in frame["visit_day"]] == VISIT_DAYS
    assert [None if pd.isna(v) else v.to_pydatetime() for v in frame["taken_at"]] == TAKEN_AT


def test_pyreadstat_reads_the_same_file_as_pyreadstat_writes(files: tuple[Path, Path]) -> None:
    """Data, names, variable labels, display formats, file label, value-label sets (pyreadstat's names for them:
    column name and running number) and which variable uses which, all as for pyreadstat's own file."""
    ours, reference = files
    frame, meta = pyreadstat.read_dta(str(ours), apply_value_formats=False)
    expected_frame, expected = pyreadstat.read_dta(str(reference), apply_value_formats=False)
    pd.testing.assert_frame_equal(frame, expected_frame)
    for attribute in ("column_names", "column_labels", "file_label", "number_rows", "readstat_variable_types"):
        assert getattr(meta, attribute) == getattr(expected, attribute), attribute
    assert meta.original_variable_types == expected.original_variable_types  # the display formats
    assert meta.variable_to_label == expected.variable_to_label == {"arm": "arm0", "sex": "sex1"}
    assert meta.value_labels == expected.value_labels
    assert meta.value_labels["arm0"] == {-9: "Not allocated", 1: "Active ঔষধ", 2: "Placebo"}
    assert meta.file_label == FILE_LABEL and meta.column_labels[1] == "Dose (mg), ঔষধের মাত্রা"
    assert meta.original_variable_types["visit_day"] == "%td" and meta.original_variable_types["taken_at"] == "%tc"

    labelled, _ = pyreadstat.read_dta(str(ours), apply_value_formats=True)
    assert labelled["arm"].tolist()[:3] == ["Active ঔষধ", "Placebo", "Not allocated"]
    # Text of 2,045 bytes is a str2045; longer makes the column a strL (storage width 0 for ReadStat). pyreadstat
    # itself makes a strL of the 2,045-byte column too: the one difference, and Stata reads both.
    assert meta.variable_storage_width["comment"] > 0 and meta.variable_storage_width["memo"] == 0


def test_pandas_reads_the_same_file_as_pyreadstat_writes(files: tuple[Path, Path]) -> None:
    ours, reference = files
    for convert in (True, False):
        frame, meta = read_pandas(ours, convert_categoricals=convert)
        expected_frame, expected = read_pandas(reference, convert_categoricals=convert)
        pd.testing.assert_frame_equal(frame, expected_frame)
        assert meta == expected
    assert meta["label"] == FILE_LABEL
    assert meta["values"] == {
        "arm0": {-9: "Not allocated", 1: "Active ঔষধ", 2: "Placebo"},
        "sex1": {0: "Female", 1: "Male"},
    }
    assert meta["variables"]["memo"] == "Long memo (strL)"
    frame, _ = read_pandas(ours)
    assert frame["sex"].tolist()[:2] == ["Female", "Male"]


def test_release_118_reads_back_the_same(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """release=118 (Stata 14 and later; the default is pyreadstat's 119) holds the same dataset."""
    ours, _ = files
    old = tmp_path / "release118.dta"
    write_dta(old, file_label=FILE_LABEL, columns=COLUMNS, rows=generated(ROWS), release=118)
    assert old.read_bytes().startswith(b"<stata_dta><header><release>118</release>")
    assert ours.read_bytes().startswith(b"<stata_dta><header><release>119</release>")
    pd.testing.assert_frame_equal(read_pandas(old)[0], read_pandas(ours)[0])
    frame, meta = pyreadstat.read_dta(str(old), apply_value_formats=False)
    expected_frame, expected = pyreadstat.read_dta(str(ours), apply_value_formats=False)
    pd.testing.assert_frame_equal(frame, expected_frame)
    assert meta.value_labels == expected.value_labels and meta.column_labels == expected.column_labels


# --- Edges -------------------------------------------------------------------------------------------------------


def test_zero_rows(tmp_path: Path) -> None:
    """No rows: a valid, empty dataset with its variables, labels and value labels, as pyreadstat's."""
    ours, reference = tmp_path / "ours.dta", tmp_path / "reference.dta"
    assert write_dta(ours, file_label="Empty", columns=COLUMNS, rows=iter(())) == 0
    pyreadstat_file(reference, COLUMNS, [], "Empty")
    frame, meta = pyreadstat.read_dta(str(ours), apply_value_formats=False)
    expected_frame, expected = pyreadstat.read_dta(str(reference), apply_value_formats=False)
    assert frame.shape == (0, len(COLUMNS)) and list(frame.columns) == list(expected_frame.columns)
    for attribute in ("column_labels", "file_label", "original_variable_types", "variable_to_label", "value_labels"):
        assert getattr(meta, attribute) == getattr(expected, attribute), attribute
    frame, meta = read_pandas(ours)
    assert frame.shape == (0, len(COLUMNS)) and meta == read_pandas(reference)[1]


@pytest.mark.parametrize(
    ("column", "rows"),
    [
        (DtaColumn("only", "The only column", True), [[1.0], [math.nan], [-2.5]]),
        (DtaColumn("only", "The only column", False), [["one"], [None], ["তিন"]]),
        (DtaColumn("only", "The only column", False), [[OVER_2045]]),
    ],
    ids=["number", "text", "strL"],
)
def test_one_column(tmp_path: Path, column: DtaColumn, rows: list[list[Any]]) -> None:
    ours, reference = tmp_path / "ours.dta", tmp_path / "reference.dta"
    assert write_dta(ours, file_label="", columns=[column], rows=generated(rows)) == len(rows)
    pyreadstat_file(reference, [column], rows, "")
    pd.testing.assert_frame_equal(pyreadstat.read_dta(str(ours))[0], pyreadstat.read_dta(str(reference))[0])
    pd.testing.assert_frame_equal(read_pandas(ours)[0], read_pandas(reference)[0])
    values = read_pandas(ours)[0]["only"].tolist()
    expected = [row[0] if column.numeric else row[0] or "" for row in rows]
    assert [("nan" if isinstance(v, float) and math.isnan(v) else v) for v in values] == [
        ("nan" if isinstance(v, float) and math.isnan(v) else v) for v in expected
    ]


def test_strls_follow_the_format(tmp_path: Path) -> None:
    """Two strL columns with empty values between: read back by both readers, and laid out as the format
    requires (Stata is stricter than either reader): an empty value is (v,o) = (0,0) with no GSO, any other
    refers to its own variable and observation, and the GSOs come in data order, observation then variable."""
    columns = [DtaColumn("first", "", False), DtaColumn("n", "", True), DtaColumn("second", "", False)]
    rows = [[OVER_2045, 1.0, None], ["", 2.0, "b"], [None, 3.0, None], ["d", 4.0, OVER_2045 + "!"]]
    path = tmp_path / "strls.dta"
    write_dta(path, file_label="", columns=columns, rows=generated(rows))
    expected = {"first": [OVER_2045, "", "", "d"], "n": [1.0, 2.0, 3.0, 4.0], "second": ["", "b", "", OVER_2045 + "!"]}
    assert pyreadstat.read_dta(str(path))[0].to_dict("list") == expected
    assert read_pandas(path)[0].to_dict("list") == expected

    content = path.read_bytes()
    data = content[content.index(b"<data>") + 6 : content.index(b"</data>")]
    references = [struct.unpack_from("<Q", data, 24 * row + offset)[0] for row in range(4) for offset in (0, 16)]
    assert [(ref & 0xFFFFFF, ref >> 24) for ref in references] == [
        (1, 1),
        (0, 0),
        (0, 0),
        (3, 2),
        (0, 0),
        (0, 0),
        (1, 4),
        (3, 4),
    ]
    strls, gsos, at = content[content.index(b"<strls>") + 7 : content.index(b"</strls>")], [], 0
    while at < len(strls):
        tag, variable, observation, kind, length = struct.unpack_from("<3sIQBI", strls, at)
        assert tag == b"GSO" and kind == 130 and strls[at + 20 + length - 1] == 0
        gsos.append((variable, observation, strls[at + 20 : at + 19 + length].decode()))
        at += 20 + length
    assert gsos == [(1, 1, OVER_2045), (3, 2, "b"), (1, 4, "d"), (3, 4, OVER_2045 + "!")]


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [
        ([DtaColumn("a", "", True)], [[1.0], [1.0, 2.0]], "unequal length"),
        ([DtaColumn("a", "", True), DtaColumn("b", "", True)], [[1.0]], "1 values for 2 columns"),
        ([DtaColumn("a", "", True)], [[math.inf]], "outside what Stata can store"),
        ([DtaColumn("a", "", True)], [["not a number"]], "not a number"),
        ([DtaColumn("a", "", False)], [[12]], "not text"),
        ([DtaColumn("a" * 32, "", True, value_labels={1: "x"})], [], "longer than 32"),
        ([DtaColumn("a", "", True, value_labels={1.5: "x"})], [], "integers"),  # type: ignore[dict-item]
        ([DtaColumn("a", "é" * 81, True)], [], "longer than 80"),
        ([DtaColumn("a", "", True), DtaColumn("a", "", True)], [], "two columns"),
    ],
    ids=["ragged", "short", "infinity", "number", "text", "set-name", "code", "label", "duplicate"],
)
def test_what_the_format_cannot_hold_is_refused(
    tmp_path: Path, columns: list[DtaColumn], rows: list[list[Any]], message: str
) -> None:
    """A ValueError that says what is wrong, and no half-written file."""
    path = tmp_path / "refused.dta"
    with pytest.raises(ValueError, match=message):
        write_dta(path, file_label="", columns=columns, rows=generated(rows))
    assert not path.exists()


# --- Memory ------------------------------------------------------------------------------------------------------

MEMORY_COLUMNS = [
    DtaColumn("id", "Identifier", True),
    DtaColumn("visit_day", "Visit date", True, "%td"),
    DtaColumn("arm", "Arm", True, value_labels={1: "Active", 2: "Placebo"}),
    DtaColumn("note", "Note", False),
    DtaColumn("memo", "Memo, now and then a strL", False),
]


def memory_rows(count: int) -> Iterator[tuple[float, float, float, str, str]]:
    """``count`` rows made one at a time (new tuples and numbers; the texts come from small pools, so that the
    generator itself allocates little): every 10th memo is set, every 5,000th longer than 2,045 bytes (a strL)."""
    notes = [f"note {n}" if n % 3 else "" for n in range(97)] + [BANGLA]
    memos = ["মেমো " * n for n in range(10)]
    for row in range(count):
        memo = OVER_2045 if row % 5000 == 0 else memos[row % 10] if row % 10 == 1 else ""
        day = float(row % 9000) if row % 5 else math.nan
        yield (float(row), day, float(row % 2 + 1), notes[row % 98], memo)


def peak_while_writing(path: Path, count: int) -> int:
    tracemalloc.start()
    try:
        assert write_dta(path, file_label="", columns=MEMORY_COLUMNS, rows=memory_rows(count)) == count
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """Ten times the rows, the same peak (within 30 %): the writer holds a chunk, never the table."""
    small = peak_while_writing(tmp_path / "small.dta", 20_000)
    large = peak_while_writing(tmp_path / "large.dta", 200_000)
    assert large <= 1.3 * small, f"peak {large:,} bytes for 200,000 rows, {small:,} for 20,000"
    # ... and the 49 chunks of the large file are all there, in order, strLs numbered across the chunks.
    expected = list(zip(*memory_rows(200_000), strict=True))
    large_file, read = tmp_path / "large.dta", ["id", "note", "memo"]
    for frame in (pyreadstat.read_dta(str(large_file), usecols=read)[0], read_pandas(large_file, columns=read)[0]):
        assert frame["id"].tolist() == list(expected[0])
        assert frame["note"].tolist() == list(expected[3])
        assert frame["memo"].tolist() == list(expected[4])
