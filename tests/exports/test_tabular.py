"""CSV per form: the values against the database, participant, visit and study day, date modes, codes and labels,
the cut-off, and one dataset's CSV on its own."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from clinical.mrss import MRSS_AREA_CODES
from exports.catalogue import Dataset, dataset, datasets
from exports.rows import columns
from exports.scope import ExportScope
from exports.tabular import write_csv_per_form, write_dataset_csv
from randomization.models import Allocation
from trial_site.models import Site
from visits.crf_services import visit_form_save
from visits.crfs import VisitMrss
from visits.models import Visit

pytestmark = pytest.mark.needs_postgres

Rows = list[dict[str, str]]


# --- Shared helpers (the other export tests import them) ----------------------------------------------------


@pytest.fixture(scope="class")
def demo_data(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """The demo data (``seed_demo``), made once for a test class inside a transaction rolled back at its end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                call_command("seed_demo")
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def all_sites(**options: Any) -> ExportScope:
    return ExportScope(site_ids=tuple(Site.objects.values_list("id", flat=True)), **options)


def identified(**options: Any) -> ExportScope:
    return all_sites(identified=True, date_mode="actual", **options)


def run(writer: Any, scope: ExportScope, *args: Any) -> tuple[bytes, dict[str, int], int]:
    """The file a writer makes, its row counts, and the sum of its progress reports."""
    out, reported = io.BytesIO(), []
    counts = writer(scope, out, reported.append, *args)
    return out.getvalue(), counts, sum(reported)


def read_csv(data: bytes) -> Rows:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def read_zip(data: bytes) -> dict[str, Rows]:
    """{member name without ``.csv``: rows as dicts}."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name.removesuffix(".csv"): read_csv(archive.read(name)) for name in archive.namelist()}


def day1_of(participant_id: int) -> date:
    """Day 1: the randomisation date in the site's time zone."""
    allocation = Allocation.objects.select_related("site").get(participant_id=participant_id)
    return timezone.localtime(allocation.randomised_at, ZoneInfo(allocation.site.time_zone)).date()


def expected_study_day(day1: date, day: date) -> int:
    offset = (day - day1).days
    return offset + 1 if offset >= 0 else offset


def as_text(value: Any, zone: ZoneInfo) -> str:
    """A database value as the CSV should show it (written independently of the exporter)."""
    if value is None:
        return ""
    if value is True or value is False:
        return str(int(value))
    if isinstance(value, datetime):
        return timezone.localtime(value, zone).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def follow(record: Any, path: str) -> Any:
    """The value at a ``values()`` path (``visit__participant__screening_number``) from an ORM object."""
    value = record
    for part in path.split("__"):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def participant_of(record: Any, chosen: Dataset) -> int:
    return follow(record, chosen.participant_path)


def assert_rows_equal_database(chosen: Dataset, rows: Rows) -> None:
    """Every row of the dataset's CSV against the ORM object with its id, column by column."""
    records = {r.pk: r for r in chosen.model.objects.all()}
    assert sorted(int(row["record_id"]) for row in rows) == sorted(records), chosen.key
    for row in rows:
        record = records[int(row["record_id"])]
        zone = ZoneInfo(record.site.time_zone)
        participant_id = participant_of(record, chosen)
        for variable in chosen.variables:
            if variable.name == "participant":
                expected = follow(record, variable.source)
            elif variable.name == "study_day":
                day = follow(record, chosen.day_source)
                if isinstance(day, datetime):
                    day = timezone.localtime(day, zone).date()
                has_day1 = Allocation.objects.filter(participant_id=participant_id).exists()
                expected = expected_study_day(day1_of(participant_id), day) if has_day1 and day else None
            else:
                expected = follow(record, variable.source)
            assert row[variable.name] == as_text(expected, zone), (chosen.key, record.pk, variable.name)


# --- The values against the database --------------------------------------------------------------------------


class TestOnTheDemoData:
    """Against the demo data, made once for these tests."""

    def test_csv_per_form_equals_the_database_column_by_column(self, demo_data: None, db: Any) -> None:
        data, counts, reported = run(write_csv_per_form, identified())
        tables = read_zip(data)
        assert list(tables) == [d.key for d in datasets()]
        for chosen in datasets():
            assert counts[chosen.key] == len(tables[chosen.key]) == chosen.model.objects.count(), chosen.key
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                header = archive.read(f"{chosen.key}.csv").split(b"\r\n", 1)[0]
            assert not header.startswith(b"\xef\xbb\xbf")  # no byte-order mark
            assert header.decode().split(",") == [v.name for v in columns(chosen, identified())]
        assert reported == sum(counts.values())
        for key in ("PARTICIP", "ALLOC", "VISIT", "MRSS", "LABS", "HAQ", "AE", "EOS", "CONSENT"):
            assert tables[key], f"the demo data have no {key} rows to compare"
            assert_rows_equal_database(dataset(key), tables[key])

    def test_participant_visit_and_study_day(self, demo_data: None, db: Any) -> None:
        tables = read_zip(run(write_csv_per_form, all_sites(date_mode="study_day"))[0])
        visits = {v.pk: v for v in Visit.objects.select_related("participant").exclude(done_on=None)}
        done = [row for row in tables["VISIT"] if row["done_on"]]
        assert len(done) == len(visits)
        for row in done:
            visit = visits[int(row["record_id"])]
            assert row["participant"] == visit.participant.screening_number
            assert row["visit"] == visit.code
            day = expected_study_day(day1_of(visit.participant_id), visit.done_on)
            assert row["study_day"] == row["done_on"] == str(day)
            if visit.code == "D1":
                assert day == 1
        assert {row["visit"] for row in done} >= {"D1", "W2", "W4"}
        # Form rows take the study day of their visit.
        for row in tables["LABS"]:
            visit_row = next(v for v in done if v["participant"] == row["participant"] and v["visit"] == row["visit"])
            assert row["study_day"] == visit_row["study_day"]

    def test_shifted_dates_move_every_date_of_a_participant_by_the_same_days(self, demo_data: None, db: Any) -> None:
        actual = read_zip(run(write_csv_per_form, identified())[0])
        shifted = read_zip(run(write_csv_per_form, all_sites(date_mode="shifted"))[0])
        shifts: dict[str, set[int]] = {}
        for key, date_columns in (
            ("VISIT", ("done_on", "target_date")),
            ("SCRLABS", ("sampled_on",)),
            ("EOS", ("ended_on",)),
        ):
            for real, moved in zip(actual[key], shifted[key], strict=True):
                assert real["record_id"] == moved["record_id"]
                assert real["study_day"] == moved["study_day"]
                for name in date_columns:
                    if real[name]:
                        days = (date.fromisoformat(real[name]) - date.fromisoformat(moved[name])).days
                        shifts.setdefault(real["participant"], set()).add(days)
        assert all(len(days) == 1 for days in shifts.values()), shifts
        assert all(1 <= next(iter(days)) <= 365 for days in shifts.values())
        assert len({next(iter(days)) for days in shifts.values()}) > 1  # different participants, different shifts


# --- Codes, labels, cut-off, one dataset ---------------------------------------------------------------------


def test_codes_or_labels(trial: dict[str, Any]) -> None:
    codes = read_zip(run(write_csv_per_form, identified())[0])
    labels = read_zip(run(write_csv_per_form, identified(codes_as_labels=True))[0])
    forms = {f.pk: f for f in VisitMrss.objects.all()}
    assert len(codes["MRSS"]) == len(forms) > 0
    names = dict(VisitMrss._meta.get_field("face").choices)
    for coded, labelled in zip(codes["MRSS"], labels["MRSS"], strict=True):
        form = forms[int(coded["record_id"])]
        assert coded["face"] == str(form.face)
        assert labelled["face"] == str(names[form.face])  # "2 moderate"
        assert coded["status"] == form.status and labelled["status"] == "Complete"
        assert coded["unusual_values_confirmed"] in ("0", "1")
        assert labelled["unusual_values_confirmed"] == ("Yes" if form.unusual_values_confirmed else "No")
    sexes = {row["sex"] for row in labels["PARTICIP"]}
    assert sexes <= {"Female", "Male"} and sexes


def test_cut_off_gives_the_data_as_they_stood(trial: dict[str, Any], investigator: Any) -> None:
    """Everything in the fixture was entered today; one mRSS is then changed with a history moment two days on
    (as if the change were made after today's cut-off)."""
    today = timezone.localdate()
    form = VisitMrss.objects.filter(visit__code="W24").order_by("pk").first()
    before = form.face
    form.face = 3 if before != 3 else 0
    form._history_date = timezone.now() + timedelta(days=2)
    visit_form_save(record=form, by=investigator, complete=True, reason="transcription error")

    now = read_zip(run(write_csv_per_form, identified())[0])
    at_cut_off = read_zip(run(write_csv_per_form, identified(cut_off=today))[0])
    yesterday = read_zip(run(write_csv_per_form, identified(cut_off=today - timedelta(days=1)))[0])

    def face(tables: dict[str, Rows]) -> str:
        return next(row["face"] for row in tables["MRSS"] if row["record_id"] == str(form.pk))

    assert face(now) == str(form.face)
    assert face(at_cut_off) == str(before)
    # The other rows are the same either way, and nothing was entered by the end of yesterday.
    assert len(at_cut_off["MRSS"]) == len(now["MRSS"]) == VisitMrss.objects.count()
    assert at_cut_off["PARTICIP"] == now["PARTICIP"]
    assert all(rows == [] for rows in yesterday.values())


def test_one_dataset_as_a_csv(trial: dict[str, Any]) -> None:
    data, counts, reported = run(write_dataset_csv, identified(), "MRSS")
    rows = read_csv(data)
    assert counts == {"MRSS": len(rows)} and reported == len(rows) == VisitMrss.objects.count()
    assert list(rows[0]) == [v.name for v in columns(dataset("MRSS"), identified())]
    for row in rows:
        form = VisitMrss.objects.get(pk=row["record_id"])
        assert [int(row[code]) for code in MRSS_AREA_CODES] == [getattr(form, code) for code in MRSS_AREA_CODES]
        assert row["participant"] == form.visit.participant.screening_number and row["visit"] == form.visit.code
