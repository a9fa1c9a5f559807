"""The criteria the protocol times at baseline, judged again on Day 1 (the day of randomisation).

TRIAL.md words three criteria at baseline: I4 mRSS ≥ 10 at baseline, E7 mycophenolate mofetil > 2 g/day before
baseline, E15 SSc renal crisis within 6 months before baseline. Screening checks them on the screening values
(``clinical.eligibility_criteria``); on Day 1 they are judged again from the Day-1 baseline form, which the
investigator fills on the day of randomisation before randomising:

- I4 on the Day-1 mRSS (all 17 areas scored);
- E7 on the daily mycophenolate mofetil dose on Day 1 (0 if none);
- E15 on the whole renal history: the crisis screening recorded (before the screening date) and any crisis since
  the screening visit, recorded on Day 1. A crisis on or after the day exactly 6 months before Day 1 excludes.

A Day-1 form dated another day than Day 1 does not tell what holds on Day 1: every criterion is then "not yet
known", as when the form is missing. Missing data never pass; a failure is decisive while others are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from clinical.dates import first_day_beyond, months_before
from clinical.display import day, number, number_against
from clinical.eligibility_criteria import EXCLUSION, INCLUSION, NOT_YET_RECORDED, Outcome
from clinical.eligibility_model import (
    CriterionResult,
    CriterionStatus,
    Decision,
    EligibilityDecision,
    EligibilityRules,
)

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
BASELINE_CODES: Final[tuple[str, ...]] = ("I4", "E7", "E15")
RENAL_CRISIS: Final = "SSc renal crisis"


@dataclass(frozen=True)
class BaselineFacts:
    """What is recorded for Day 1, and Day 1 itself (the site's local date of randomisation)."""

    day1: date
    recorded_on: date | None = None  # the date of the Day-1 baseline form; None: the form is not entered
    mrss_total: int | None = None  # the Day-1 mRSS (None until all 17 areas are scored)
    mycophenolate_g_day: float | None = None  # the daily dose on Day 1, 0 if none
    # The renal history: the crisis recorded at screening (the most recent before the screening date) …
    renal_crisis_at_screening: bool | None = None
    renal_crisis_at_screening_date: date | None = None
    # … and any crisis since the screening visit, recorded on Day 1.
    renal_crisis_since_screening: bool | None = None
    renal_crisis_since_screening_date: date | None = None


def _missing(*what: str) -> str:
    return f"{NOT_YET_RECORDED}: {', '.join(what)}"


def _i4(facts: BaselineFacts, rules: EligibilityRules) -> Outcome:
    if facts.mrss_total is None:
        return UNKNOWN, _missing("Day 1 mRSS total (all 17 areas scored)")
    return (MET if facts.mrss_total >= rules.min_mrss else FAILED), f"Day 1 mRSS {number(facts.mrss_total)}"


def _e7(facts: BaselineFacts, rules: EligibilityRules) -> Outcome:
    dose = facts.mycophenolate_g_day
    if dose is None:
        return UNKNOWN, _missing("daily mycophenolate mofetil dose on Day 1 (0 if none)")
    limit = rules.max_mycophenolate_g_day
    return (FAILED if dose > limit else MET), f"mycophenolate mofetil {number_against(dose, limit)} g/day on Day 1"


def _e15(facts: BaselineFacts, rules: EligibilityRules) -> Outcome:
    months = rules.renal_crisis_window_months
    since = months_before(facts.day1, months)
    records = (
        ("at screening", facts.renal_crisis_at_screening, facts.renal_crisis_at_screening_date),
        ("since the screening visit", facts.renal_crisis_since_screening, facts.renal_crisis_since_screening_date),
    )
    within: list[str] = []  # the crises that exclude, named first
    shown: list[str] = []
    missing: list[str] = []
    for when_asked, present, when in records:
        if present is None:
            missing.append(f"{RENAL_CRISIS} {when_asked}")
        elif not present:
            shown.append(f"no {RENAL_CRISIS} {when_asked}")
        elif when is None:
            missing.append(f"date of the {RENAL_CRISIS} recorded {when_asked}")
        elif when >= since:
            within.append(
                f"{RENAL_CRISIS} on {day(when)}: within the {months} months before Day 1 (on or after {day(since)}); "
                f"Day 1 would have to be on or after {day(first_day_beyond(when, months))}"
            )
        else:
            shown.append(f"{RENAL_CRISIS} on {day(when)}: more than {months} months before Day 1 (before {day(since)})")
    value = "; ".join([*within, *shown, *([_missing(*missing)] if missing else [])])
    return (FAILED if within else UNKNOWN if missing else MET), value


_ASSESS = {"I4": _i4, "E7": _e7, "E15": _e15}
_TITLES = {"I4": "mRSS on Day 1", "E7": "Mycophenolate mofetil on Day 1", "E15": "SSc renal crisis before Day 1"}
_KINDS = {"I4": INCLUSION, "E7": EXCLUSION, "E15": EXCLUSION}


def baseline_rule_text(code: str, r: EligibilityRules) -> str:
    n = number
    return {
        "I4": f"met if the mRSS on Day 1 (17 areas, 0–51) is ≥ {r.min_mrss}",
        "E7": f"excluded if mycophenolate mofetil > {n(r.max_mycophenolate_g_day)} g/day before baseline: the daily "
        f"dose on Day 1 ({n(r.max_mycophenolate_g_day)} g/day is allowed)",
        "E15": f"excluded if an SSc renal crisis within the {r.renal_crisis_window_months} months before Day 1 (the "
        f"day exactly {r.renal_crisis_window_months} months before Day 1 is within), from the crisis recorded at "
        "screening and any since the screening visit",
    }[code]


def _not_of_day1(facts: BaselineFacts) -> str | None:
    """Why the Day-1 form cannot speak for Day 1, or None."""
    if facts.recorded_on is None:
        return _missing("the Day 1 baseline form")
    if facts.recorded_on != facts.day1:
        return _missing(
            f"Day 1 values (the Day 1 baseline form is dated {day(facts.recorded_on)}, Day 1 is {day(facts.day1)})"
        )
    return None


def decide_baseline(facts: BaselineFacts, rules: EligibilityRules) -> EligibilityDecision:
    """Judge I4, E7 and E15 for Day 1: NOT_ELIGIBLE if one failed, else INCOMPLETE if one is not yet known, else
    ELIGIBLE. Never raises for any mix of recorded and missing facts."""
    elsewhere = _not_of_day1(facts)
    results = []
    for code in BASELINE_CODES:
        status, value = (UNKNOWN, elsewhere) if elsewhere else _ASSESS[code](facts, rules)
        results.append(
            CriterionResult(
                code=code,
                kind=_KINDS[code],
                title=_TITLES[code],
                status=status,
                value=value,
                rule=baseline_rule_text(code, rules),
            )
        )
    statuses = {result.status for result in results}
    if FAILED in statuses:
        decision = Decision.NOT_ELIGIBLE
    elif UNKNOWN in statuses:
        decision = Decision.INCOMPLETE
    else:
        decision = Decision.ELIGIBLE
    return EligibilityDecision(decision=decision, criteria=tuple(results))
