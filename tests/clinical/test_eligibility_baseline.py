"""I4, E7 and E15 judged again for Day 1 from what is recorded for Day 1; both sides of every boundary."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.eligibility import CriterionStatus, Decision, EligibilityDecision
from clinical.eligibility_baseline import BASELINE_CODES, BaselineFacts, decide_baseline
from tests.clinical.builders import RULES

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
DAY1 = date(2025, 8, 20)


def day1_facts(**overrides: Any) -> BaselineFacts:
    """Recorded on Day 1: mRSS 18, no mycophenolate, no renal crisis at screening nor since."""
    facts = BaselineFacts(
        day1=DAY1,
        recorded_on=DAY1,
        mrss_total=18,
        mycophenolate_g_day=0.0,
        renal_crisis_at_screening=False,
        renal_crisis_since_screening=False,
    )
    return replace(facts, **overrides)


def status(decision: EligibilityDecision, code: str) -> CriterionStatus:
    return next(result.status for result in decision.criteria if result.code == code)


def test_recorded_on_day_1_and_meeting_all_three() -> None:
    decision = decide_baseline(day1_facts(), RULES)
    assert decision.decision is Decision.ELIGIBLE
    assert [result.code for result in decision.criteria] == list(BASELINE_CODES) == ["I4", "E7", "E15"]


def crisis_at_screening(on: date) -> dict[str, Any]:
    return {"renal_crisis_at_screening": True, "renal_crisis_at_screening_date": on}


def crisis_since_screening(on: date) -> dict[str, Any]:
    return {"renal_crisis_since_screening": True, "renal_crisis_since_screening_date": on}


BOUNDARIES: list[tuple[str, str, dict[str, Any], CriterionStatus]] = [
    ("Day 1 mRSS 10 is enough", "I4", {"mrss_total": 10}, MET),
    ("Day 1 mRSS 9 is not", "I4", {"mrss_total": 9}, FAILED),
    ("mycophenolate 2 g/day on Day 1 is allowed", "E7", {"mycophenolate_g_day": 2.0}, MET),
    ("mycophenolate 2.1 g/day on Day 1 excludes", "E7", {"mycophenolate_g_day": 2.1}, FAILED),
    ("mycophenolate 2.001 g/day on Day 1 excludes", "E7", {"mycophenolate_g_day": 2.001}, FAILED),
    # 6 months before Day 1 (20 August 2025) is 20 February 2025.
    ("a renal crisis 6 months and 15 days before Day 1 does not exclude", "E15",
     crisis_at_screening(date(2025, 2, 5)), MET),
    ("a renal crisis 5 months and 20 days before Day 1 excludes", "E15", crisis_at_screening(date(2025, 3, 1)), FAILED),
    ("a renal crisis exactly 6 months before Day 1 excludes", "E15", crisis_at_screening(date(2025, 2, 20)), FAILED),
    ("a renal crisis 6 months and 1 day before Day 1 does not", "E15", crisis_at_screening(date(2025, 2, 19)), MET),
    ("a renal crisis since screening excludes", "E15", crisis_since_screening(date(2025, 8, 10)), FAILED),
]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "overrides", "expected"), [case[1:] for case in BOUNDARIES], ids=[case[0] for case in BOUNDARIES]
)
def test_boundary_on_day_1(code: str, overrides: dict[str, Any], expected: CriterionStatus) -> None:
    decision = decide_baseline(day1_facts(**overrides), RULES)
    assert status(decision, code) is expected
    assert decision.decision is {MET: Decision.ELIGIBLE, FAILED: Decision.NOT_ELIGIBLE}[expected]
    assert [result.status for result in decision.criteria if result.code != code] == [MET, MET]


@pytest.mark.parametrize(
    ("day1", "crisis", "expected"),
    [
        (date(2025, 8, 31), date(2025, 2, 28), FAILED),  # 6 months before 31 August is 28 February: within
        (date(2025, 8, 31), date(2025, 2, 27), MET),
        (date(2024, 8, 31), date(2024, 2, 29), FAILED),  # leap year
        (date(2024, 8, 31), date(2024, 2, 28), MET),
    ],
)
def test_e15_on_day_1_at_month_ends(day1: date, crisis: date, expected: CriterionStatus) -> None:
    facts = day1_facts(day1=day1, recorded_on=day1, **crisis_at_screening(crisis))
    assert status(decide_baseline(facts, RULES), "E15") is expected


def test_e15_explains_from_when_day_1_could_be() -> None:
    result = decide_baseline(day1_facts(**crisis_at_screening(date(2025, 3, 1))), RULES).criteria[2]
    assert result.value == (
        "SSc renal crisis on 2025-03-01: within the 6 months before Day 1 (on or after 2025-02-20); "
        "Day 1 would have to be on or after 2025-09-02; no SSc renal crisis since the screening visit"
    )


def test_without_the_day_1_form_every_criterion_is_unknown() -> None:
    decision = decide_baseline(BaselineFacts(day1=DAY1, renal_crisis_at_screening=False), RULES)
    assert decision.decision is Decision.INCOMPLETE
    assert decision.unknown_codes == ("I4", "E7", "E15")
    assert all(result.value == "not yet recorded: the Day 1 baseline form" for result in decision.criteria)


@pytest.mark.parametrize("recorded_on", [date(2025, 8, 19), date(2025, 8, 21)], ids=["day before", "day after"])
def test_a_day_1_form_of_another_day_does_not_speak_for_day_1(recorded_on: date) -> None:
    decision = decide_baseline(day1_facts(recorded_on=recorded_on), RULES)
    assert decision.unknown_codes == ("I4", "E7", "E15")
    assert f"the Day 1 baseline form is dated {recorded_on.isoformat()}, Day 1 is 2025-08-20" in (
        decision.criteria[0].value
    )


@pytest.mark.parametrize(
    ("overrides", "unknown"),
    [
        ({"mrss_total": None}, "I4"),
        ({"mycophenolate_g_day": None}, "E7"),
        ({"renal_crisis_since_screening": None}, "E15"),
        ({"renal_crisis_at_screening": None}, "E15"),
        ({"renal_crisis_since_screening": True}, "E15"),  # yes, without its date
    ],
)
def test_missing_data_never_pass(overrides: dict[str, Any], unknown: str) -> None:
    decision = decide_baseline(day1_facts(**overrides), RULES)
    assert decision.decision is Decision.INCOMPLETE
    assert decision.unknown_codes == (unknown,)


def test_a_crisis_within_the_window_excludes_while_the_other_record_is_unknown() -> None:
    facts = day1_facts(renal_crisis_at_screening=None, **crisis_since_screening(date(2025, 8, 1)))
    assert status(decide_baseline(facts, RULES), "E15") is FAILED


@settings(max_examples=300, deadline=None)
@given(
    recorded_on=st.none() | st.sampled_from([DAY1, date(2025, 8, 19)]),
    mrss=st.none() | st.integers(min_value=0, max_value=51),
    dose=st.none() | st.floats(min_value=0, max_value=5),
    before=st.none() | st.booleans(),
    before_on=st.none() | st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 8, 1)),
    since=st.none() | st.booleans(),
    since_on=st.none() | st.dates(min_value=date(2025, 8, 1), max_value=DAY1),
)
def test_never_raises_and_eligible_only_when_all_three_are_met(
    recorded_on: date | None, mrss: int | None, dose: float | None, before: bool | None, before_on: date | None,
    since: bool | None, since_on: date | None,
) -> None:  # fmt: skip
    facts = BaselineFacts(DAY1, recorded_on, mrss, dose, before, before_on, since, since_on)
    decision = decide_baseline(facts, RULES)
    statuses = {result.status for result in decision.criteria}
    assert (decision.decision is Decision.ELIGIBLE) == (statuses == {MET})
    assert (decision.decision is Decision.NOT_ELIGIBLE) == (FAILED in statuses)
    assert all(result.value and result.rule for result in decision.criteria)
