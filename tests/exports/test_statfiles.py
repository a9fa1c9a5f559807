"""SAS transport (XPT v5) and Stata exports, read back with pandas and pyreadstat and compared with the database."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command
from django.utils import timezone

from clinical.mrss import MRSS_AREA_CODES
from exports.catalogue import dataset as catalogue_dataset
from exports.catalogue import datasets
from exports.scope import DateMode, ExportScope
from exports.statfiles import write_stata, write_xpt, xpt_label
from randomization.models import Allocation
from safety.models import AdverseEvent
from screening.models import Participant
from trial_site.models import Site
from visits.crfs import LabPanel, VisitMrss
from visits.models import Visit

pytestmark = pytest.mark.needs_postgres

EPOCH = date(1960, 1, 1)
LAB_VALUES = ("hb_g_dl", "wbc", "anc", "alc", "platelets", "alt", "alt_uln", "ast", "albumin_g_l", "creatinine_mg_dl")
AE_BOOLEANS = ("ongoing", "serious_death", "serious_hospitalisation", "expected")


# --- Writing and reading the files -----------------------------------------------------------------------------


def export(writer: Any, scope: ExportScope, folder: Path) -> tuple[dict[str, int], int, list[str]]:
    """Write the export, unpack it into ``folder``; (row counts, rows reported as progress, names in the ZIP)."""
    out = io.BytesIO()
    reported: list[int] = []
    counts = writer(scope, out, reported.append)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        assert archive.testzip() is None
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
        names = archive.namelist()
        archive.extractall(folder)
    return counts, sum(reported), names


def scope_of(sites: Any, **options: Any) -> ExportScope:
    return ExportScope(site_ids=tuple(sorted(s.id for s in sites)), **options)


def identified(sites: Any, **options: Any) -> ExportScope:
    return scope_of(sites, identified=True, date_mode=DateMode.ACTUAL, **options)


def pandas_xpt(path: Path) -> pd.DataFrame:
    """A transport file read by pandas, with pandas' own reading of IBM zero undone: pandas reads the eight zero
    bytes of 0.0 as 16⁻⁶⁵ = 5.4e-79 (https://github.com/pandas-dev/pandas/issues/50670)."""
    frame = pd.read_sas(path, format="xport", encoding="utf-8")
    for column in frame.columns:
        if frame[column].dtype.kind == "f":
            frame[column] = frame[column].mask(frame[column].abs() < 1e-70, 0.0)
    return frame


def sas_date(days: float) -> date | None:
    return None if pd.isna(days) else EPOCH + timedelta(days=int(days))


def number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def local(moment: datetime, site: Site) -> datetime:
    """The site's wall-clock time of ``moment``, as the files carry datetimes."""
    return timezone.localtime(moment, ZoneInfo(site.time_zone)).replace(tzinfo=None)


# --- Expected values, read with the ORM ------------------------------------------------------------------------


def expected_labs() -> dict[int, dict[str, Any]]:
    return {
        panel.id: {
            "participant": panel.visit.participant.screening_number,
            "visit": panel.visit.code,
            **{name: number(getattr(panel, name)) for name in LAB_VALUES},
        }
        for panel in LabPanel.objects.select_related("visit__participant")
    }


def expected_mrss() -> dict[int, dict[str, Any]]:
    return {
        form.id: {
            "participant": form.visit.participant.screening_number,
            "visit": form.visit.code,
            **{area: getattr(form, area) for area in MRSS_AREA_CODES},
        }
        for form in VisitMrss.objects.select_related("visit__participant")
    }


def expected_ae() -> dict[int, dict[str, Any]]:
    return {
        event.id: {
            "participant": event.participant.screening_number,
            "grade": event.grade,
            "onset_date": event.onset_date,
            **{name: getattr(event, name) for name in AE_BOOLEANS},
        }
        for event in AdverseEvent.objects.select_related("participant")
    }


def short(key: str, name: str) -> str:
    return catalogue_dataset(key).variable(name).short_name


def assert_same_as_database(frame: pd.DataFrame, key: str, expected: dict[int, dict[str, Any]], *, sas: bool) -> None:
    """Every row of the dataset ``key`` equals its record in the database, column by column."""
    name_of = (lambda n: short(key, n)) if sas else (lambda n: n)
    rows = {int(row[name_of("record_id")]): row for _, row in frame.iterrows()}
    assert set(rows) == set(expected), key
    for record_id, values in expected.items():
        row = rows[record_id]
        for name, value in values.items():
            found = row[name_of(name)]
            if isinstance(value, bool):
                assert found == (1 if value else 0), (key, record_id, name)
            elif isinstance(value, date):
                read = sas_date(found) if sas else (None if pd.isna(found) else pd.Timestamp(found).date())
                assert read == value, (key, record_id, name)
            elif isinstance(value, int | float):
                assert found == pytest.approx(value, rel=1e-12), (key, record_id, name)
            elif value is None:
                assert pd.isna(found) or found == "", (key, record_id, name)
            else:
                assert found == value, (key, record_id, name)


def expected_tables(scope: ExportScope) -> list[Any]:
    from exports.statfiles import export_tables

    return export_tables(scope)


# --- The tests -------------------------------------------------------------------------------------------------


def test_xpt_files_carry_the_database_values_names_and_labels(
    trial: dict[str, Any], site: Site, tmp_path: Path
) -> None:
    scope = identified([site])
    counts, reported, names = export(write_xpt, scope, tmp_path)
    tables = expected_tables(scope)
    keys = [d.key for d in datasets()]
    assert [t.name for t in tables][: len(keys)] == keys and {"ANVISIT", "ANPART"} <= set(counts)
    assert sorted(names) == sorted([f"{t.name}.xpt" for t in tables] + ["variables.csv", "README.txt"])
    assert reported == sum(counts.values()) > 0

    for table in tables:
        frame, meta = pyreadstat.read_xport(tmp_path / f"{table.name}.xpt")
        assert meta.table_name == table.name
        assert meta.column_names == [v.short_name for v in table.columns]
        assert all(len(n) <= 8 for n in meta.column_names)
        assert meta.column_labels == [xpt_label(v.label) for v in table.columns]
        assert all(len(label) <= 40 and label.isascii() for label in meta.column_labels)
        assert len(frame) == counts[table.name]
    for dataset in datasets():  # every record of the site, empty datasets included (as valid, empty files)
        assert counts[dataset.key] == dataset.model._default_manager.count(), dataset.key

    # Labels: kept when they fit, spelled in ASCII, cut after a word with "..." when longer than 40 characters.
    labels = pyreadstat.read_xport(tmp_path / "SCRLABS.xpt", metadataonly=True)[1].column_names_to_labels
    assert labels["WBC"] == "White cells (x10^9/L)"
    criteria = pyreadstat.read_xport(tmp_path / "CLASSIF.xpt", metadataonly=True)[1].column_names_to_labels
    full = catalogue_dataset("CLASSIF").variable("skin_thickening_proximal_to_mcp").label
    assert len(full) > 40 and criteria["STPRTOMC"].endswith("...")
    assert full.startswith(criteria["STPRTOMC"].removesuffix("...")) and len(criteria["STPRTOMC"]) <= 40
    assert labels["STUDYDAY"] == "Study day of the record's date..."  # not "(Day...": no parenthesis left open

    # mRSS items, read by pandas, equal the forms in the database.
    assert_same_as_database(pandas_xpt(tmp_path / "MRSS.xpt"), "MRSS", expected_mrss(), sas=True)
    # Dates are SAS dates (days since 1960); pyreadstat reads them back as dates through their format.
    visits = pandas_xpt(tmp_path / "VISIT.xpt")
    read = {int(r): sas_date(d) for r, d in zip(visits["RECORDID"], visits["DONEON"], strict=True)}
    assert read == dict(Visit.objects.values_list("id", "done_on"))
    people, meta = pyreadstat.read_xport(tmp_path / "PARTICIP.xpt")
    assert meta.original_variable_types["DATOFBIR"].startswith("DATE")
    born = {int(r): d for r, d in zip(people["RECORDID"], people["DATOFBIR"], strict=True)}
    assert born == dict(Participant.objects.values_list("id", "date_of_birth"))
    # Booleans are 1/0.
    consent = {int(r): v for r, v in zip(people["RECORDID"], people["REMICONS"], strict=True)}
    assert consent == {p: int(v) for p, v in Participant.objects.values_list("id", "reminder_consent")}
    # Datetimes are the site's wall-clock time.
    allocations, _ = pyreadstat.read_xport(tmp_path / "ALLOC.xpt")
    randomised = {
        int(r): t.to_pydatetime() for r, t in zip(allocations["RECORDID"], allocations["RANDOMAT"], strict=True)
    }
    expected = {a.id: local(a.randomised_at, site) for a in Allocation.objects.all()}
    assert set(randomised) == set(expected) and len(expected) == 10
    for record_id, moment in expected.items():
        assert abs(randomised[record_id] - moment) < timedelta(milliseconds=1)


def test_stata_files_carry_names_labels_value_labels_and_dates(
    trial: dict[str, Any], site: Site, tmp_path: Path
) -> None:
    scope = identified([site])
    counts, reported, names = export(write_stata, scope, tmp_path)
    tables = expected_tables(scope)
    assert sorted(names) == sorted([f"{t.name}.dta" for t in tables] + ["variables.csv", "README.txt"])
    assert reported == sum(counts.values())
    for table in tables:
        frame, meta = pyreadstat.read_dta(tmp_path / f"{table.name}.dta")
        assert len(frame) == counts[table.name]
        assert all(len(name) <= 32 for name in meta.column_names)
        for name, variable, label in zip(meta.column_names, table.columns, meta.column_labels, strict=True):
            assert name == variable.name or len(variable.name) > 32, (table.name, name)
            assert label == variable.label if len(variable.label) <= 80 else label.endswith("...")
    # A name longer than Stata's 32 characters is cut.
    exclusion = pyreadstat.read_dta(tmp_path / "CLASSIF.dta", metadataonly=True)[1]
    assert "better_explained_by_other_disorder"[:32] in exclusion.column_names

    # Value labels: the catalogue's codes for coded integers, No/Yes for booleans.
    mrss, meta = pyreadstat.read_dta(tmp_path / "MRSS.dta")
    face_codes = {int(code): label for code, label in catalogue_dataset("MRSS").variable("face").codes}
    assert meta.variable_value_labels["face"] == face_codes
    assert meta.variable_value_labels["unusual_values_confirmed"] == {0: "No", 1: "Yes"}
    assert_same_as_database(mrss, "MRSS", expected_mrss(), sas=False)
    labelled = pd.read_stata(tmp_path / "MRSS.dta")
    assert set(labelled["face"].dropna()) <= set(face_codes.values())
    by_id = dict(zip(labelled["record_id"].astype(int), labelled["face"], strict=True))
    assert by_id == {f.id: face_codes[f.face] for f in VisitMrss.objects.all()}

    # Dates and datetimes come back as dates with pandas.
    visits = pd.read_stata(tmp_path / "VISIT.dta", convert_categoricals=False)
    read = {
        int(r): (None if pd.isna(d) else d.date()) for r, d in zip(visits["record_id"], visits["done_on"], strict=True)
    }
    assert read == dict(Visit.objects.values_list("id", "done_on"))
    allocations = pd.read_stata(tmp_path / "ALLOC.dta")
    for record_id, moment in zip(allocations["record_id"], allocations["randomised_at"], strict=True):
        expected = local(Allocation.objects.get(id=record_id).randomised_at, site)
        assert abs(moment.to_pydatetime() - expected) < timedelta(milliseconds=1)


def test_codes_as_labels_gives_text_in_both_formats(trial: dict[str, Any], site: Site, tmp_path: Path) -> None:
    scope = identified([site], codes_as_labels=True)
    face_codes = dict(catalogue_dataset("MRSS").variable("face").codes)
    expected = {f.id: face_codes[str(f.face)] for f in VisitMrss.objects.all()}
    consent = {p: "Yes" if v else "No" for p, v in Participant.objects.values_list("id", "reminder_consent")}

    export(write_stata, scope, tmp_path / "dta")
    mrss, meta = pyreadstat.read_dta(tmp_path / "dta" / "MRSS.dta")
    assert "face" not in meta.variable_value_labels
    assert dict(zip(mrss["record_id"].astype(int), mrss["face"], strict=True)) == expected
    people = pd.read_stata(tmp_path / "dta" / "PARTICIP.dta")
    assert dict(zip(people["record_id"].astype(int), people["reminder_consent"], strict=True)) == consent

    export(write_xpt, scope, tmp_path / "xpt")
    mrss = pandas_xpt(tmp_path / "xpt" / "MRSS.xpt")
    assert dict(zip(mrss["RECORDID"].astype(int), mrss["FACE"], strict=True)) == expected
    people = pandas_xpt(tmp_path / "xpt" / "PARTICIP.xpt")
    assert dict(zip(people["RECORDID"].astype(int), people["REMICONS"], strict=True)) == consent


def test_demo_data_read_back_equal_the_database(db: Any, tmp_path: Path) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    sites = list(Site.objects.all())
    scope = identified(sites)
    labs, mrss, events = expected_labs(), expected_mrss(), expected_ae()
    assert labs and mrss and events and any(e["grade"] for e in events.values())

    counts, _, _ = export(write_xpt, scope, tmp_path / "xpt")
    assert_same_as_database(pandas_xpt(tmp_path / "xpt" / "LABS.xpt"), "LABS", labs, sas=True)
    assert_same_as_database(pandas_xpt(tmp_path / "xpt" / "MRSS.xpt"), "MRSS", mrss, sas=True)
    assert_same_as_database(pandas_xpt(tmp_path / "xpt" / "AE.xpt"), "AE", events, sas=True)
    for table in expected_tables(scope):  # pyreadstat and pandas read the same values
        by_pyreadstat, _ = pyreadstat.read_xport(tmp_path / "xpt" / f"{table.name}.xpt")
        assert len(by_pyreadstat) == counts[table.name]

    counts_dta, _, _ = export(write_stata, scope, tmp_path / "dta")
    assert counts_dta == counts
    for key, expected in (("LABS", labs), ("MRSS", mrss), ("AE", events)):
        frame = pd.read_stata(tmp_path / "dta" / f"{key}.dta", convert_categoricals=False)
        assert_same_as_database(frame, key, expected, sas=False)
    grades = pyreadstat.read_dta(tmp_path / "dta" / "AE.dta", metadataonly=True)[1].variable_value_labels["grade"]
    assert grades == {int(code): label for code, label in catalogue_dataset("AE").variable("grade").codes}


def identifying_names() -> tuple[dict[str, set[str]], set[str]]:
    """Dataset key → its identifying variables (names and eight-character names); and all of them together."""
    marked = {d.key: {n for v in d.variables if v.identifying for n in (v.name, v.short_name)} for d in datasets()}
    return marked, set().union(*marked.values())


def test_a_de_identified_export_has_no_identifying_variable_in_any_file(
    trial: dict[str, Any], site: Site, tmp_path: Path
) -> None:
    sites = [site]
    marked, every_mark = identifying_names()
    assert {"initials", "date_of_birth", "mobile_phone", "email", "witness_name"} <= every_mark
    identities = {
        value for row in Participant.objects.values_list("initials", "mobile_phone", "email") for value in row if value
    }
    assert identities
    for writer, kind in ((write_xpt, "xpt"), (write_stata, "dta")):
        read = pyreadstat.read_xport if kind == "xpt" else pyreadstat.read_dta
        folder = tmp_path / kind
        export(writer, scope_of(sites, date_mode=DateMode.SHIFTED), folder)
        files = sorted(folder.glob(f"*.{kind}"))
        assert len(files) == len(datasets()) + 2
        for path in files:
            frame, meta = read(path)
            assert not set(meta.column_names) & marked.get(path.stem, every_mark), path.name
            text = frame.select_dtypes(exclude="number").astype(str).to_numpy().ravel()
            assert not identities & set(text), path.name
        dictionary = pd.read_csv(folder / "variables.csv", encoding="utf-8-sig")
        assert not set(dictionary["variable"]) & {n for v in marked.values() for n in v}
        # The identified export does have them (so the test above can fail).
        export(writer, identified(sites), tmp_path / f"{kind}-identified")
        people, meta = read(tmp_path / f"{kind}-identified" / f"PARTICIP.{kind}")
        assert marked["PARTICIP"] & set(meta.column_names)
        assert identities & set(people.select_dtypes(exclude="number").astype(str).to_numpy().ravel())
