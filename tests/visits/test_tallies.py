"""The reports' visit tallies (``VisitTally``): what each visit counts (its compliance, and while done its forms
required and entered) by the protocol's windows to the boundary day, kept by the services as the visits change,
equal to the visits and forms counted afresh; a tally changed behind the services' back is found and repaired by
``check_invariants``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from exports import reports
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import VitalSigns
from visits.invariants import open_visit_tallies_hold, visit_tallies_hold
from visits.models import OpenVisitTally, RequiredForm, VisitTally
from visits.progress import compliance, tallies_recount, tallies_stored, visit_counts

W2_TARGET = date(2026, 3, 15)  # W2: day 15, window ±3 (TRIAL.md)


def w2(done_on: date | None = None, *, missed: bool = False, cancelled: bool = False, code: str = "W2") -> str:
    window = timedelta(days=3)
    return compliance(
        code=code,
        done_on=done_on,
        earliest=W2_TARGET - window,
        latest=W2_TARGET + window,
        missed=missed,
        cancelled=cancelled,
    )


@pytest.mark.parametrize(
    ("days_from_target", "expected"),
    [(-4, "out_of_window"), (-3, "on_time"), (0, "on_time"), (3, "on_time"), (4, "out_of_window")],
)
def test_a_visit_done_on_the_first_or_last_day_of_its_window_is_on_time_and_a_day_beyond_is_not(
    days_from_target: int, expected: str
) -> None:
    assert w2(W2_TARGET + timedelta(days=days_from_target)) == expected


def test_a_visit_not_done_is_missed_no_longer_due_or_pending_and_an_unscheduled_visit_is_not_counted() -> None:
    assert w2(missed=True) == "missed"
    assert w2(cancelled=True) == "no_longer_due"
    assert w2(missed=True, cancelled=True) == "missed"
    assert w2() == "pending"
    assert w2(W2_TARGET, code="UNS") == ""


def test_a_visit_counts_its_forms_only_while_it_is_done_and_never_those_not_required() -> None:
    required = {"vitals": "entered", "labs": "required", "pregnancy": "not_required"}
    assert visit_counts(compliance="on_time", done=True, required=required) == {
        "on_time": 1, "forms_required": 2, "forms_entered": 1,
    }  # fmt: skip
    assert +visit_counts(compliance="pending", done=False, required=required) == {"pending": 1}
    assert +visit_counts(compliance="", done=True, required={}) == {}


def holds() -> bool:
    return visit_tallies_hold(repair=False).holds and open_visit_tallies_hold(repair=False).holds


@pytest.mark.django_db
def test_the_services_keep_the_tallies_and_the_reports_read_them(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    today = timezone.localdate()
    participant = randomised_on(today - timedelta(days=40), site, coordinator, investigator)
    scheduled = participant.visits.count()
    assert {row.code: row.not_yet_due + row.overdue for row in reports.visit_compliance(coordinator)} == {
        visit.code: 1 for visit in participant.visits.all()
    }
    assert reports.data_completeness(coordinator) == [] and holds()
    # Randomised 40 days ago: the windows of D1 (day 1), W2 (day 18 at the latest) and W4 (day 32) have closed.
    overdue = {row.code: row.overdue for row in reports.visit_compliance(coordinator) if row.overdue}
    assert overdue == {"D1": 1, "W2": 1, "W4": 1}

    visits = {visit.code: visit for visit in participant.visits.all()}
    services.visit_record_done(visit=visits["D1"], by=coordinator, done_on=visits["D1"].target_date)
    w2_visit = visits["W2"]
    services.visit_record_done(
        visit=w2_visit, by=coordinator, done_on=w2_visit.latest + timedelta(days=1), deviation_reason="came late"
    )
    services.visit_record_missed(visit=visits["W4"], by=coordinator, reason="in hospital")
    compliance_now = {row.code: row for row in reports.visit_compliance(coordinator)}
    assert (compliance_now["D1"].on_time, compliance_now["W2"].out_of_window, compliance_now["W4"].missed) == (1, 1, 1)
    assert compliance_now["W8"].overdue + compliance_now["W8"].not_yet_due == 1
    assert not any(row.overdue for row in compliance_now.values())  # done or missed: overdue no more
    d1_required = RequiredForm.objects.filter(visit=visits["D1"]).exclude(status="not_required").count()
    completeness = {row.code: (row.required, row.entered) for row in reports.data_completeness(coordinator)}
    assert completeness["D1"] == (d1_required, 0) and holds()

    vitals = VitalSigns(
        visit=visits["D1"], weight_kg=60, height_cm=160, systolic_bp=120, diastolic_bp=80, heart_rate=72,
        temperature_c=36.8,
    )  # fmt: skip
    visit_form_save(record=vitals, by=coordinator, complete=True)
    assert {row.code: row.entered for row in reports.data_completeness(coordinator)}["D1"] == 1
    visit_form_save(record=vitals, by=coordinator, complete=False, reason="blood pressure to check")  # a draft again
    assert {row.code: row.entered for row in reports.data_completeness(coordinator)}["D1"] == 0  # entered no more
    assert holds()

    services.end_of_study_record(
        participant=participant, by=investigator, ended_on=today, reason="withdrawn", details="moved away"
    )
    after = {row.code: row for row in reports.visit_compliance(coordinator)}
    assert sum(row.no_longer_due for row in after.values()) == scheduled - 3  # all but D1, W2 and W4
    assert holds()


@pytest.mark.django_db
def test_a_tally_changed_behind_the_services_back_is_found_and_counted_afresh(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    services.visit_record_done(visit=d1, by=coordinator, done_on=d1.target_date)
    assert holds()
    VisitTally.objects.filter(site=site, code="D1").update(on_time=5, forms_entered=3)
    VisitTally.objects.filter(site=site, code="W2").delete()

    finding = visit_tallies_hold(repair=False)
    assert not finding.holds
    assert sorted(problem.split(":")[0] for problem in finding.problems) == [
        f"site {site.pk} visit D1", f"site {site.pk} visit W2",
    ]  # fmt: skip
    assert {row.code: row.on_time for row in reports.visit_compliance(coordinator)}["D1"] == 5  # the page is wrong

    repaired = visit_tallies_hold(repair=True)
    assert repaired.holds and len(repaired.repaired) == 2
    assert tallies_stored() == {key: +counts for key, counts in tallies_recount().items() if +counts}
    assert {row.code: row.on_time for row in reports.visit_compliance(coordinator)}["D1"] == 1
    assert holds()


@pytest.mark.django_db
def test_an_open_visit_tally_changed_behind_the_services_back_is_found_and_counted_afresh(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    participant = randomised_on(timezone.localdate() - timedelta(days=40), site, coordinator, investigator)
    d1 = participant.visits.get(code="D1")
    OpenVisitTally.objects.filter(site=site, code="D1", closes_on=d1.latest).update(visits=4)
    assert {row.code: row.overdue for row in reports.visit_compliance(coordinator)}["D1"] == 4  # the page is wrong

    finding = open_visit_tallies_hold(repair=False)
    assert finding.problems == [f"site {site.pk} visit D1 closing {d1.latest:%Y-%m-%d}: tally 4, counted 1"]
    assert open_visit_tallies_hold(repair=True).holds and holds()
    assert {row.code: row.overdue for row in reports.visit_compliance(coordinator)}["D1"] == 1
