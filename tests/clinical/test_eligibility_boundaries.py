"""Every threshold of TRIAL.md tested on both sides, one fact changed from a fully eligible participant."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from clinical.eligibility import CriterionResult, CriterionStatus, Decision, EligibilityDecision, decide_eligibility
from tests.clinical.builders import ACR_EULAR_NONE_YES, RULES, SCREENING, days_before, eligible_facts

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
DECISION_FOR = {MET: Decision.ELIGIBLE, FAILED: Decision.NOT_ELIGIBLE, UNKNOWN: Decision.INCOMPLETE}


def criterion(decision: EligibilityDecision, code: str) -> CriterionResult:
    return next(result for result in decision.criteria if result.code == code)


def test_the_fixture_is_eligible_on_every_criterion() -> None:
    decision = decide_eligibility(eligible_facts(), RULES)
    assert decision.decision is Decision.ELIGIBLE
    assert [result.status for result in decision.criteria] == [MET] * 21
    assert decision.failed_codes == () and decision.unknown_codes == ()


def surgery(on: date) -> dict[str, Any]:
    return {"major_surgery": True, "major_surgery_date": on}


def hbsag(positive: bool, tested: date) -> dict[str, Any]:
    return {"hbsag_positive": positive, "hbsag_test_date": tested}


def hcv(positive: bool, tested: date) -> dict[str, Any]:
    return {"hcv_antigen_positive": positive, "hcv_test_date": tested}


def malignancy(diagnosed: date) -> dict[str, Any]:
    return {"malignancy": True, "malignancy_date": diagnosed}


def crisis(on: date) -> dict[str, Any]:
    return {"renal_crisis": True, "renal_crisis_date": on}


BOUNDARIES: list[tuple[str, str, dict[str, Any], CriterionStatus]] = [
    # (case, criterion, the one changed fact, expected status)
    ("Hb 8.0 g/dL is allowed", "E17", {"hb_g_dl": 8.0}, MET),
    ("Hb 7.9 g/dL excludes", "E17", {"hb_g_dl": 7.9}, FAILED),
    ("WBC 3.0 is allowed", "E17", {"wbc": 3.0}, MET),
    ("WBC 2.9 excludes", "E17", {"wbc": 2.9}, FAILED),
    ("ANC 1.2 is allowed", "E17", {"anc": 1.2}, MET),
    ("ANC 1.19 excludes", "E17", {"anc": 1.19}, FAILED),
    ("platelets 100 are allowed", "E17", {"platelets": 100}, MET),
    ("platelets 99 exclude", "E17", {"platelets": 99}, FAILED),
    ("ALC 0.75 is allowed", "E17", {"alc": 0.75}, MET),
    ("ALC 0.74 excludes", "E17", {"alc": 0.74}, FAILED),
    ("ALT exactly 3 × ULN is allowed", "E17", {"alt": 120, "alt_uln": 40}, MET),
    ("ALT just above 3 × ULN excludes", "E17", {"alt": 120.1, "alt_uln": 40}, FAILED),
    ("ALT exactly 3 × an ULN with decimals is allowed", "E17", {"alt": 123.3, "alt_uln": 41.1}, MET),
    ("ALT just above 3 × an ULN with decimals excludes", "E17", {"alt": 123.4, "alt_uln": 41.1}, FAILED),
    ("eGFR 60 is allowed", "E17", {"egfr": 60}, MET),
    ("eGFR 59.9 excludes", "E17", {"egfr": 59.9}, FAILED),
    ("eGFR 59.96 excludes: compared unrounded", "E17", {"egfr": 59.96}, FAILED),
    ("FVC 50.1 % is allowed", "E8", {"fvc_percent": 50.1}, MET),
    ("FVC 50 % excludes", "E8", {"fvc_percent": 50}, FAILED),
    ("DLCO 40.1 % is allowed", "E8", {"dlco_percent": 40.1}, MET),
    ("DLCO 40 % excludes", "E8", {"dlco_percent": 40}, FAILED),
    ("mRSS 10 is enough", "I4", {"mrss_total": 10}, MET),
    ("mRSS 9 is not", "I4", {"mrss_total": 9}, FAILED),
    ("60 completed months is allowed", "I3", {"first_non_raynaud_date": date(2020, 3, 3)}, MET),
    ("60 months and 29 days is still 60 completed months", "I3", {"first_non_raynaud_date": date(2020, 2, 4)}, MET),
    ("61 completed months excludes", "I3", {"first_non_raynaud_date": date(2020, 2, 3)}, FAILED),
    ("surgery 57 days before screening is allowed", "E3", surgery(days_before(57)), MET),
    ("surgery 56 days before screening excludes", "E3", surgery(days_before(56)), FAILED),
    ("surgery on the screening day excludes", "E3", surgery(SCREENING), FAILED),
    ("prednisone 10 mg/day is allowed", "E6", {"prednisone_equivalent_mg_day": 10}, MET),
    ("prednisone 10.5 mg/day excludes", "E6", {"prednisone_equivalent_mg_day": 10.5}, FAILED),
    ("mycophenolate 2 g/day is allowed", "E7", {"mycophenolate_g_day": 2}, MET),
    ("mycophenolate 2.1 g/day excludes", "E7", {"mycophenolate_g_day": 2.1}, FAILED),
    ("a negative HBsAg 30 days before screening counts", "E10", {"hbsag_test_date": days_before(30)}, MET),
    ("a negative HBsAg 31 days before screening is too old", "E10", {"hbsag_test_date": days_before(31)}, UNKNOWN),
    ("a positive HBsAg 30 days before screening excludes", "E10", hbsag(True, days_before(30)), FAILED),
    ("a positive HBsAg 31 days before screening is too old", "E10", hbsag(True, days_before(31)), UNKNOWN),
    ("a negative HCV antigen 30 days before screening counts", "E11", {"hcv_test_date": days_before(30)}, MET),
    ("a negative HCV antigen 31 days before screening is too old", "E11", {"hcv_test_date": days_before(31)}, UNKNOWN),
    ("a positive HCV antigen on the screening day excludes", "E11", hcv(True, SCREENING), FAILED),
    ("malignancy exactly 5 years before screening excludes", "E14", malignancy(date(2020, 3, 3)), FAILED),
    ("malignancy 5 years and 1 day before screening is allowed", "E14", malignancy(date(2020, 3, 2)), MET),
    ("renal crisis exactly 6 months before screening excludes", "E15", crisis(date(2024, 9, 3)), FAILED),
    ("renal crisis 6 months and 1 day before screening is allowed", "E15", crisis(date(2024, 9, 2)), MET),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "overrides", "expected"), [case[1:] for case in BOUNDARIES], ids=[c[0] for c in BOUNDARIES]
)
def test_boundary(code: str, overrides: dict[str, Any], expected: CriterionStatus) -> None:
    decision = decide_eligibility(eligible_facts(**overrides), RULES)
    assert criterion(decision, code).status is expected
    assert decision.decision is DECISION_FOR[expected]
    others = [result.status for result in decision.criteria if result.code != code]
    assert others == [MET] * 20, "only the changed criterion may move"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # sclerodactyly 4 + Raynaud 3 + telangiectasia 2 = 9
        ({"sclerodactyly": True, "raynaud_phenomenon": True, "telangiectasia": True}, MET),
        # sclerodactyly 4 + telangiectasia 2 + nailfold capillaries 2 = 8
        ({"sclerodactyly": True, "telangiectasia": True, "abnormal_nailfold_capillaries": True}, FAILED),
    ],
    ids=["ACR/EULAR 9 classifies", "ACR/EULAR 8 does not"],
)
def test_acr_eular_threshold(items: dict[str, bool], expected: CriterionStatus) -> None:
    decision = decide_eligibility(eligible_facts(acr_eular=replace(ACR_EULAR_NONE_YES, **items)), RULES)
    assert criterion(decision, "I1").status is expected
    assert decision.decision is DECISION_FOR[expected]


@pytest.mark.parametrize(
    ("screening", "crisis", "expected"),
    [
        (date(2025, 8, 31), date(2025, 2, 28), FAILED),  # 31 Aug minus 6 months is 28 Feb: within
        (date(2025, 8, 31), date(2025, 2, 27), MET),
        (date(2024, 8, 31), date(2024, 2, 29), FAILED),  # leap year
        (date(2024, 8, 31), date(2024, 2, 28), MET),
    ],
)
def test_renal_crisis_window_at_month_ends(screening: date, crisis: date, expected: CriterionStatus) -> None:
    facts = eligible_facts(screening_date=screening, renal_crisis=True, renal_crisis_date=crisis)
    assert criterion(decide_eligibility(facts, RULES), "E15").status is expected


@pytest.mark.parametrize(
    ("diagnosed", "expected"),
    [(date(2020, 2, 28), FAILED), (date(2020, 2, 27), MET)],
    ids=["5 years before 28 Feb 2025 is 28 Feb 2020", "the day before is outside"],
)
def test_malignancy_window_from_a_leap_day(diagnosed: date, expected: CriterionStatus) -> None:
    facts = eligible_facts(
        screening_date=date(2025, 2, 28),
        first_non_raynaud_date=date(2023, 9, 14),
        hbsag_test_date=date(2025, 2, 20),
        hcv_test_date=date(2025, 2, 20),
        malignancy=True,
        malignancy_date=diagnosed,
    )
    assert criterion(decide_eligibility(facts, RULES), "E14").status is expected


def test_thresholds_come_from_the_rules() -> None:
    stricter = replace(RULES, min_mrss=15, min_egfr=90, max_prednisone_mg_day=5)
    facts = eligible_facts(mrss_total=14, egfr=89.9, prednisone_equivalent_mg_day=5.5)
    decision = decide_eligibility(facts, stricter)
    assert decision.failed_codes == ("I4", "E6", "E17")
    assert "≥ 15" in criterion(decision, "I4").rule
    assert "eGFR < 90" in criterion(decision, "E17").rule
    assert decide_eligibility(facts, RULES).decision is Decision.ELIGIBLE
