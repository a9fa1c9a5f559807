"""The analysis datasets: ANVISIT and ANPART against the forms in the database, the primary endpoint against the
trial report and an independent sum of the mRSS areas, dates per mode, the end of study and the in-error flag."""

from __future__ import annotations

from statistics import mean
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from clinical.dates import age_in_years
from clinical.mrss import MRSS_AREA_CODES
from exports import reports
from exports.analysis import analysis_tables, write_analysis_csv
from exports.rows import people
from randomization.models import Allocation
from screening.models import Participant
from tests.exports.test_tabular import (  # noqa: F401 (demo_data is a fixture)
    Rows,
    all_sites,
    day1_of,
    demo_data,
    expected_study_day,
    identified,
    read_zip,
    run,
)
from visits.crfs import GlobalAssessment, HaqDi, InflammationMarkers, LabPanel, PulmonaryFunction, VisitMrss
from visits.models import EndOfStudy, Visit

pytestmark = pytest.mark.needs_postgres

FORM_VALUES = (
    (GlobalAssessment, ("patient_global", "physician_global")),
    (LabPanel, ("hb_g_dl", "wbc", "anc", "alc", "platelets", "alt", "creatinine_mg_dl")),
    (InflammationMarkers, ("esr_mm_h", "crp_mg_l")),
    (PulmonaryFunction, ("fvc_percent", "dlco_percent")),
)


def text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def summed_mrss(form: VisitMrss | None) -> int | None:
    """The total counted here: the 17 areas added up (None unless all are scored)."""
    if form is None:
        return None
    scores = [getattr(form, code) for code in MRSS_AREA_CODES]
    return None if None in scores else sum(scores)


def analysis(scope: Any) -> dict[str, Rows]:
    data, counts, reported = run(write_analysis_csv, scope)
    tables = read_zip(data)
    assert list(tables) == ["ANVISIT", "ANPART"]
    assert counts == {name: len(rows) for name, rows in tables.items()} and reported == sum(counts.values())
    return tables


def form_of(model: Any, visit: Visit) -> Any:
    return model.objects.filter(visit=visit).first()


@pytest.mark.usefixtures("demo_data")
class TestOnTheDemoData:
    """Against the demo data, made once for these tests."""

    def test_anvisit_has_one_row_per_visit_that_took_place_with_the_forms_values(self, db: Any) -> None:
        rows = analysis(identified())["ANVISIT"]
        visits = Visit.objects.filter(done_on__isnull=False, participant__allocation__isnull=False)
        assert len(rows) == visits.count() > 0
        by_key = {(v.participant.screening_number, v.code, v.done_on.isoformat()): v for v in visits}
        compared = {"mrss": 0, "haq": 0, "labs": 0}
        for row in rows:
            visit = by_key[(row["participant"], row["visit"], row["visit_date"])]
            allocation = Allocation.objects.get(participant_id=visit.participant_id)
            assert row["site"] == visit.site.code and row["arm"] == allocation.arm
            assert row["study_day"] == str(expected_study_day(day1_of(visit.participant_id), visit.done_on))
            mrss = form_of(VisitMrss, visit)
            assert row["mrss_total"] == text(summed_mrss(mrss))
            for code in MRSS_AREA_CODES:
                assert row[code] == text(getattr(mrss, code) if mrss else None)
            compared["mrss"] += mrss is not None
            haq = form_of(HaqDi, visit)
            assert row["haq_di"] == text(haq.result.score if haq else None)
            compared["haq"] += haq is not None
            for model, fields in FORM_VALUES:
                form = form_of(model, visit)
                for field in fields:
                    assert row[field] == text(getattr(form, field) if form else None), (model.__name__, field)
                compared["labs"] += model is LabPanel and form is not None
        assert all(compared.values()), compared
        d1 = [row for row in rows if row["visit"] == "D1"]
        assert d1 and all(row["study_day"] == "1" for row in d1)

    def test_anpart_primary_endpoint_agrees_with_the_report_and_the_forms(self, db: Any) -> None:
        rows = analysis(identified())["ANPART"]
        allocations = {a.participant.screening_number: a for a in Allocation.objects.select_related("participant")}
        assert sorted(row["participant"] for row in rows) == sorted(allocations)
        changes: dict[str, list[int]] = {}
        for row in rows:
            allocation = allocations[row["participant"]]
            participant: Participant = allocation.participant
            baseline = summed_mrss(VisitMrss.objects.filter(visit__participant=participant, visit__code="D1").first())
            week24 = summed_mrss(VisitMrss.objects.filter(visit__participant=participant, visit__code="W24").first())
            assert row["mrss_baseline"] == text(baseline) and row["mrss_w24"] == text(week24)
            change = week24 - baseline if baseline is not None and week24 is not None else None
            assert row["mrss_change"] == text(change)
            if change is not None:
                changes.setdefault(allocation.arm, []).append(change)
            haq = HaqDi.objects.filter(visit__participant=participant, visit__code="D1").first()
            assert row["haq_di_baseline"] == text(haq.result.score if haq else None)
            assert row["arm"] == allocation.arm and row["randomised_on"] == day1_of(participant.pk).isoformat()
            assert row["sex"] == participant.sex
            assert row["age_at_screening"] == str(age_in_years(participant.date_of_birth, participant.screening_date))
            assert row["duration_stratum"] == allocation.stratum.split("/")[1]
            assert row["in_error"] == text(allocation.in_error)
            ended = EndOfStudy.objects.filter(participant=participant).first()
            assert row["in_follow_up"] == text(ended is None)
            assert row["eos_reason"] == (ended.reason if ended else "")
            assert row["eos_date"] == (ended.ended_on.isoformat() if ended else "")
            assert row["completed"] == ("" if ended is None else text(ended.reason == "completed"))
        assert changes, "the demo data have no participant with both mRSS"
        statistician = get_user_model().objects.get(username="statistician")
        for endpoint in reports.primary_endpoint(statistician):
            mine = changes.get(endpoint.arm.code, [])
            assert endpoint.change.n == len(mine)
            if mine:
                assert endpoint.change.mean == pytest.approx(mean(mine))

    def test_study_days_and_shifted_dates(self, db: Any) -> None:
        by_day = analysis(all_sites(date_mode="study_day"))
        assert {row["randomised_on"] for row in by_day["ANPART"]} == {"1"}
        assert all(row["visit_date"] == row["study_day"] for row in by_day["ANVISIT"])
        actual, shifted = analysis(identified())["ANVISIT"], analysis(all_sites(date_mode="shifted"))["ANVISIT"]
        assert [r["study_day"] for r in shifted] == [r["study_day"] for r in actual]
        assert all(s["visit_date"] != a["visit_date"] for s, a in zip(shifted, actual, strict=True))

    def test_tables_stream_per_chunk_of_participants(self, db: Any) -> None:
        """Reading in chunks gives the same rows as reading at once (small chunks force several)."""
        import exports.analysis as module

        scope = identified()
        persons = people(scope)
        whole = [list(table.rows()) for table in analysis_tables(scope, persons)]
        saved, module.PARTICIPANTS_PER_CHUNK = module.PARTICIPANTS_PER_CHUNK, 3
        try:
            chunked = [list(table.rows()) for table in analysis_tables(scope, persons)]
        finally:
            module.PARTICIPANTS_PER_CHUNK = saved
        assert chunked == whole
        assert [len(rows) for rows in whole] <= [table.count() for table in analysis_tables(scope, persons)]


def test_end_of_study_and_randomised_in_error(trial: dict[str, Any], investigator: Any) -> None:
    allocation = Allocation.objects.get(participant=trial["randomised"][0])
    allocation.in_error = True
    allocation.error_reason = "randomised before the eligibility was confirmed"
    allocation.save(by=investigator, reason="randomised in error")
    rows = {row["participant"]: row for row in analysis(identified())["ANPART"]}
    assert len(rows) == len(trial["randomised"])
    numbers = [p.screening_number for p in trial["randomised"]]
    assert rows[numbers[0]]["in_error"] == "1" and rows[numbers[1]]["in_error"] == "0"
    for number, reason in zip(numbers[6:9], ("withdrawn", "lost", "death"), strict=True):
        assert (rows[number]["completed"], rows[number]["in_follow_up"], rows[number]["eos_reason"]) == (
            "0",
            "0",
            reason,
        )
    assert (rows[numbers[0]]["completed"], rows[numbers[0]]["in_follow_up"]) == ("", "1")
    # The fixture: D1 scored 2 per area for the first six, W24 1, 1 and 2 per area for the first three.
    assert [rows[n]["mrss_change"] for n in numbers[:4]] == ["-17", "-17", "0", ""]
    labelled = {r["participant"]: r for r in analysis(identified(codes_as_labels=True))["ANPART"]}
    assert labelled[numbers[8]]["eos_reason"] == "Death" and labelled[numbers[0]]["in_error"] == "Yes"
