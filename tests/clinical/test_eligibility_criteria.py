"""What each criterion does with missing, contradictory and unusual facts, and what it tells the investigator."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from clinical.acr_eular import AcrEularItems
from clinical.eligibility import (
    CriterionResult,
    CriterionStatus,
    Decision,
    EligibilityDecision,
    ScreeningFacts,
    decide_eligibility,
)
from clinical.skin import SkinInvolvement
from tests.clinical.builders import (
    ACR_EULAR_NONE_YES,
    ACR_EULAR_TYPICAL,
    RULES,
    SCREENING,
    SKIN_DIFFUSE,
    SKIN_NONE,
    days_before,
    eligible_facts,
)

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
CODES = ("I1", "I2", "I3", "I4", *(f"E{n}" for n in range(1, 18)))


def decide(**overrides: Any) -> EligibilityDecision:
    return decide_eligibility(eligible_facts(**overrides), RULES)


def criterion(decision: EligibilityDecision, code: str) -> CriterionResult:
    return next(result for result in decision.criteria if result.code == code)


def status(code: str, **overrides: Any) -> CriterionStatus:
    return criterion(decide(**overrides), code).status


# --- the decision -----------------------------------------------------------------------------------------------


def test_nothing_recorded_yet_is_incomplete_with_every_criterion_unknown() -> None:
    decision = decide_eligibility(ScreeningFacts(screening_date=SCREENING), RULES)
    assert decision.decision is Decision.INCOMPLETE
    assert decision.unknown_codes == CODES
    assert all("not yet recorded" in result.value for result in decision.criteria)


def test_criteria_come_in_protocol_order_with_kind_title_and_rule() -> None:
    decision = decide()
    assert tuple(result.code for result in decision.criteria) == CODES
    assert [result.kind for result in decision.criteria] == ["inclusion"] * 4 + ["exclusion"] * 17
    assert criterion(decision, "E10").title == "Hepatitis B"
    assert all(result.title and result.rule and result.value for result in decision.criteria)


def test_a_failure_is_decisive_while_other_criteria_are_still_unknown() -> None:
    decision = decide(hb_g_dl=7.0, active_tuberculosis=None, mrss_total=None)
    assert decision.decision is Decision.NOT_ELIGIBLE
    assert decision.failed_codes == ("E17",)
    assert decision.unknown_codes == ("I4", "E9")


def test_one_missing_fact_makes_the_decision_incomplete_never_eligible() -> None:
    decision = decide(anaphylaxis_to_study_drugs=None)
    assert decision.decision is Decision.INCOMPLETE
    assert decision.unknown_codes == ("E16",)
    assert criterion(decision, "E16").value == "not yet recorded: anaphylaxis to a study drug"


def test_every_failed_code_is_listed() -> None:
    decision = decide(mrss_total=4, infected_ulcer=True, platelets=80, sex="F", pregnant_or_breastfeeding=True)
    assert decision.failed_codes == ("I4", "E4", "E13", "E17")


# --- I1 ACR/EULAR ----------------------------------------------------------------------------------------------


def test_i1_not_applicable_when_thickening_spares_the_fingers() -> None:
    items = replace(ACR_EULAR_TYPICAL, skin_thickening_spares_fingers=True)
    result = criterion(decide(acr_eular=items), "I1")
    assert result.status is FAILED
    assert "not applicable: skin thickening spares the fingers" in result.value


def test_i1_not_applicable_when_another_disorder_explains_it_better() -> None:
    items = replace(ACR_EULAR_TYPICAL, better_explained_by_other_disorder=True)
    result = criterion(decide(acr_eular=items), "I1")
    assert result.status is FAILED
    assert "scleroderma-like disorder" in result.value


def test_i1_unknown_names_the_items_that_could_still_reach_9() -> None:
    items = replace(ACR_EULAR_NONE_YES, sclerodactyly=True, raynaud_phenomenon=None, anticentromere=None)
    result = criterion(decide(acr_eular=items), "I1")
    assert result.status is UNKNOWN
    assert result.value == (
        "score 4 so far, at most 10; not yet recorded: Raynaud's phenomenon, anticentromere antibodies"
    )


def test_i1_fails_once_the_unanswered_items_cannot_reach_9() -> None:
    items = replace(ACR_EULAR_NONE_YES, sclerodactyly=True, telangiectasia=None)
    result = criterion(decide(acr_eular=items), "I1")
    assert result.status is FAILED
    assert "at most 6" in result.value


def test_i1_met_needs_the_applicability_questions_answered() -> None:
    items = replace(ACR_EULAR_TYPICAL, better_explained_by_other_disorder=None)
    result = criterion(decide(acr_eular=items), "I1")
    assert result.status is UNKNOWN
    assert "scleroderma-like disorder explains the picture better" in result.value


# --- I2 / E2 skin subset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("skin", "expected", "words"),
    [
        (SKIN_DIFFUSE, MET, "diffuse: skin thickening at upper arms, chest"),
        (replace(SKIN_NONE, fingers=True, hands=True, face=True), FAILED, "limited"),
        (SKIN_NONE, FAILED, "sine scleroderma"),
        # proximal sites all no: not diffuse, whatever the rest turns out to be
        (replace(SKIN_NONE, fingers=None, hands=None), FAILED, "limited or sine"),
        (replace(SKIN_NONE, fingers=True, thighs=None), UNKNOWN, "not yet recorded: skin thickening at thighs"),
        (SkinInvolvement(), UNKNOWN, "not yet recorded"),
    ],
    ids=["diffuse", "limited", "sine", "no proximal thickening", "thighs unknown", "nothing recorded"],
)
def test_i2_and_e2_follow_the_skin_subset(skin: SkinInvolvement, expected: CriterionStatus, words: str) -> None:
    decision = decide(skin=skin)
    assert criterion(decision, "I2").status is expected
    assert criterion(decision, "E2").status is expected
    assert words in criterion(decision, "I2").value


# --- I3 disease duration and I4 mRSS ---------------------------------------------------------------------------


def test_i3_reports_the_span_in_months_and_days_and_the_last_allowed_screening_date() -> None:
    result = criterion(decide(first_non_raynaud_date=date(2023, 9, 14)), "I3")
    assert result.value == (
        "first non-Raynaud manifestation on 2023-09-14: screening 17 months and 17 days later, no later than "
        "2028-09-14 (60 months after it)"
    )


def test_i3_the_issue_s_example_60_months_and_30_days_is_excluded() -> None:
    facts = eligible_facts(
        screening_date=date(2026, 6, 1),
        first_non_raynaud_date=date(2021, 5, 2),
        hbsag_test_date=date(2026, 6, 1),
        hcv_test_date=date(2026, 6, 1),
    )
    result = criterion(decide_eligibility(facts, RULES), "I3")
    assert result.status is FAILED
    assert result.value == (
        "first non-Raynaud manifestation on 2021-05-02: screening 60 months and 30 days later, after 2026-05-02 "
        "(60 months after it)"
    )


def test_i3_a_first_manifestation_after_screening_cannot_be() -> None:
    result = criterion(decide(first_non_raynaud_date=date(2025, 4, 1)), "I3")
    assert result.status is FAILED
    assert "after the screening date 2025-03-03" in result.value


def test_i3_and_i4_unknown_without_data() -> None:
    decision = decide(first_non_raynaud_date=None, mrss_total=None)
    assert decision.unknown_codes == ("I3", "I4")


# --- yes/no exclusions -----------------------------------------------------------------------------------------

YES_NO = [
    ("E1", "other_rheumatic_disease"),
    ("E4", "infected_ulcer"),
    ("E5", "serious_bacterial_infection"),
    ("E9", "active_tuberculosis"),
    ("E12", "uncontrolled_significant_disease"),
    ("E16", "anaphylaxis_to_study_drugs"),
]


@pytest.mark.parametrize(("code", "fact"), YES_NO)
def test_yes_excludes_no_passes_unanswered_is_unknown(code: str, fact: str) -> None:
    assert status(code, **{fact: True}) is FAILED
    assert status(code, **{fact: False}) is MET
    assert status(code, **{fact: None}) is UNKNOWN


# --- E3 surgery ------------------------------------------------------------------------------------------------


def test_e3_surgery_without_a_date_is_unknown() -> None:
    result = criterion(decide(major_surgery=True, major_surgery_date=None), "E3")
    assert result.status is UNKNOWN
    assert result.value == "major surgery: yes; not yet recorded: date of the surgery"


def test_e3_surgery_after_screening_excludes_before_treatment() -> None:
    result = criterion(decide(major_surgery=True, major_surgery_date=date(2025, 3, 10)), "E3")
    assert result.status is FAILED
    assert "7 days after the screening date" in result.value and "before treatment" in result.value


def test_e3_a_date_is_ignored_when_there_was_no_surgery() -> None:
    assert status("E3", major_surgery=False, major_surgery_date=days_before(3)) is MET


def test_e3_reports_days_before_screening() -> None:
    result = criterion(decide(major_surgery=True, major_surgery_date=days_before(56)), "E3")
    assert result.value == "major surgery on 2025-01-06, 56 days before screening"


# --- E6 / E7 / E8 ----------------------------------------------------------------------------------------------


def test_e6_and_e7_need_a_dose_even_if_none_is_taken() -> None:
    decision = decide(prednisone_equivalent_mg_day=None, mycophenolate_g_day=None)
    assert decision.unknown_codes == ("E6", "E7")
    assert "0 if none" in criterion(decision, "E6").value
    assert status("E6", prednisone_equivalent_mg_day=0) is MET


@pytest.mark.parametrize(
    ("fvc", "dlco", "expected"),
    [
        (45, None, FAILED),
        (None, 35, FAILED),
        (70, None, UNKNOWN),
        (None, 70, UNKNOWN),
        (None, None, UNKNOWN),
        (50.1, 40.1, MET),
    ],
)
def test_e8_either_low_value_excludes_even_if_the_other_is_missing(
    fvc: float | None, dlco: float | None, expected: CriterionStatus
) -> None:
    assert status("E8", fvc_percent=fvc, dlco_percent=dlco) is expected


def test_e8_value_says_which_test_excludes() -> None:
    result = criterion(decide(fvc_percent=48, dlco_percent=None), "E8")
    assert result.value == "FVC 48 % predicted (excludes); not yet recorded: DLCO % predicted"


# --- E10 / E11 hepatitis ---------------------------------------------------------------------------------------


def test_e10_an_old_test_needs_repeating() -> None:
    result = criterion(decide(hbsag_positive=False, hbsag_test_date=date(2024, 12, 1)), "E10")
    assert result.status is UNKNOWN
    assert "older than 30 days" in result.value and "2024-12-01" in result.value


def test_e10_a_test_dated_after_screening_does_not_count() -> None:
    result = criterion(decide(hbsag_test_date=date(2025, 3, 4)), "E10")
    assert result.status is UNKNOWN
    assert "after the screening date" in result.value


@pytest.mark.parametrize(
    ("positive", "tested"),
    [(None, None), (None, days_before(2)), (False, None), (True, None)],
    ids=["nothing", "no result", "negative without date", "positive without date"],
)
def test_e10_and_e11_need_result_and_date(positive: bool | None, tested: date | None) -> None:
    decision = decide(
        hbsag_positive=positive, hbsag_test_date=tested, hcv_antigen_positive=positive, hcv_test_date=tested
    )
    assert decision.unknown_codes == ("E10", "E11")


def test_e11_positive_in_window_excludes() -> None:
    result = criterion(decide(hcv_antigen_positive=True, hcv_test_date=days_before(3)), "E11")
    assert result.status is FAILED
    assert result.value == "HCV antigen positive on 2025-02-28, 3 days before screening"


# --- E13 pregnancy ---------------------------------------------------------------------------------------------

NO_PREGNANCY_FACTS = {
    "pregnant_or_breastfeeding": None,
    "childbearing_potential": None,
    "willing_to_use_contraception": None,
    "pregnancy_test_positive": None,
}


def test_e13_does_not_apply_to_men() -> None:
    result = criterion(decide(sex="M", **NO_PREGNANCY_FACTS), "E13")
    assert result.status is MET
    assert result.value == "male: not applicable"


def test_e13_unknown_while_sex_is_not_recorded() -> None:
    assert status("E13", sex=None) is UNKNOWN


@pytest.mark.parametrize(
    ("pregnant", "potential", "willing", "test", "expected"),
    [
        (True, None, None, None, FAILED),
        (None, None, None, True, FAILED),
        (False, True, False, False, FAILED),
        (None, True, False, None, FAILED),
        (False, False, None, None, MET),
        (False, True, True, False, MET),
        (False, True, True, None, UNKNOWN),
        (False, True, None, False, UNKNOWN),
        (False, None, True, False, UNKNOWN),
        (None, False, None, None, UNKNOWN),
    ],
)
def test_e13_for_women(
    pregnant: bool | None, potential: bool | None, willing: bool | None, test: bool | None, expected: CriterionStatus
) -> None:
    facts = {
        "sex": "F",
        "pregnant_or_breastfeeding": pregnant,
        "childbearing_potential": potential,
        "willing_to_use_contraception": willing,
        "pregnancy_test_positive": test,
    }
    assert status("E13", **facts) is expected


def test_e13_names_what_is_missing() -> None:
    result = criterion(decide(willing_to_use_contraception=None, pregnancy_test_positive=None), "E13")
    assert result.value == (
        "not yet recorded: willingness to use highly effective contraception, pregnancy test result"
    )


# --- E14 / E15 history ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "flag", "when"), [("E14", "malignancy", "malignancy_date"), ("E15", "renal_crisis", "renal_crisis_date")]
)
def test_history_needs_a_date_when_present(code: str, flag: str, when: str) -> None:
    assert status(code, **{flag: True, when: None}) is UNKNOWN
    assert status(code, **{flag: None, when: None}) is UNKNOWN
    assert status(code, **{flag: False, when: None}) is MET
    assert status(code, **{flag: True, when: date(2025, 3, 10)}) is FAILED  # dated after screening: current


def test_e14_value_gives_the_window_start() -> None:
    result = criterion(decide(malignancy=True, malignancy_date=date(2020, 3, 3)), "E14")
    assert result.value == "malignancy on 2020-03-03: within the last 5 years (on or after 2020-03-03)"


# --- E17 laboratory --------------------------------------------------------------------------------------------


def test_e17_names_the_failing_value_and_its_limit() -> None:
    result = criterion(decide(hb_g_dl=7.9, alt=130), "E17")
    assert result.status is FAILED
    assert "Hb 7.9 g/dL (excludes: < 8)" in result.value
    assert "ALT 130 U/L with ULN 40 (excludes: > 3 × ULN = 120)" in result.value


def test_e17_a_missing_lab_is_unknown_but_a_failing_one_still_excludes() -> None:
    assert status("E17", alc=None) is UNKNOWN
    assert status("E17", alc=None, platelets=80) is FAILED
    assert criterion(decide(alc=None), "E17").value.endswith("not yet recorded: ALC")


@pytest.mark.parametrize("uln", [None, 0, -40])
def test_e17_alt_needs_a_positive_upper_limit(uln: float | None) -> None:
    result = criterion(decide(alt_uln=uln), "E17")
    assert result.status is UNKNOWN
    assert "not yet recorded: ALT upper limit of normal" in result.value


def test_e17_an_egfr_just_below_60_is_not_shown_as_60() -> None:
    result = criterion(decide(egfr=59.96), "E17")
    assert result.status is FAILED
    assert "eGFR 59.96 mL/min/1.73 m² (excludes: < 60)" in result.value


def test_e17_a_computed_egfr_is_shown_to_one_decimal() -> None:
    assert "eGFR 89.7 mL/min/1.73 m²" in criterion(decide(egfr=89.69313009207339), "E17").value


# --- robustness ------------------------------------------------------------------------------------------------


def test_a_value_that_is_not_a_number_counts_as_not_recorded() -> None:
    decision = decide(hb_g_dl=float("nan"), fvc_percent=float("inf"))
    assert decision.unknown_codes == ("E8", "E17")


def test_a_screening_datetime_is_read_as_its_date() -> None:
    facts = eligible_facts(screening_date=datetime(2025, 3, 3, 9, 30), hbsag_test_date=datetime(2025, 2, 1, 8, 0))
    assert decide_eligibility(facts, RULES).decision is Decision.ELIGIBLE


def test_default_nested_answers_are_unanswered() -> None:
    facts = ScreeningFacts(screening_date=SCREENING)
    assert facts.acr_eular == AcrEularItems()
    assert facts.skin == SkinInvolvement()
