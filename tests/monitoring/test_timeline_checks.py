"""The ``visit_form_date`` edit check: a possible but unusual date on a visit's form (outside the window of the visit
it belongs to) raises an automatic query on its field; a date within the window, or on the visit's own date, raises
none; a draft is not checked; a visit done outside its window is queried once, on the visit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from monitoring.models import DataQuery
from monitoring.services.edit_checks import VISIT_FORM_DATE, VISIT_WINDOW
from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import PregnancyTest, StudyDrug
from visits.models import Visit

DAY = timedelta(days=1)


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Participant:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=70), site, coordinator, investigator)


def done(participant: Participant, code: str, by: Any, *, days_late: int = 0) -> Visit:
    visit = participant.visits.get(code=code)
    day = visit.target_date if not days_late else visit.latest + days_late * DAY
    reason = "participant travelling" if days_late else ""
    return visit_services.visit_record_done(visit=visit, by=by, done_on=day, deviation_reason=reason)


def queries(check: str) -> list[tuple[int, str]]:
    return list(DataQuery.objects.filter(edit_check=check).order_by("pk").values_list("object_id", "field"))


def pregnancy_test(visit: Visit, by: Any, tested_on: Any, *, complete: bool = True) -> PregnancyTest:
    record = PregnancyTest.objects.filter(visit=visit).first() or PregnancyTest(visit=visit)
    record.result, record.tested_on = "negative", tested_on
    reason = "date corrected" if record.pk and record.status == "complete" else None
    visit_form_save(record=record, by=by, complete=complete, reason=reason)
    return record


def test_a_pregnancy_test_on_the_visit_day_raises_nothing_and_the_day_before_day_1_a_query(
    participant: Participant, coordinator: Any
) -> None:
    d1 = done(participant, "D1", coordinator)  # D1's window is Day 1 only
    record = pregnancy_test(d1, coordinator, d1.done_on)
    assert queries(VISIT_FORM_DATE) == []
    pregnancy_test(d1, coordinator, d1.done_on - DAY)
    assert queries(VISIT_FORM_DATE) == [(record.pk, "tested_on")]
    query = DataQuery.objects.get(edit_check=VISIT_FORM_DATE)
    assert query.status == "open" and query.raised_by is None
    assert f"{(d1.done_on - DAY).isoformat()} is outside the window of D1" in query.message


def test_a_draft_is_not_checked(participant: Participant, coordinator: Any) -> None:
    d1 = done(participant, "D1", coordinator)
    pregnancy_test(d1, coordinator, d1.done_on - 3 * DAY, complete=False)
    assert queries(VISIT_FORM_DATE) == []


def test_a_late_visit_is_queried_once_on_the_visit_not_again_on_its_forms(
    participant: Participant, coordinator: Any
) -> None:
    done(participant, "D1", coordinator)
    w4 = done(participant, "W4", coordinator, days_late=2)  # a pregnancy test on the late visit's own date
    record = PregnancyTest(visit=w4, result="negative", tested_on=w4.done_on)
    visit_form_save(record=record, by=coordinator, complete=True)
    assert queries(VISIT_WINDOW) == [(w4.pk, "done_on")]
    assert queries(VISIT_FORM_DATE) == []


def study_drug(visit: Visit, by: Any, period_start: Any) -> StudyDrug:
    record = StudyDrug.objects.filter(visit=visit).first() or StudyDrug(visit=visit)
    record.dispensed, record.returned, record.tablets_per_week = 100, 40, 7
    reason = "dispensing date corrected" if record.pk else None
    record.period_start = period_start
    visit_form_save(record=record, by=by, complete=True, reason=reason)
    return record


def test_the_study_drug_dispensed_within_the_previous_visits_window_passes_and_a_day_outside_raises_a_query(
    participant: Participant, coordinator: Any
) -> None:
    done(participant, "D1", coordinator)
    w2 = done(participant, "W2", coordinator)
    w4 = done(participant, "W4", coordinator)
    record = study_drug(w4, coordinator, w2.earliest)
    study_drug(w4, coordinator, w2.latest)
    assert queries(VISIT_FORM_DATE) == []
    study_drug(w4, coordinator, w2.latest + DAY)
    assert queries(VISIT_FORM_DATE) == [(record.pk, "period_start")]
    assert f"outside the window of W2 ({w2.earliest.isoformat()} to {w2.latest.isoformat()})" in (
        DataQuery.objects.get(edit_check=VISIT_FORM_DATE).message
    )
