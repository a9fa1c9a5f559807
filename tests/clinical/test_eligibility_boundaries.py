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
    ("screening exactly 60 months after the onset is allowed", "I3", {"first_non_raynaud_date": date(2020, 3, 3)},
     MET),
    ("screening 60 months and 1 day after the onset excludes", "I3", {"first_non_raynaud_date": date(2020, 3, 2)},
     FAILED),
    ("60 months and 29 days excludes: no counting of completed months", "I3",
     {"first_non_raynaud_date": date(2020, 2, 4)}, FAILED),
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
    # Screening on 2025-03-03 allows Day 1 up to 2025-03-31; 6 months before that is 2024-09-30.
    ("renal crisis 6 months before the last Day 1 the window allows excludes at screening", "E15",
     crisis(date(2024, 9, 30)), FAILED),
    ("a day earlier, Day 1 decides: not excluded at screening", "E15", crisis(date(2024, 9, 29)), MET),
    ("renal crisis exactly 6 months before screening: Day 1 decides, not excluded at screening", "E15",
     crisis(date(2024, 9, 3)), MET),
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
        (date(2025, 8, 3), date(2025, 2, 28), FAILED),  # last Day 1 31 Aug; 6 months before it is 28 Feb: within
        (date(2025, 8, 3), date(2025, 2, 27), MET),
        (date(2024, 8, 3), date(2024, 2, 29), FAILED),  # leap year
        (date(2024, 8, 3), date(2024, 2, 28), MET),
    ],
)
def test_renal_crisis_at_screening_at_month_ends(screening: date, crisis: date, expected: CriterionStatus) -> None:
    facts = eligible_facts(
        screening_date=screening,
        renal_crisis=True,
        renal_crisis_date=crisis,
        hbsag_test_date=screening,
        hcv_test_date=screening,
    )
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


def i3_status(onset: date, screening: date, rules: Any = RULES) -> CriterionStatus:
    facts = eligible_facts(
        screening_date=screening, first_non_raynaud_date=onset, hbsag_test_date=screening, hcv_test_date=screening
    )
    return criterion(decide_eligibility(facts, rules), "I3").status


@pytest.mark.parametrize(
    ("onset", "screening", "expected"),
    [
        (date(2020, 3, 3), date(2025, 3, 3), MET),  # the day exactly 60 months later is included
        (date(2020, 3, 3), date(2025, 3, 4), FAILED),  # the next day is excluded
        (date(2021, 5, 2), date(2026, 5, 2), MET),
        (date(2021, 5, 2), date(2026, 5, 3), FAILED),
        (date(2021, 5, 2), date(2026, 6, 1), FAILED),  # 60 months and 30 days: once accepted as "60 completed"
        # From 29 February: 60 months later is 28 February 2025, the last day of that month (2025 has no 29th).
        (date(2020, 2, 29), date(2025, 2, 28), MET),
        (date(2020, 2, 29), date(2025, 3, 1), FAILED),
        (date(2016, 2, 29), date(2021, 2, 28), MET),
        (date(2016, 2, 29), date(2021, 3, 1), FAILED),
        # From the 31st: 60 months later is the 31st again when that month has one.
        (date(2020, 1, 31), date(2025, 1, 31), MET),
        (date(2020, 1, 31), date(2025, 2, 1), FAILED),
    ],
    ids=[
        "exactly 60 months", "60 months and 1 day", "2021-05-02 to 2026-05-02", "2021-05-02 to 2026-05-03",
        "60 months and 30 days", "29 Feb 2020 to 28 Feb 2025", "29 Feb 2020 to 1 Mar 2025",
        "29 Feb 2016 to 28 Feb 2021", "29 Feb 2016 to 1 Mar 2021", "31 Jan to 31 Jan", "31 Jan to 1 Feb",
    ],
)  # fmt: skip
def test_i3_screening_no_later_than_the_day_60_months_after_the_onset(
    onset: date, screening: date, expected: CriterionStatus
) -> None:
    assert i3_status(onset, screening) is expected


def test_i3_from_29_february_keeps_the_day_number_when_the_later_february_has_it() -> None:
    four_years = replace(RULES, max_disease_duration_months=48)
    assert i3_status(date(2020, 2, 29), date(2024, 2, 29), four_years) is MET
    assert i3_status(date(2020, 2, 29), date(2024, 3, 1), four_years) is FAILED
