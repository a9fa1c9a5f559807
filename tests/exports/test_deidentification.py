"""De-identified exports, in every format: no identifying field (as the models mark them) appears as a column,
ItemDef or variable, none of the identifying values in the database appears anywhere in the file, and a
study-day export carries no actual visit date.

The identifying fields are read from the catalogue (``Variable.identifying``, the models' ``identifying_fields``),
so a field marked identifying later is covered at once. Values searched for: every identifying text of six
characters or more (mobile numbers, e-mails, witness names; initials are too short to search for safely) and
every identifying date in ISO form (dates of birth), from the records and from their history.
"""

from __future__ import annotations

import csv
import html
import io
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
import pyreadstat
import pytest

from exports.catalogue import datasets, identifying_variables
from exports.formats import FORMATS, writer_for
from exports.scope import ExportScope
from tests.exports.test_tabular import all_sites, demo_data  # noqa: F401 (demo_data is a fixture)
from visits.models import Visit

pytestmark = pytest.mark.needs_postgres

MODES = ("shifted", "study_day")
SHORTEST_SEARCHED = 6  # initials (2–4 letters) would match by chance


def identifying_names() -> dict[str, set[str]]:
    """Dataset key → the names (variable names and 8-character names) of its identifying variables."""
    found: dict[str, set[str]] = {}
    for chosen in datasets():
        for variable in chosen.variables:
            if variable.identifying:
                found.setdefault(chosen.key, set()).update({variable.name, variable.short_name})
    return found


def only_identifying_names() -> set[str]:
    """Names identifying wherever they occur (an ODM ItemDef of that name can only be an identifying field)."""
    identifying = {name for names in identifying_variables().values() for name in names}
    elsewhere = {v.name for d in datasets() for v in d.variables if not v.identifying}
    return identifying - elsewhere


def identifying_values() -> set[str]:
    """Every identifying value in the database (records and history) as the exports could write it."""
    values: set[str] = set()
    for chosen in datasets():
        for variable in chosen.variables:
            if not variable.identifying:
                continue
            for manager in (chosen.model._default_manager, chosen.model.history):
                for value in manager.values_list(variable.source, flat=True):
                    if isinstance(value, datetime | date):
                        values.add(value.isoformat()[:10])
                    elif isinstance(value, str) and len(value.strip()) >= SHORTEST_SEARCHED:
                        values.add(value.strip())
    return values


def files(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The file, or every file inside it (ZIPs in ZIPs opened too), as (path, bytes)."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from files(f"{name}/{member}", archive.read(member))
    else:
        yield name, data


def dataset_key(path: str) -> str:
    return PurePosixPath(path).stem.upper()


def read_stat_file(path: str, data: bytes) -> pd.DataFrame | None:
    """A SAS transport or Stata file as a DataFrame (read by pyreadstat, which also reads tables with no rows)."""
    suffix = PurePosixPath(path).suffix.lower()
    reader = {".xpt": pyreadstat.read_xport, ".dta": pyreadstat.read_dta}.get(suffix)
    if reader is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=suffix) as copy:
        copy.write(data)
        copy.flush()
        frame, _meta = reader(copy.name)
    return frame


def column_names(path: str, data: bytes) -> list[str] | None:
    """The column or variable names of a data file; None for files that are not one table."""
    if PurePosixPath(path).suffix.lower() == ".csv":
        return next(csv.reader(io.StringIO(data.decode("utf-8"))), [])
    frame = read_stat_file(path, data)
    return None if frame is None else list(frame.columns)


def string_cells(path: str, data: bytes) -> Iterator[str]:
    frame = read_stat_file(path, data)
    if frame is None:
        return
    for column in frame.columns:
        for value in frame[column]:
            if isinstance(value, str):
                yield value.strip()


def assert_no_identifying_columns(path: str, data: bytes, identifying: dict[str, set[str]]) -> None:
    names = column_names(path, data)
    key = dataset_key(path)
    if names is not None and key in identifying:
        upper = {name.upper() for name in identifying[key]}
        assert not upper & {name.upper() for name in names}, (path, upper & {n.upper() for n in names})
    if names and {"identifying", "in_this_export"} <= set(names):  # the data dictionary
        for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
            if row["identifying"] == "Yes":
                assert row["in_this_export"] == "No", (path, row["dataset"], row["variable"])
    if PurePosixPath(path).suffix.lower() == ".xml":
        forbidden = only_identifying_names()
        for element in ET.fromstring(data).iter():  # noqa: S314 (our own export)
            if element.tag.rsplit("}", 1)[-1] == "ItemDef":
                name = element.get("Name", "")
                oid = element.get("OID", "")
                assert name not in forbidden, (path, name)
                assert not any(oid.upper().endswith(f".{n.upper()}") for n in forbidden), (path, oid)


def assert_no_identifying_values(path: str, data: bytes, values: set[str]) -> None:
    for value in values:
        for form in {value, html.escape(value), html.escape(value, quote=False)}:
            assert form.encode("utf-8") not in data, (path, value)
    for cell in string_cells(path, data):
        assert cell not in values, (path, cell)


def export(key: str, scope: ExportScope) -> bytes:
    try:
        writer = writer_for(key)
    except ImportError as error:
        pytest.skip(f"the {key} writer is not there yet: {error}")
    out = io.BytesIO()
    writer(scope, out, lambda rows: None)
    return out.getvalue()


@pytest.mark.usefixtures("demo_data")
class TestDeIdentifiedExports:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("key", list(FORMATS))
    def test_no_identifying_field_or_value_in_any_format(self, key: str, mode: str, db: Any) -> None:
        data = export(key, all_sites(date_mode=mode))
        values, identifying = identifying_values(), identifying_names()
        assert values, "the demo data have no identifying values to look for"
        assert any(len(v) == 10 and v[4] == "-" for v in values) and any("@" in v for v in values)
        checked = 0
        for path, content in files(f"export.{FORMATS[key].extension}", data):
            assert_no_identifying_columns(path, content, identifying)
            assert_no_identifying_values(path, content, values)
            checked += 1
        assert checked

    @pytest.mark.parametrize("key", ["csv", "analysis"])
    def test_a_study_day_export_has_no_actual_visit_date(self, key: str, db: Any) -> None:
        data = export(key, all_sites(date_mode="study_day"))
        visit_dates = {d.isoformat() for d in Visit.objects.exclude(done_on=None).values_list("done_on", flat=True)}
        assert visit_dates
        for path, content in files("export.zip", data):
            for day in visit_dates:
                assert day.encode() not in content, (path, day)

    def test_identified_exports_do_carry_what_the_others_leave_out(self, db: Any) -> None:
        """The check above would pass on an empty file: the same search finds the values in an identified export."""
        data = export("csv", all_sites(identified=True, date_mode="actual"))
        everything = b"".join(content for _path, content in files("export.zip", data))
        values = identifying_values()
        assert sum(value.encode() in everything for value in values) >= len(values) // 2
        header = next(content for path, content in files("export.zip", data) if path.endswith("/PARTICIP.csv"))
        assert {"initials", "date_of_birth", "mobile_phone", "email"} <= set(column_names("PARTICIP.csv", header))
        odm = export("odm", all_sites(identified=True, date_mode="actual"))
        item_names = {e.get("Name") for e in ET.fromstring(odm).iter() if e.tag.endswith("ItemDef")}  # noqa: S314
        assert only_identifying_names() <= item_names
