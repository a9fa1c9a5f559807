"""Properties of the decision over any mix of recorded and missing facts."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.acr_eular import AcrEularItems
from clinical.eligibility import CriterionStatus, Decision, EligibilityDecision, ScreeningFacts, decide_eligibility
from clinical.skin import SkinInvolvement
from tests.clinical.builders import RULES, eligible_facts

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
CODES = ("I1", "I2", "I3", "I4", *(f"E{n}" for n in range(1, 18)))

BOOLEAN_FACTS = (
    "other_rheumatic_disease",
    "major_surgery",
    "infected_ulcer",
    "serious_bacterial_infection",
    "active_tuberculosis",
    "hbsag_positive",
    "hcv_antigen_positive",
    "uncontrolled_significant_disease",
    "pregnant_or_breastfeeding",
    "childbearing_potential",
    "willing_to_use_contraception",
    "pregnancy_test_positive",
    "malignancy",
    "renal_crisis",
    "anaphylaxis_to_study_drugs",
    *(f"acr_eular.{field.name}" for field in fields(AcrEularItems)),
    *(f"skin.{field.name}" for field in fields(SkinInvolvement)),
)
# In days before screening, wide enough to reach both sides of every window (56 days, 30 days, 6 months,
# 5 years, 60 months), and a little after screening too.
DATE_FACTS = {
    "date_of_birth": (6600, 30000),
    "first_non_raynaud_date": (-30, 2400),
    "major_surgery_date": (-10, 120),
    "hbsag_test_date": (-5, 45),
    "hcv_test_date": (-5, 45),
    "malignancy_date": (-10, 2500),
    "renal_crisis_date": (-10, 400),
}


def number(low: float, high: float, *boundaries: float) -> st.SearchStrategy[float]:
    """Plausible values, with the thresholds and their neighbours drawn often."""
    return st.one_of(st.sampled_from(boundaries), st.floats(min_value=low, max_value=high))


MEASURES: dict[str, st.SearchStrategy[Any]] = {
    "sex": st.sampled_from(["F", "M"]),
    "mrss_total": st.integers(min_value=0, max_value=51),
    "prednisone_equivalent_mg_day": number(0, 60, 0, 10, 10.5),
    "mycophenolate_g_day": number(0, 3, 0, 2, 2.1),
    "fvc_percent": number(20, 140, 50, 50.1),
    "dlco_percent": number(15, 140, 40, 40.1),
    "hb_g_dl": number(4, 18, 7.9, 8.0),
    "wbc": number(0.5, 20, 2.9, 3.0),
    "anc": number(0.1, 15, 1.19, 1.2),
    "platelets": number(10, 800, 99, 100),
    "alc": number(0.1, 5, 0.74, 0.75),
    "alt": number(1, 500, 120, 120.1),
    "alt_uln": number(-5, 80, 0, 40),
    "egfr": number(5, 140, 59.9, 60),
}
ALL_FACTS = (*BOOLEAN_FACTS, *DATE_FACTS, *MEASURES)


def value_strategy(name: str, screening: date, *, complete: bool) -> st.SearchStrategy[Any]:
    """A plausible recorded value; with ``complete``, hepatitis tests fall in their window and ULN is positive."""
    if name in BOOLEAN_FACTS:
        return st.booleans()
    if name in DATE_FACTS:
        earliest, latest = DATE_FACTS[name]
        if complete and name in ("hbsag_test_date", "hcv_test_date"):
            earliest, latest = 0, RULES.hepatitis_test_window_days
        return st.integers(min_value=earliest, max_value=latest).map(lambda days: screening - timedelta(days=days))
    if complete and name == "alt_uln":
        return number(5, 80, 40)
    return MEASURES[name]


def build(screening: date, values: dict[str, Any], base: ScreeningFacts | None = None) -> ScreeningFacts:
    facts = base or ScreeningFacts(screening_date=screening)
    nested = {
        "acr_eular": {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("acr_eular.")},
        "skin": {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("skin.")},
    }
    top = {k: v for k, v in values.items() if "." not in k}
    return replace(
        facts,
        **top,
        acr_eular=replace(facts.acr_eular, **nested["acr_eular"]),
        skin=replace(facts.skin, **nested["skin"]),
    )


@st.composite
def screening_facts(draw: st.DrawFn, *, complete: bool = False) -> ScreeningFacts:
    """Each fact independently recorded (a plausible value) or, unless ``complete``, missing."""
    screening = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    values = {}
    for name in ALL_FACTS:
        strategy = value_strategy(name, screening, complete=complete)
        values[name] = draw(strategy if complete else st.none() | strategy)
    return build(screening, values)


@st.composite
def near_eligible_facts(draw: st.DrawFn) -> ScreeningFacts:
    """The eligible participant with up to three facts erased or changed to any plausible value."""
    base = eligible_facts()
    changed = draw(st.sets(st.sampled_from(ALL_FACTS), max_size=3))
    values = {
        name: draw(st.none() | value_strategy(name, base.screening_date, complete=False)) for name in sorted(changed)
    }
    return build(base.screening_date, values, base)


def statuses(decision: EligibilityDecision) -> set[CriterionStatus]:
    return {result.status for result in decision.criteria}


def always_21_criteria_in_order(decision: EligibilityDecision) -> None:
    assert tuple(result.code for result in decision.criteria) == CODES
    assert [result.kind for result in decision.criteria] == ["inclusion"] * 4 + ["exclusion"] * 17
    assert all(result.value and result.rule and result.title for result in decision.criteria)
    assert set(decision.failed_codes).isdisjoint(decision.unknown_codes)


def eligible_only_when_every_criterion_is_met(decision: EligibilityDecision) -> None:
    assert (decision.decision is Decision.ELIGIBLE) == (statuses(decision) == {MET})


def unknown_without_failure_is_incomplete(decision: EligibilityDecision) -> None:
    if UNKNOWN in statuses(decision) and FAILED not in statuses(decision):
        assert decision.decision is Decision.INCOMPLETE
    for result in decision.criteria:
        if result.status is UNKNOWN:
            assert "not yet recorded" in result.value, result


def any_failure_is_not_eligible(decision: EligibilityDecision) -> None:
    assert (decision.decision is Decision.NOT_ELIGIBLE) == (FAILED in statuses(decision))
    assert (FAILED in statuses(decision)) == bool(decision.failed_codes)


# One generated case checks all four properties: generating facts costs far more than deciding. Random facts
# are nearly always not eligible, so half the cases start from an eligible participant and change a few facts.
@settings(max_examples=300, deadline=None)
@given(facts=st.one_of(screening_facts(), near_eligible_facts()))
def test_decision_properties_over_any_mix_of_recorded_and_missing_facts(facts: ScreeningFacts) -> None:
    decision = decide_eligibility(facts, RULES)  # (1) never raises
    always_21_criteria_in_order(decision)
    eligible_only_when_every_criterion_is_met(decision)  # (2)
    unknown_without_failure_is_incomplete(decision)  # (3)
    any_failure_is_not_eligible(decision)  # (4)


@settings(max_examples=200, deadline=None)
@given(facts=screening_facts(complete=True))
def test_with_every_fact_recorded_the_decision_is_never_incomplete(facts: ScreeningFacts) -> None:
    assert decide_eligibility(facts, RULES).unknown_codes == ()


@settings(max_examples=200, deadline=None)
@given(facts=near_eligible_facts(), data=st.data())
def test_erasing_a_fact_never_passes_or_fails_anything(facts: ScreeningFacts, data: st.DataObject) -> None:
    """Missing data never pass: erasing a recorded fact cannot make a participant eligible, and cannot make a
    criterion fail either; at most it turns met or failed into unknown."""
    erased = data.draw(st.sampled_from(ALL_FACTS))
    before = decide_eligibility(facts, RULES)
    after = decide_eligibility(build(facts.screening_date, {erased: None}, facts), RULES)
    if before.decision is not Decision.ELIGIBLE:
        assert after.decision is not Decision.ELIGIBLE
    assert set(after.failed_codes) <= set(before.failed_codes)
    for old, new in zip(before.criteria, after.criteria, strict=True):
        assert new.status in (old.status, UNKNOWN)
