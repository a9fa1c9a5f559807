"""The further visit CRFs: ESR and CRP, lipids, FVC and DLCO, pregnancy test, study drug (adherence by pill
count), concomitant medications (oral corticosteroid as prednisone equivalent)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.visits.test_crfs import row_status, save
from tests.visits.test_schedule import randomised_on
from trial_site import registry
from trial_site.protocol import PROTOCOL
from visits import services
from visits.crfs import (
    ConcomitantMedications,
    InflammationMarkers,
    Lipids,
    PregnancyTest,
    PulmonaryFunction,
    StudyDrug,
    crf_by_code,
)
from visits.models import Visit

NEW_FORMS = (InflammationMarkers, Lipids, PulmonaryFunction, PregnancyTest, StudyDrug, ConcomitantMedications)


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> Participant:
    """A woman of childbearing potential randomised 90 days ago (so visits up to W12 can have taken place)."""
    return randomised_on(timezone.localdate() - timedelta(days=90), site, coordinator, investigator)


def day1(participant: Participant) -> date:
    return participant.visits.get(code="D1").target_date


def done(participant: Participant, code: str, by: Any) -> Visit:
    """The participant's visit ``code``, recorded as done on its target day."""
    visit = participant.visits.get(code=code)
    return services.visit_record_done(visit=visit, by=by, done_on=visit.target_date)


def refused(model: type, visit: Visit, by: Any, values: dict[str, Any], *, complete: bool = True) -> dict[str, Any]:
    """Save is refused: the messages by field; nothing was saved. (On a fresh copy of the visit: a new form
    instance is cached on the visit it is made for, refused or not.)"""
    with pytest.raises(ValidationError) as error:
        save(model, Visit.objects.get(pk=visit.pk), by, values, complete=complete)
    assert not model.objects.exists()
    return error.value.message_dict


def test_every_new_form_is_a_visit_crf_of_the_protocol() -> None:
    for model in NEW_FORMS:
        assert crf_by_code(model.form_code) is model
        assert model.form_code in registry.visit_form_labels()
    assert {model.form_code for model in NEW_FORMS} == {"inflammation", "lipids", "pft", "pregnancy", "drug",
                                                        "conmeds"}  # fmt: skip


def test_no_label_help_text_or_choice_of_the_new_forms_names_a_study_drug() -> None:
    drugs = [arm.drug.lower() for arm in PROTOCOL.arms]
    for model in NEW_FORMS:
        texts = [str(model._meta.verbose_name), str(model._meta.verbose_name_plural)]
        for field in model._meta.get_fields():
            texts += [str(getattr(field, "verbose_name", "")), str(getattr(field, "help_text", ""))]
            texts += [str(label) for _value, label in getattr(field, "choices", None) or ()]
        for text in texts:
            assert not any(drug in text.lower() for drug in drugs), (model, text)


# ESR and CRP (D1 requires it)


def test_esr_and_crp_complete_marks_the_row_entered(participant: Participant, coordinator: Any) -> None:
    d1 = done(participant, "D1", coordinator)
    assert row_status(d1, "inflammation") == "required"
    assert set(refused(InflammationMarkers, d1, coordinator, {"esr_mm_h": 20.0})) == {"crp_mg_l"}
    record = save(InflammationMarkers, d1, coordinator, {"esr_mm_h": 20.0, "crp_mg_l": 4.5}, complete=True)
    assert row_status(d1, "inflammation") == "entered"
    assert (record.status, record.esr_mm_h, record.crp_mg_l) == ("complete", 20.0, 4.5)


def test_esr_and_crp_hard_limits_refuse_and_soft_limits_ask_for_confirmation(
    participant: Participant, coordinator: Any
) -> None:
    d1 = done(participant, "D1", coordinator)
    assert "esr_mm_h" in refused(InflammationMarkers, d1, coordinator, {"esr_mm_h": 151.0, "crp_mg_l": 4.0})
    assert "crp_mg_l" in refused(InflammationMarkers, d1, coordinator, {"esr_mm_h": 20.0, "crp_mg_l": -1.0})
    messages = refused(InflammationMarkers, d1, coordinator, {"esr_mm_h": 20.0, "crp_mg_l": 180.0})
    assert set(messages) == {"crp_mg_l", "unusual_values_confirmed"}
    values = {"esr_mm_h": 20.0, "crp_mg_l": 180.0, "unusual_values_confirmed": True}
    assert save(InflammationMarkers, d1, coordinator, values, complete=True).crp_mg_l == 180.0


# Lipids (W12 requires them)


LIPIDS = {"total_cholesterol": 5.2, "ldl_cholesterol": 3.1, "hdl_cholesterol": 1.3, "triglycerides": 1.4}


def test_lipids_complete_marks_the_w12_row_entered(participant: Participant, coordinator: Any) -> None:
    w12 = done(participant, "W12", coordinator)
    assert row_status(w12, "lipids") == "required"
    assert set(refused(Lipids, w12, coordinator, {"total_cholesterol": 5.2})) == {
        "ldl_cholesterol", "hdl_cholesterol", "triglycerides"
    }  # fmt: skip
    save(Lipids, w12, coordinator, LIPIDS, complete=True)
    assert row_status(w12, "lipids") == "entered"


def test_ldl_and_hdl_cannot_exceed_the_total_cholesterol(participant: Participant, coordinator: Any) -> None:
    w12 = done(participant, "W12", coordinator)
    messages = refused(Lipids, w12, coordinator, {**LIPIDS, "ldl_cholesterol": 4.0, "hdl_cholesterol": 1.3})
    assert list(messages) == ["ldl_cholesterol"]
    assert "cannot exceed the total cholesterol" in messages["ldl_cholesterol"][0]
    # Exactly equal is allowed, even where floating-point addition overshoots (3.1 + 1.2 = 4.300000000000001).
    values = {**LIPIDS, "total_cholesterol": 4.3, "ldl_cholesterol": 3.1, "hdl_cholesterol": 1.2}
    assert save(Lipids, w12, coordinator, values, complete=True).status == "complete"


def test_lipid_hard_limits_refuse(participant: Participant, coordinator: Any) -> None:
    w12 = done(participant, "W12", coordinator)
    assert "triglycerides" in refused(Lipids, w12, coordinator, {**LIPIDS, "triglycerides": 0.0})


# FVC and DLCO (D1 requires them)


def test_fvc_and_dlco_complete_marks_the_row_entered(participant: Participant, investigator: Any) -> None:
    d1 = done(participant, "D1", investigator)
    assert "uncorrected" in str(PulmonaryFunction._meta.get_field("dlco_percent").verbose_name)
    assert set(refused(PulmonaryFunction, d1, investigator, {"fvc_percent": 78.0})) == {"dlco_percent"}
    assert "fvc_percent" in refused(PulmonaryFunction, d1, investigator, {"fvc_percent": 4.0, "dlco_percent": 60.0})
    save(PulmonaryFunction, d1, investigator, {"fvc_percent": 78.0, "dlco_percent": 61.0}, complete=True)
    assert row_status(d1, "pft") == "entered"


# Pregnancy test (D1 requires it for a woman of childbearing potential)


def test_pregnancy_test_complete_marks_the_row_entered(participant: Participant, coordinator: Any) -> None:
    d1 = done(participant, "D1", coordinator)
    assert row_status(d1, "pregnancy") == "required"
    assert set(refused(PregnancyTest, d1, coordinator, {"result": "negative"})) == {"tested_on"}
    save(PregnancyTest, d1, coordinator, {"result": "negative", "tested_on": d1.done_on}, complete=True)
    assert row_status(d1, "pregnancy") == "entered"


def test_the_pregnancy_test_date_is_not_after_the_visit_nor_in_the_future(
    participant: Participant, coordinator: Any
) -> None:
    d1 = done(participant, "D1", coordinator)
    next_day = {"result": "negative", "tested_on": d1.done_on + timedelta(days=1)}
    assert "after the visit" in refused(PregnancyTest, d1, coordinator, next_day)["tested_on"][0]
    tomorrow = {"tested_on": timezone.localdate() + timedelta(days=1)}
    assert "in the future" in refused(PregnancyTest, d1, coordinator, tomorrow, complete=False)["tested_on"][0]
    values = {"result": "positive", "tested_on": d1.done_on - timedelta(days=2)}
    assert save(PregnancyTest, d1, coordinator, values, complete=True).result == "positive"


# Study drug (W2, W4 … require it)


def drug_values(participant: Participant, **changes: Any) -> dict[str, Any]:
    """Tablets dispensed on Day 1, 7 a week: at W4 (Day 29) the period is 28 days."""
    return {"dispensed": 30, "returned": 4, "period_start": day1(participant), "tablets_per_week": 7.0,
            "current_dose": "4 mg once daily"} | changes  # fmt: skip


def test_study_drug_complete_marks_the_row_entered_and_computes_adherence(
    participant: Participant, coordinator: Any
) -> None:
    w4 = done(participant, "W4", coordinator)
    assert row_status(w4, "drug") == "required"
    assert set(refused(StudyDrug, w4, coordinator, {"current_dose": "4 mg once daily"})) == {
        "dispensed", "returned", "period_start", "tablets_per_week"
    }  # fmt: skip
    record = save(StudyDrug, w4, coordinator, drug_values(participant), complete=True)
    assert row_status(w4, "drug") == "entered"
    assert (w4.done_on - record.period_start).days == 28
    assert record.period_end == w4.done_on - timedelta(days=1)
    assert record.expected_tablets == 28
    assert record.adherence == pytest.approx(26 / 28 * 100)  # 92.86 %
    assert round(StudyDrug.objects.get().adherence, 2) == 92.86


def test_adherence_of_a_weekly_dose_and_when_it_cannot_be_computed(participant: Participant, coordinator: Any) -> None:
    w4 = done(participant, "W4", coordinator)
    # ten tablets once a week for 28 days: 40 expected; 50 − 14 = 36 taken → 90 %
    record = save(StudyDrug, w4, coordinator, drug_values(participant, dispensed=50, returned=14,
                                                          tablets_per_week=10.0), complete=True)  # fmt: skip
    assert record.adherence == pytest.approx(90.0)
    assert StudyDrug(visit=w4, dispensed=30, returned=4).adherence is None  # no period start, no tablets per week
    held_all_period = StudyDrug(visit=w4, **drug_values(participant, tablets_per_week=0.0))
    assert held_all_period.adherence is None  # nothing expected: no percentage


def test_more_tablets_returned_than_dispensed_is_refused(participant: Participant, coordinator: Any) -> None:
    w4 = done(participant, "W4", coordinator)
    messages = refused(StudyDrug, w4, coordinator, drug_values(participant, dispensed=30, returned=31))
    assert list(messages) == ["returned"]
    assert StudyDrug(visit=w4, **drug_values(participant, returned=31)).adherence is None


def test_the_period_starts_before_the_visit(participant: Participant, coordinator: Any) -> None:
    w4 = done(participant, "W4", coordinator)
    for start in (w4.done_on, w4.done_on + timedelta(days=1)):
        messages = refused(StudyDrug, w4, coordinator, drug_values(participant, period_start=start))
        assert list(messages) == ["period_start"]


def test_a_dose_change_needs_its_reason(participant: Participant, coordinator: Any) -> None:
    w4 = done(participant, "W4", coordinator)
    assert list(refused(StudyDrug, w4, coordinator, drug_values(participant, dose_changed=True))) == [
        "dose_change_reason"
    ]
    assert list(refused(StudyDrug, w4, coordinator, drug_values(participant, dose_change_reason="eGFR 52"))) == [
        "dose_change_reason"
    ]
    values = drug_values(participant, dose_changed=True, dose_change_reason="eGFR 52", current_dose="2 mg once daily")
    assert save(StudyDrug, w4, coordinator, values, complete=True).dose_changed


def test_an_interruption_is_left_out_of_the_tablets_expected(participant: Participant, coordinator: Any) -> None:
    w4 = done(participant, "W4", coordinator)
    start = day1(participant)
    # held 7 days (Day 8 to Day 14) of the 28: 21 expected; 30 − 9 = 21 taken → 100 %
    values = drug_values(participant, returned=9, interrupted=True, interruption_from=start + timedelta(days=7),
                         interruption_to=start + timedelta(days=13), interruption_reason="ALC 0.4")  # fmt: skip
    record = save(StudyDrug, w4, coordinator, values, complete=True)
    assert record.expected_tablets == pytest.approx(21)
    assert record.adherence == pytest.approx(100.0)
    # still held at the visit: it ends, on the form, the day before the visit
    last_day = w4.done_on - timedelta(days=1)
    values = {"interruption_from": last_day - timedelta(days=6), "interruption_to": last_day}
    record = save(StudyDrug, w4, coordinator, values, complete=True, reason="hold went on to the visit")
    assert record.adherence == pytest.approx(21 / 21 * 100)


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"interruption_from": 7, "interruption_to": 13}, {"interruption_reason"}),
        ({"interruption_reason": "ALC 0.4"}, {"interruption_from", "interruption_to"}),
        ({"interruption_from": 13, "interruption_to": 7, "interruption_reason": "x"}, {"interruption_to"}),
        ({"interruption_from": -1, "interruption_to": 7, "interruption_reason": "x"}, {"interruption_from"}),
        ({"interruption_from": 20, "interruption_to": 28, "interruption_reason": "x"}, {"interruption_to"}),
        ({"interruption_from": 28, "interruption_to": 30, "interruption_reason": "x"},
         {"interruption_from", "interruption_to"}),
        ({"interrupted": False, "interruption_from": 7, "interruption_to": 13, "interruption_reason": "x"},
         {"interruption_from", "interruption_to", "interruption_reason"}),
    ],
    ids=["no reason", "no dates", "ends before it starts", "starts before the period", "ends on the visit day",
         "after the period", "dates without an interruption"],
)  # fmt: skip
def test_interruption_dates_and_reason_are_checked(
    participant: Participant, coordinator: Any, changes: dict[str, Any], fields: set[str]
) -> None:
    """Day offsets from Day 1; W4 is Day 29, so the period is offsets 0 to 27."""
    w4 = done(participant, "W4", coordinator)
    start = day1(participant)
    values = {"interrupted": True} | {
        name: start + timedelta(days=value) if name.startswith("interruption_") and name != "interruption_reason"
        else value
        for name, value in changes.items()
    }  # fmt: skip
    assert set(refused(StudyDrug, w4, coordinator, drug_values(participant, **values))) == fields


# Concomitant medications (W2 requires them)


def test_conmeds_complete_needs_the_review_and_marks_the_row_entered(
    participant: Participant, investigator: Any
) -> None:
    w2 = done(participant, "W2", investigator)
    assert row_status(w2, "conmeds") == "required"
    messages = refused(ConcomitantMedications, w2, investigator, {"steroid_drug": "none"})
    assert list(messages) == ["reviewed"]
    assert set(refused(ConcomitantMedications, w2, investigator, {"reviewed": True})) == {"steroid_drug"}
    save(ConcomitantMedications, w2, investigator, {"steroid_drug": "none"}, complete=False)
    assert row_status(w2, "conmeds") == "required"
    record = save(ConcomitantMedications, w2, investigator, {"reviewed": True, "changes": ""}, complete=True)
    assert row_status(w2, "conmeds") == "entered"
    assert record.prednisone_equivalent_mg_day == 0.0


@pytest.mark.parametrize(
    ("drug", "dose", "prednisone"),
    [("prednisolone", 7.5, 7.5), ("methylprednisolone", 8.0, 10.0), ("dexamethasone", 1.5, 10.0),
     ("hydrocortisone", 20.0, 5.0), ("deflazacort", 12.0, 10.0)],
)  # fmt: skip
def test_the_oral_corticosteroid_is_computed_as_prednisone_equivalent(
    participant: Participant, coordinator: Any, drug: str, dose: float, prednisone: float
) -> None:
    w2 = done(participant, "W2", coordinator)
    values = {"reviewed": True, "steroid_drug": drug, "steroid_dose_mg_day": dose}
    record = save(ConcomitantMedications, w2, coordinator, values, complete=True)
    assert (
        ConcomitantMedications.objects.get().prednisone_equivalent_mg_day
        == prednisone
        == (record.prednisone_equivalent_mg_day)
    )


def test_a_corticosteroid_dose_needs_its_drug_and_a_drug_its_dose(participant: Participant, coordinator: Any) -> None:
    w2 = done(participant, "W2", coordinator)
    for values, complete in (
        ({"reviewed": True, "steroid_drug": "none", "steroid_dose_mg_day": 5.0}, True),
        ({"steroid_dose_mg_day": 5.0}, False),
        ({"reviewed": True, "steroid_drug": "prednisolone"}, True),
    ):
        messages = refused(ConcomitantMedications, w2, coordinator, values, complete=complete)
        assert list(messages) == ["steroid_dose_mg_day"], values
    save(ConcomitantMedications, w2, coordinator, {"steroid_drug": "prednisolone"}, complete=False)  # a draft may wait
    assert ConcomitantMedications(steroid_drug="prednisolone").prednisone_equivalent_mg_day is None


# Who may enter them


def test_coordinators_and_investigators_enter_them_but_not_a_statistician(
    participant: Participant, coordinator: Any, statistician: Any
) -> None:
    w2 = done(participant, "W2", coordinator)
    with pytest.raises(PermissionDenied):
        save(ConcomitantMedications, w2, statistician, {"reviewed": True}, complete=False)
    assert not ConcomitantMedications.objects.exists()


def test_the_forms_open_for_site_staff_and_the_study_drug_form_not_for_a_blinded_assessor(
    participant: Participant, coordinator: Any, assessor: Any
) -> None:
    d1, w2 = done(participant, "D1", coordinator), done(participant, "W2", coordinator)
    client = Client()
    client.force_login(coordinator)
    for visit, code in ((d1, "inflammation"), (d1, "pft"), (d1, "pregnancy"), (w2, "drug"), (w2, "conmeds")):
        response = client.get(f"/visits/{visit.pk}/forms/{code}/")
        assert response.status_code == 200, code
    data = {"dispensed": "30", "returned": "20", "period_start": day1(participant).isoformat(),
            "tablets_per_week": "7", "complete": "1"}  # fmt: skip
    refused = client.post(f"/visits/{w2.pk}/forms/drug/", data)  # the dose questions start empty: no silent "no"
    assert refused.status_code == 200
    assert set(refused.context["form"].errors) == {"dose_changed", "interrupted"}
    response = client.post(f"/visits/{w2.pk}/forms/drug/", {**data, "dose_changed": "False", "interrupted": "False"})
    assert response.status_code == 302
    assert round(StudyDrug.objects.get().adherence, 1) == 71.4  # 10 taken of 14 expected
    assert row_status(w2, "drug") == "entered"
    client.force_login(assessor)
    assert client.get(f"/visits/{w2.pk}/forms/drug/").status_code == 403
