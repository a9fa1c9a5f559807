"""The eligibility decision: plain facts from screening in, one explained result per criterion out.

Each of the 21 criteria (I1–I4 inclusion, E1–E17 exclusion) gets a status:

- ``met``: the criterion does not stand in the way (an inclusion criterion holds; an exclusion is absent);
- ``failed``: it stands in the way;
- ``unknown``: the data it needs are not yet recorded. Missing data never pass.

The decision is NOT_ELIGIBLE if any criterion failed (a failure is decisive even while others are unknown),
else INCOMPLETE if any is unknown, else ELIGIBLE.

Values are compared as entered, never rounded first: an eGFR of 59.96 is below 60. A number that is not
finite (NaN, infinity) counts as not recorded. The thresholds come from ``EligibilityRules`` (the protocol
module supplies them); nothing here hard-codes them. ``decide_eligibility`` never raises for any combination
of recorded and missing facts of the declared types.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from clinical.eligibility_criteria import CRITERIA, CRITERION_CODES, rule_text
from clinical.eligibility_model import (
    CriterionResult,
    CriterionStatus,
    Decision,
    EligibilityDecision,
    EligibilityRules,
    ScreeningFacts,
)

__all__ = [
    "CRITERION_CODES",
    "CriterionResult",
    "CriterionStatus",
    "Decision",
    "EligibilityDecision",
    "EligibilityRules",
    "ScreeningFacts",
    "decide_eligibility",
]


def decide_eligibility(facts: ScreeningFacts, rules: EligibilityRules) -> EligibilityDecision:
    """Assess all 21 criteria and decide.

    NOT_ELIGIBLE if any criterion failed (decisive even while others are unknown); else INCOMPLETE if any is
    unknown; else ELIGIBLE. See the module docstring and docs/eligibility.md for each rule.
    """
    if isinstance(facts.screening_date, datetime):
        facts = replace(facts, screening_date=facts.screening_date.date())
    results = []
    for criterion in CRITERIA:
        status, value = criterion.assess(facts, rules)
        results.append(
            CriterionResult(
                code=criterion.code,
                kind=criterion.kind,
                title=criterion.title,
                status=status,
                value=value,
                rule=rule_text(criterion.code, rules),
            )
        )
    statuses = {result.status for result in results}
    if CriterionStatus.FAILED in statuses:
        decision = Decision.NOT_ELIGIBLE
    elif CriterionStatus.UNKNOWN in statuses:
        decision = Decision.INCOMPLETE
    else:
        decision = Decision.ELIGIBLE
    return EligibilityDecision(decision=decision, criteria=tuple(results))
