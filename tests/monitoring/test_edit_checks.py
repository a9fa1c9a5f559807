"""Edit checks raise automatic queries on both sides of their boundaries, never on a draft, never twice, and never
break the save that ran them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from clinical.mrss import MRSS_AREAS
from monitoring.models import DataQuery
from monitoring.services import queries as services
from monitoring.services.edit_checks import edit_checks_run
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.crf_services import visit_form_save
from visits.crfs import VisitMrss, VitalSigns
from visits.models import Visit

VITALS = {"weight_kg": 60.0, "height_cm": 160.0, "systolic_bp": 120.0, "diastolic_bp": 80.0, "heart_rate": 70.0,
          "temperature_c": 36.8}  # fmt: skip
SCREENING_TOTAL = 17  # tests.screening.factories.screen_eligible scores 1 in each of the 17 areas


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Any:
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=70), site, coordinator, investigator)


@pytest.fixture
def monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="monitor")


def done(participant: Any, code: str, by: Any, *, shift: int = 0) -> Visit:
    """The visit done on its target date, or ``shift`` days after its window's edge (+ after latest, − before
    earliest), with the deviation's reason."""
    visit = participant.visits.get(code=code)
    day = visit.target_date
    if shift > 0:
        day = visit.latest + timedelta(days=shift)
    elif shift < 0:
        day = visit.earliest + timedelta(days=shift)
    reason = "participant travelling" if shift else ""
    return visit_services.visit_record_done(visit=visit, by=by, done_on=day, deviation_reason=reason)


def scores(total: int) -> dict[str, int]:
    """Area scores (0–3) adding up to ``total``."""
    values = {}
    left = total
    for code, _label in MRSS_AREAS:
        values[code] = min(3, left)
        left -= values[code]
    assert left == 0
    return values


def mrss(visit: Visit, by: Any, total: int, *, complete: bool = True, reason: str | None = None) -> VisitMrss:
    record = VisitMrss.objects.filter(visit=visit).first() or VisitMrss(visit=visit, assessor=by)
    for code, value in scores(total).items():
        setattr(record, code, value)
    visit_form_save(record=record, by=by, complete=complete, reason=reason)
    return record


def automatic(check: str) -> list[DataQuery]:
    return list(DataQuery.objects.filter(edit_check=check).order_by("pk"))


def test_an_mrss_change_of_15_points_passes_and_16_raises_a_query(participant: Any, investigator: Any) -> None:
    d1, w4 = done(participant, "D1", investigator), done(participant, "W4", investigator)
    mrss(d1, investigator, SCREENING_TOTAL)  # D1 against the screening mRSS: no change
    w4_form = mrss(w4, investigator, SCREENING_TOTAL + 15)
    assert automatic("mrss_change") == []
    mrss(w4, investigator, SCREENING_TOTAL + 16, reason="area re-scored")
    (query,) = automatic("mrss_change")
    assert (query.object_id, query.field, query.raised_by, query.status) == (w4_form.pk, "", None, "open")
    assert "The mRSS total at W4 is 33, +16 points from D1 (17)" in query.message
    assert list(query.messages.values_list("action", "author")) == [("raised", None)]
    # Saved again, still beyond: no second query while the first is unresolved.
    mrss(w4, investigator, SCREENING_TOTAL + 20, reason="re-scored again")
    assert len(automatic("mrss_change")) == 1


def test_a_falling_mrss_and_a_corrected_earlier_visit_are_checked_too(participant: Any, investigator: Any) -> None:
    d1, w4 = done(participant, "D1", investigator), done(participant, "W4", investigator)
    mrss(d1, investigator, 40)  # 17 at screening → 40 at D1: +23
    (first,) = automatic("mrss_change")
    assert first.object_id == VisitMrss.objects.get(visit=d1).pk and "from screening (17)" in first.message
    w4_form = mrss(w4, investigator, 24)  # 40 → 24: −16
    assert [q.object_id for q in automatic("mrss_change")] == [first.object_id, w4_form.pk]
    assert "-16 points from D1 (40)" in automatic("mrss_change")[1].message


def test_a_draft_is_not_checked_until_it_is_complete(participant: Any, investigator: Any) -> None:
    d1 = done(participant, "D1", investigator)
    mrss(d1, investigator, SCREENING_TOTAL + 30, complete=False)
    vitals = VitalSigns(visit=d1, **{**VITALS, "weight_kg": 150.0}, unusual_values_confirmed=True)
    visit_form_save(record=vitals, by=investigator, complete=False)
    assert not DataQuery.objects.exists()
    mrss(d1, investigator, SCREENING_TOTAL + 30, complete=True)
    visit_form_save(record=vitals, by=investigator, complete=True)
    assert len(automatic("mrss_change")) == 1 and len(automatic("soft_limit")) == 1


@pytest.mark.parametrize(
    ("field", "boundary", "beyond"),
    [("weight_kg", 120.0, 120.5), ("weight_kg", 30.0, 29.9), ("temperature_c", 38.5, 38.6)],
    ids=["weight high", "weight low", "temperature high"],
)
def test_a_value_at_its_soft_limit_passes_and_just_beyond_raises_a_query(
    participant: Any, coordinator: Any, field: str, boundary: float, beyond: float
) -> None:
    d1 = done(participant, "D1", coordinator)
    vitals = VitalSigns(visit=d1, **{**VITALS, field: boundary})
    visit_form_save(record=vitals, by=coordinator, complete=True)
    assert not DataQuery.objects.exists()
    vitals.unusual_values_confirmed = True
    setattr(vitals, field, beyond)
    visit_form_save(record=vitals, by=coordinator, complete=True, reason="re-measured")
    (query,) = automatic("soft_limit")
    assert (query.field, query.object_id, query.status) == (field, vitals.pk, "open")
    low, high = {"weight_kg": ("30", "120"), "temperature_c": ("35.5", "38.5")}[field]
    assert f"{beyond:g} is outside the expected range {low} to {high}" in query.message


def test_one_query_per_field_beyond_its_limit(participant: Any, coordinator: Any) -> None:
    d1 = done(participant, "D1", coordinator)
    values = {**VITALS, "weight_kg": 130.0, "heart_rate": 130.0, "systolic_bp": 200.0}
    visit_form_save(record=VitalSigns(visit=d1, **values, unusual_values_confirmed=True), by=coordinator, complete=True)
    assert sorted(q.field for q in automatic("soft_limit")) == ["heart_rate", "systolic_bp", "weight_kg"]


def test_a_query_closed_after_review_is_not_raised_again_for_the_same_value(
    participant: Any, coordinator: Any, monitor: Any
) -> None:
    d1 = done(participant, "D1", coordinator)
    vitals = VitalSigns(visit=d1, **{**VITALS, "weight_kg": 130.0}, unusual_values_confirmed=True)
    visit_form_save(record=vitals, by=coordinator, complete=True)
    (query,) = automatic("soft_limit")
    services.query_answer(query=query, by=coordinator, text="Weighed twice: 130 kg.")
    services.query_close(query=query, by=monitor)  # any monitor closes an edit check's query
    vitals.heart_rate = 72.0
    visit_form_save(record=vitals, by=coordinator, complete=True, reason="heart rate re-counted")
    assert len(automatic("soft_limit")) == 1
    vitals.weight_kg = 131.0
    visit_form_save(record=vitals, by=coordinator, complete=True, reason="scale re-calibrated")
    assert [q.status for q in automatic("soft_limit")] == ["closed", "open"]


def test_a_visit_in_its_window_passes_and_outside_raises_a_query_on_its_date(
    participant: Any, coordinator: Any
) -> None:
    done(participant, "D1", coordinator)
    w4 = participant.visits.get(code="W4")
    visit_services.visit_record_done(visit=w4, by=coordinator, done_on=w4.latest)
    w8 = participant.visits.get(code="W8")
    visit_services.visit_record_done(visit=w8, by=coordinator, done_on=w8.earliest)
    assert not DataQuery.objects.exists()
    w4 = visit_services.visit_record_done(
        visit=w4, by=coordinator, done_on=w4.latest + timedelta(days=1), deviation_reason="participant travelling"
    )
    w8 = done(participant, "W8", coordinator, shift=-1)
    queries = automatic("visit_window")
    assert [(q.object_id, q.field) for q in queries] == [(w4.pk, "done_on"), (w8.pk, "done_on")]
    assert "outside its window" in queries[0].message and "participant travelling" in queries[0].message
    page = _client(coordinator).get(f"/monitoring/queries/{queries[0].pk}/").content.decode()
    assert f'href="/visits/{w4.pk}/"' in page  # the query links to the visit's page


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_failing_edit_check_does_not_break_the_save(
    participant: Any, coordinator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    d1 = done(participant, "D1", coordinator)
    broken = VitalSigns(visit=d1, site=d1.site, **{**VITALS, "weight_kg": "heavy"}, status="complete")
    with caplog.at_level(logging.ERROR, logger="monitoring.services.edit_checks"):
        edit_checks_run(broken, by=coordinator)  # a value that cannot be compared: logged, not raised
    assert "soft_limit_findings failed" in caplog.text
    assert not DataQuery.objects.exists()
