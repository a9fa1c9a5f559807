"""Visit case report forms: computed values, limits, draft and complete, the grid, reasons, and who may enter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import GlobalAssessment, HaqDi, LabPanel, VisitMrss, VitalSigns
from visits.models import RequiredForm, Visit


@pytest.fixture
def in_use(statistician: Any) -> Any:
    return list_in_use(statistician)


@pytest.fixture
def d1(site: Any, coordinator: Any, investigator: Any, in_use: Any) -> Visit:
    """Baseline (D1), done, of a woman randomised 10 days ago."""
    participant = randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)
    visit = participant.visits.get(code="D1")
    return services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)


FULL_LABS = {"hb_g_dl": 12.5, "wbc": 6.0, "anc": 3.5, "alc": 1.8, "platelets": 240.0, "alt": 25.0, "alt_uln": 40.0,
             "creatinine": 0.8, "creatinine_unit": "mg/dL"}  # fmt: skip


def save(
    model: type, visit: Visit, by: Any, values: dict[str, Any], *, complete: bool, reason: str | None = None
) -> Any:
    record = getattr(visit, model.visit_accessor(), None) or model(visit=visit)
    for name, value in values.items():
        setattr(record, name, value)
    visit_form_save(record=record, by=by, complete=complete, reason=reason)
    return record


def row_status(visit: Visit, form: str) -> str:
    return RequiredForm.objects.get(visit=visit, form=form).status


def test_a_draft_keeps_the_form_required_and_complete_marks_it_entered(d1: Visit, coordinator: Any) -> None:
    save(LabPanel, d1, coordinator, {"hb_g_dl": 12.5}, complete=False)
    assert row_status(d1, "labs") == "required"
    with pytest.raises(ValidationError) as error:
        save(LabPanel, d1, coordinator, {}, complete=True)
    assert "wbc" in error.value.message_dict
    save(LabPanel, d1, coordinator, FULL_LABS, complete=True)
    assert row_status(d1, "labs") == "entered"
    assert LabPanel.objects.get().status == "complete"


def test_lab_values_are_graded_by_ctcae_and_egfr_computed(d1: Visit, coordinator: Any) -> None:
    labs = LabPanel(visit=d1, **{**FULL_LABS, "hb_g_dl": 9.0, "anc": 0.9, "alt": 130.0}, unusual_values_confirmed=True)
    visit_form_save(record=labs, by=coordinator, complete=True)
    labs = LabPanel.objects.get()
    by_test = {grade.test.lower(): grade.grade for grade in labs.grades()}
    assert any("haemoglobin" in test and grade == 2 for test, grade in by_test.items())
    assert any("neutrophil" in test and grade == 3 for test, grade in by_test.items())
    assert any("alt" in test and grade == 2 for test, grade in by_test.items())
    assert 80 < labs.egfr < 120


@pytest.mark.parametrize(
    ("values", "field"),
    [({"anc": 7.0, "wbc": 6.0}, "anc"), ({"hb_g_dl": 80.0}, "hb_g_dl"), ({"platelets": -1.0}, "platelets")],
    ids=["neutrophils above white cells", "Hb 80 g/dL", "negative count"],
)
def test_impossible_lab_values_are_refused_and_nothing_is_saved(
    d1: Visit, coordinator: Any, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as error:
        save(LabPanel, d1, coordinator, values, complete=False)
    assert field in error.value.message_dict
    assert not LabPanel.objects.exists()


def test_vital_signs_compute_bmi_and_soft_limits_ask_for_confirmation(d1: Visit, coordinator: Any) -> None:
    values = {"weight_kg": 130.0, "height_cm": 160.0, "systolic_bp": 120.0, "diastolic_bp": 80.0, "heart_rate": 70.0,
              "temperature_c": 36.8}  # fmt: skip
    with pytest.raises(ValidationError) as error:
        save(VitalSigns, d1, coordinator, values, complete=True)
    assert "weight_kg" in error.value.message_dict and not VitalSigns.objects.exists()
    vitals = save(VitalSigns, d1, coordinator, {**values, "unusual_values_confirmed": True}, complete=True)
    assert round(vitals.bmi, 1) == 50.8
    with pytest.raises(ValidationError):
        save(VitalSigns, d1, coordinator, {"weight_kg": 500.0}, complete=True, reason="typo")


def test_haq_di_needs_six_categories_and_applies_the_aids_rule(d1: Visit, coordinator: Any) -> None:
    answers = {"item_dress": 1, "item_stand_up": 0, "item_cut_meat": 1, "item_walk_outdoors": 0, "item_wash_body": 1}
    with pytest.raises(ValidationError, match="at least 6 of the 8"):
        save(HaqDi, d1, coordinator, answers, complete=True)
    haq = save(HaqDi, d1, coordinator, {**answers, "item_reach_object": 1}, complete=True)
    # without aids: dressing 1, arising 0, eating 1, walking 0, hygiene 1, reach 1 → 4/6
    assert haq.result.score == pytest.approx(4 / 6)
    haq = save(HaqDi, d1, coordinator, {"aids_dressing": True}, complete=True, reason="aids recorded late")
    # with an aid for dressing, its 1 becomes 2 → 5/6
    assert haq.result.score == pytest.approx(5 / 6)


def test_cdai_is_computed_from_joint_counts_and_globals(d1: Visit, investigator: Any) -> None:
    values = {"patient_global": 4.0, "physician_global": 3.5, "swollen_28": 2, "tender_28": 5}
    record = save(GlobalAssessment, d1, investigator, values, complete=True)
    assert record.cdai == 14.5
    with pytest.raises(ValidationError):
        save(GlobalAssessment, d1, investigator, {"patient_global": 11.0}, complete=True, reason="x")


def test_editing_a_complete_form_needs_a_reason_and_keeps_the_old_value(d1: Visit, coordinator: Any) -> None:
    save(LabPanel, d1, coordinator, FULL_LABS, complete=True)
    with pytest.raises(ValidationError, match="reason for change"):
        save(LabPanel, d1, coordinator, {"hb_g_dl": 11.0}, complete=True)
    assert LabPanel.objects.get().hb_g_dl == 12.5
    save(LabPanel, d1, coordinator, {"hb_g_dl": 11.0}, complete=True, reason="corrected from the lab report")
    latest, previous = LabPanel.objects.get().history.all()[:2]
    assert (previous.hb_g_dl, latest.hb_g_dl) == (12.5, 11.0)
    assert latest.history_change_reason == "corrected from the lab report"


def test_a_draft_can_be_edited_without_a_reason(d1: Visit, coordinator: Any) -> None:
    save(LabPanel, d1, coordinator, {"hb_g_dl": 12.5}, complete=False)
    save(LabPanel, d1, coordinator, {"wbc": 6.0}, complete=False)
    assert LabPanel.objects.get().history.count() == 2


def test_no_form_for_a_visit_not_done_missed_or_after_end_of_study(
    d1: Visit, coordinator: Any, investigator: Any
) -> None:
    participant = d1.participant
    w2 = participant.visits.get(code="W2")
    with pytest.raises(ValidationError, match="Record the visit's date first"):
        save(LabPanel, w2, coordinator, FULL_LABS, complete=True)
    services.end_of_study_record(participant=participant, by=investigator, ended_on=timezone.localdate(),
                                 reason="lost", details="no contact")  # fmt: skip
    w2.refresh_from_db()
    with pytest.raises(ValidationError, match="not taking place"):
        save(LabPanel, w2, coordinator, FULL_LABS, complete=True)


def test_a_blinded_assessor_enters_the_mrss_and_is_warned_when_not_the_baseline_assessor(
    d1: Visit, assessor: Any, coordinator: Any
) -> None:
    from clinical.mrss import MRSS_AREAS

    client = Client()
    client.force_login(assessor)
    data = {code: 1 for code, _ in MRSS_AREAS} | {"assessor": assessor.pk, "complete": "1"}
    response = client.post(f"/visits/{d1.pk}/forms/mrss/", data, follow=True)
    assert response.status_code == 200
    record = VisitMrss.objects.get()
    assert record.mrss_total == 17 and record.status == "complete"
    assert "the same assessor should score every visit" in response.content.decode()  # baseline by the coordinator
    assert row_status(d1, "mrss") == "entered"
    grid = client.get(f"/visits/participants/{d1.participant.screening_number}/").content.decode()
    assert 'data-state="complete" data-form="mrss"' in grid  # the grid shows the form complete


def test_a_coordinator_cannot_score_the_visit_mrss(d1: Visit, coordinator: Any) -> None:
    client = Client()
    client.force_login(coordinator)
    mrss = client.get(f"/visits/{d1.pk}/forms/mrss/")  # read only: the coordinator sees it, may not score it
    assert mrss.status_code == 200 and 'data-testid="read-only"' in mrss.content.decode()
    assert client.post(f"/visits/{d1.pk}/forms/mrss/", {"complete": "1"}).status_code == 403
    assert not VisitMrss.objects.filter(visit=d1).exists()
    assert 'data-testid="read-only"' not in client.get(f"/visits/{d1.pk}/forms/labs/").content.decode()


def test_the_participant_page_draws_the_mrss_over_time_with_the_change_from_baseline(
    site: Any, coordinator: Any, investigator: Any, assessor: Any, in_use: Any
) -> None:
    from clinical.mrss import MRSS_AREAS

    participant = randomised_on(timezone.localdate() - timedelta(days=30), site, coordinator, investigator)
    visits = {}
    for code in ("D1", "W4"):
        visit = participant.visits.get(code=code)
        visits[code] = services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
    save(VisitMrss, visits["D1"], assessor, {code: 2 for code, _ in MRSS_AREAS} | {"assessor": assessor}, complete=True)
    scores = {code: 1 for code, _ in MRSS_AREAS} | {"face": 2}
    save(VisitMrss, visits["W4"], assessor, scores | {"assessor": assessor}, complete=True)
    client = Client()
    client.force_login(coordinator)
    url = f"/visits/participants/{participant.screening_number}/"
    page = client.get(url).content.decode()
    assert 'data-testid="mrss-chart"' in page and "<polyline" in page
    assert "W4: 18 (-16 from baseline)" in page  # D1 34 → W4 18
    assert 'data-testid="lab-trends"' not in page
    save(LabPanel, visits["D1"], coordinator, FULL_LABS, complete=True)
    assert 'data-testid="lab-trends"' in client.get(url).content.decode()


def test_a_form_belongs_to_the_visit_of_its_page_and_other_sites_are_not_found(
    d1: Visit, coordinator: Any, other_site: Any, user_with_role: Any
) -> None:
    from tests.factories import make_user
    from trial_site.roles import Role

    other = d1.participant.visits.get(code="W2")
    client = Client()
    client.force_login(coordinator)
    data = {key: str(value) for key, value in FULL_LABS.items()} | {"visit": str(other.pk), "complete": "1"}
    assert client.post(f"/visits/{d1.pk}/forms/labs/", data).status_code == 302
    assert LabPanel.objects.get().visit == d1
    stranger = Client()
    stranger.force_login(make_user("stranger", role=Role.COORDINATOR, site=other_site))
    assert stranger.get(f"/visits/{d1.pk}/forms/labs/").status_code == 404


def test_the_safety_follow_up_takes_forms_after_the_end_of_study(
    site: Any, coordinator: Any, investigator: Any, in_use: Any
) -> None:
    from visits.crfs import ConcomitantMedications

    today = timezone.localdate()
    # Randomised 40 days ago: the last dose, 28 days ago, is after Day 1 (a last dose before the first is refused).
    participant = randomised_on(today - timedelta(days=40), site, coordinator, investigator)
    services.end_of_study_record(participant=participant, by=investigator, ended_on=today - timedelta(days=1),
                                 reason="withdrawn", details="adverse event")  # fmt: skip
    follow_up = services.follow_up_schedule(
        participant=participant, by=investigator, last_dose=today - timedelta(days=28)
    )
    services.visit_record_done(visit=follow_up, by=coordinator, done_on=today)
    save(ConcomitantMedications, Visit.objects.get(pk=follow_up.pk), coordinator,
         {"reviewed": True, "steroid_drug": "none"}, complete=True)  # fmt: skip
    assert row_status(follow_up, "conmeds") == "entered"


def test_the_trend_table_shows_ctcae_grades(d1: Visit, coordinator: Any) -> None:
    values = {**FULL_LABS, "hb_g_dl": 9.0, "anc": 0.9, "unusual_values_confirmed": True}
    save(LabPanel, d1, coordinator, values, complete=True)
    client = Client()
    client.force_login(coordinator)
    page = client.get(f"/visits/participants/{d1.participant.screening_number}/").content.decode()
    grades = {grade.test: grade.grade for grade in LabPanel.objects.get().grades() if grade.grade}
    assert len(grades) == 2 and 3 in grades.values()
    for test, grade in grades.items():
        assert f'data-grade="{test}:{grade}"' in page


def test_monitors_read_a_form_without_being_able_to_change_it_and_blinded_staff_cannot_read_it(
    d1: Visit, coordinator: Any, assessor: Any, user_with_role: Any
) -> None:
    save(VitalSigns, d1, coordinator, {"weight_kg": 61.0, "height_cm": 158.0, "systolic_bp": 118,
         "diastolic_bp": 76, "heart_rate": 72, "temperature_c": 36.8}, complete=True)  # fmt: skip
    url = f"/visits/{d1.pk}/forms/vitals/"
    monitor = Client()
    monitor.force_login(user_with_role("monitor"))
    page = monitor.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="read-only"' in html and "Mark complete" not in html
    assert 'name="weight_kg"' in html and "disabled" in html and 'value="61.0"' in html
    assert monitor.post(url, {"weight_kg": "99", "complete": "1"}).status_code == 403
    assert VitalSigns.objects.get(visit=d1).weight_kg == 61.0

    blinded = Client()
    blinded.force_login(assessor)
    assert blinded.get(url).status_code == 403
    assert blinded.get(f"/visits/{d1.pk}/forms/labs/").status_code == 403
