"""The 21 criteria one by one: what each reads from the facts, its status, and its explanation in words.

Each assessment returns (status, value): ``value`` names the facts used, with units, or says what is "not yet
recorded". ``rule_text`` states each rule with the thresholds of the given ``EligibilityRules``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Final

from clinical.acr_eular import APPLICABILITY_QUESTIONS, ITEM_LABELS, SUFFICIENT_ITEM, AcrEularItems, acr_eular_score
from clinical.dates import first_day_beyond, months_after, months_and_days, years_before
from clinical.display import day, number, number_against
from clinical.eligibility_model import CriterionStatus, EligibilityRules, ScreeningFacts
from clinical.skin import (
    PROXIMAL_SITES,
    SITE_LABELS,
    SKIN_SITES,
    SkinInvolvement,
    SkinSubset,
    diffuse_cutaneous,
    skin_subset,
)

MET, FAILED, UNKNOWN = CriterionStatus.MET, CriterionStatus.FAILED, CriterionStatus.UNKNOWN
NOT_YET_RECORDED: Final = "not yet recorded"
PER_L: Final = "×10⁹/L"
EGFR_UNIT: Final = "mL/min/1.73 m²"

Outcome = tuple[CriterionStatus, str]


# --- reading facts defensively -------------------------------------------------------------------------------


def _measure(value: object) -> float | None:
    """A recorded number, or None if missing or not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _answer(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _missing(*what: str) -> str:
    return f"{NOT_YET_RECORDED}: {', '.join(what)}"


def _yes_no(answer: object, what: str) -> Outcome:
    """An exclusion asked as a yes/no question: yes fails, no is met, unanswered is unknown."""
    answer = _answer(answer)
    if answer is None:
        return UNKNOWN, _missing(what)
    return (FAILED if answer else MET), f"{what}: {'yes' if answer else 'no'}"


def _days_before(earlier: date, screening: date) -> str:
    days = (screening - earlier).days
    if days == 0:
        return "on the screening date"
    if days < 0:
        return f"{-days} day{'s' if days != -1 else ''} after the screening date {day(screening)}"
    return f"{days} day{'s' if days != 1 else ''} before screening"


# --- inclusion ------------------------------------------------------------------------------------------------


_NOT_APPLICABLE_BECAUSE: Final = {
    "skin_thickening_spares_fingers": "skin thickening spares the fingers",
    "better_explained_by_other_disorder": "a scleroderma-like disorder explains the picture better",
}


def _i1(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    items = facts.acr_eular if isinstance(facts.acr_eular, AcrEularItems) else AcrEularItems()
    score = acr_eular_score(items, threshold=rules.acr_eular_min_score)
    if getattr(items, SUFFICIENT_ITEM) is True:
        points = f"score {score.total} (with 9 for {ITEM_LABELS[SUFFICIENT_ITEM]}: sufficient on its own)"
    else:
        points = f"score {score.total}"
    if score.applicable is False:
        reasons = [_NOT_APPLICABLE_BECAUSE[name] for name in APPLICABILITY_QUESTIONS if getattr(items, name) is True]
        return FAILED, f"criteria not applicable: {' and '.join(reasons)} ({points})"
    if score.classified is True:
        return MET, f"{points}; criteria applicable"
    if score.classified is False:
        return FAILED, f"{points}; at most {score.maximum_possible} even if every unanswered item were yes"
    missing = [ITEM_LABELS[name] for name in score.unanswered]
    return UNKNOWN, f"{points} so far, at most {score.maximum_possible}; {_missing(*missing)}"


def _skin_value(skin: SkinInvolvement) -> tuple[bool | None, str]:
    diffuse = diffuse_cutaneous(skin)
    thickened = [SITE_LABELS[site] for site in SKIN_SITES if getattr(skin, site) is True]
    if diffuse is True:
        proximal = [SITE_LABELS[site] for site in PROXIMAL_SITES if getattr(skin, site) is True]
        return True, f"diffuse: skin thickening at {', '.join(proximal)}"
    if diffuse is None:
        unrecorded = [SITE_LABELS[site] for site in PROXIMAL_SITES if getattr(skin, site) is None]
        return None, _missing(f"skin thickening at {', '.join(unrecorded)}")
    subset = skin_subset(skin)
    if subset is None:
        return False, "no skin thickening proximal to the elbows or knees or on the trunk (limited or sine)"
    if subset is SkinSubset.LIMITED:
        return False, f"limited: skin thickening only at {', '.join(thickened)}"
    return False, "SSc sine scleroderma: no skin thickening at any site"


def _skin(facts: ScreeningFacts) -> SkinInvolvement:
    return facts.skin if isinstance(facts.skin, SkinInvolvement) else SkinInvolvement()


def _i2(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    diffuse, value = _skin_value(_skin(facts))
    return (UNKNOWN if diffuse is None else MET if diffuse else FAILED), value


def span_words(months: int, days: int) -> str:
    """A span as months_and_days measures it: "60 months and 1 day", "1 month and 0 days"."""
    return f"{months} month{'s' if months != 1 else ''} and {days} day{'s' if days != 1 else ''}"


def _i3(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    onset = _day(facts.first_non_raynaud_date)
    if onset is None:
        return UNKNOWN, _missing("date of the first non-Raynaud manifestation")
    if onset > facts.screening_date:
        return FAILED, (
            f"first non-Raynaud manifestation on {day(onset)} is after the screening date "
            f"{day(facts.screening_date)}: this cannot be, check the dates"
        )
    limit_months = rules.max_disease_duration_months
    limit = months_after(onset, limit_months)
    span = span_words(*months_and_days(onset, facts.screening_date))
    within = facts.screening_date <= limit
    relation = "no later than" if within else "after"
    return (MET if within else FAILED), (
        f"first non-Raynaud manifestation on {day(onset)}: screening {span} later, {relation} {day(limit)} "
        f"({limit_months} months after it)"
    )


def _i4(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    total = _measure(facts.mrss_total)
    if total is None:
        return UNKNOWN, _missing("baseline mRSS total (all 17 areas scored)")
    return (MET if total >= rules.min_mrss else FAILED), f"mRSS {number(total)}"


# --- exclusion ------------------------------------------------------------------------------------------------


def _e1(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.other_rheumatic_disease, "other rheumatic disease")


def _e2(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    diffuse, value = _skin_value(_skin(facts))
    return (UNKNOWN if diffuse is None else MET if diffuse else FAILED), value


def _e3(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    surgery = _answer(facts.major_surgery)
    if surgery is None:
        return UNKNOWN, _missing("major surgery")
    if not surgery:
        return MET, "major surgery: no"
    when = _day(facts.major_surgery_date)
    if when is None:
        return UNKNOWN, f"major surgery: yes; {_missing('date of the surgery')}"
    value = f"major surgery on {day(when)}, {_days_before(when, facts.screening_date)}"
    if when > facts.screening_date:
        return FAILED, f"{value} (before treatment)"
    within = (facts.screening_date - when).days <= rules.surgery_window_days
    return (FAILED if within else MET), value


def _e4(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.infected_ulcer, "infected ulcer")


def _e5(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.serious_bacterial_infection, "serious bacterial infection")


def _e6(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    dose = _measure(facts.prednisone_equivalent_mg_day)
    if dose is None:
        return UNKNOWN, _missing("daily oral corticosteroid dose as prednisone equivalent (0 if none)")
    status = FAILED if dose > rules.max_prednisone_mg_day else MET
    return status, f"prednisone equivalent {number_against(dose, rules.max_prednisone_mg_day)} mg/day"


def _e7(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    dose = _measure(facts.mycophenolate_g_day)
    if dose is None:
        return UNKNOWN, _missing("daily mycophenolate mofetil dose (0 if none)")
    status = FAILED if dose > rules.max_mycophenolate_g_day else MET
    return status, f"mycophenolate mofetil {number_against(dose, rules.max_mycophenolate_g_day)} g/day"


def _e8(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    tests = (
        ("FVC", _measure(facts.fvc_percent), rules.min_fvc_percent_exclusive),
        ("DLCO", _measure(facts.dlco_percent), rules.min_dlco_percent_exclusive),
    )
    shown = [
        f"{name} {number_against(value, limit)} % predicted{' (excludes)' if value <= limit else ''}"
        for name, value, limit in tests
        if value is not None
    ]
    missing = [f"{name} % predicted" for name, value, _ in tests if value is None]
    value = "; ".join([*shown, *([_missing(*missing)] if missing else [])])
    if any(value is not None and value <= limit for _, value, limit in tests):
        return FAILED, value
    return (UNKNOWN if missing else MET), value


def _hepatitis(positive: object, tested: object, facts: ScreeningFacts, rules: EligibilityRules, test: str) -> Outcome:
    positive, tested = _answer(positive), _day(tested)
    window = rules.hepatitis_test_window_days
    if positive is None and tested is None:
        return UNKNOWN, _missing(f"{test} result and test date")
    if tested is None:
        return UNKNOWN, f"{test} {'positive' if positive else 'negative'}; {_missing('date of the test')}"
    if positive is None:
        return UNKNOWN, _missing(f"{test} result of the test on {day(tested)}")
    result = "positive" if positive else "negative"
    days = (facts.screening_date - tested).days
    if days < 0 or days > window:
        why = "is after the screening date" if days < 0 else f"is older than {window} days"
        return UNKNOWN, (
            f"{_missing(f'{test} result from the {window} days before screening')} "
            f"(the {result} test from {day(tested)} {why})"
        )
    return (
        FAILED if positive else MET
    ), f"{test} {result} on {day(tested)}, {_days_before(tested, facts.screening_date)}"


def _e9(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.active_tuberculosis, "active tuberculosis")


def _e10(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _hepatitis(facts.hbsag_positive, facts.hbsag_test_date, facts, rules, "HBsAg")


def _e11(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _hepatitis(facts.hcv_antigen_positive, facts.hcv_test_date, facts, rules, "HCV antigen")


def _e12(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.uncontrolled_significant_disease, "uncontrolled significant disease")


def _e13(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    if facts.sex == "M":
        return MET, "male: not applicable"
    if facts.sex != "F":
        return UNKNOWN, _missing("sex")
    pregnant = _answer(facts.pregnant_or_breastfeeding)
    potential = _answer(facts.childbearing_potential)
    willing = _answer(facts.willing_to_use_contraception)
    test_positive = _answer(facts.pregnancy_test_positive)
    if pregnant is True:
        return FAILED, "pregnant or breastfeeding"
    if test_positive is True:
        return FAILED, "pregnancy test positive"
    if potential is True and willing is False:
        return FAILED, "woman of childbearing potential unwilling to use highly effective contraception"
    if pregnant is False and potential is False:
        return MET, "not pregnant or breastfeeding; not of childbearing potential"
    if pregnant is False and potential is True and willing is True and test_positive is False:
        return MET, (
            "not pregnant or breastfeeding; of childbearing potential, willing to use highly effective "
            "contraception, pregnancy test negative"
        )
    missing = []
    if pregnant is None:
        missing.append("pregnancy or breastfeeding")
    if potential is None:
        missing.append("childbearing potential")
    if potential is not False and willing is None:
        missing.append("willingness to use highly effective contraception")
    if potential is not False and test_positive is None:
        missing.append("pregnancy test result")
    return UNKNOWN, _missing(*missing)


def _history(present: object, when: object, since: date, facts: ScreeningFacts, what: str, window: str) -> Outcome:
    """A past event that excludes when it happened on or after ``since`` (the start of the window)."""
    present, when = _answer(present), _day(when)
    if present is None:
        return UNKNOWN, _missing(what)
    if not present:
        return MET, f"{what}: no"
    if when is None:
        return UNKNOWN, f"{what}: yes; {_missing(f'date of the {what}')}"
    if when >= since:
        return FAILED, f"{what} on {day(when)}: within the last {window} (on or after {day(since)})"
    return MET, f"{what} on {day(when)}: more than {window} before screening (before {day(since)})"


def _e14(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    years = rules.malignancy_window_years
    since = years_before(facts.screening_date, years)
    return _history(facts.malignancy, facts.malignancy_date, since, facts, "malignancy", f"{years} years")


def _e15(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    """At screening Day 1 is not known yet, only the days the screening window allows (the day after screening
    to ``screening_window_days`` after it). A renal crisis fails E15 here only when it would be within the
    window before even the last of those days; otherwise Day 1 decides (``clinical.eligibility_baseline``)."""
    what = "SSc renal crisis"
    present, when = _answer(facts.renal_crisis), _day(facts.renal_crisis_date)
    if present is None:
        return UNKNOWN, _missing(what)
    if not present:
        return MET, f"{what}: no"
    if when is None:
        return UNKNOWN, f"{what}: yes; {_missing(f'date of the {what}')}"
    months = rules.renal_crisis_window_months
    first_day1 = facts.screening_date + timedelta(days=1)
    last_day1 = facts.screening_date + timedelta(days=rules.screening_window_days)
    beyond = first_day_beyond(when, months)
    if beyond > last_day1:
        return FAILED, (
            f"{what} on {day(when)}: within the {months} months before any Day 1 this screening allows "
            f"(Day 1 by {day(last_day1)}; it would have to be on or after {day(beyond)})"
        )
    if beyond <= first_day1:
        return MET, f"{what} on {day(when)}: more than {months} months before any Day 1 this screening allows"
    return MET, (
        f"{what} on {day(when)}: Day 1 must be on or after {day(beyond)} (more than {months} months later); "
        "judged again on Day 1"
    )


def _alt_excludes(alt: float, uln: float, multiple: float) -> bool:
    """ALT > multiple × ULN, computed exactly on the values as entered (ALT 123.3 with ULN 41.1 is exactly 3×)."""
    return Fraction(repr(alt)) > Fraction(repr(multiple)) * Fraction(repr(uln))


def _e16(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    return _yes_no(facts.anaphylaxis_to_study_drugs, "anaphylaxis to a study drug")


def _e17(facts: ScreeningFacts, rules: EligibilityRules) -> Outcome:
    shown: list[str] = []
    missing: list[str] = []
    failed = False
    limits = (
        ("Hb", facts.hb_g_dl, rules.min_hb_g_dl, "g/dL"),
        ("WBC", facts.wbc, rules.min_wbc, PER_L),
        ("ANC", facts.anc, rules.min_anc, PER_L),
        ("platelets", facts.platelets, rules.min_platelets, PER_L),
        ("ALC", facts.alc, rules.min_alc, PER_L),
    )
    for name, raw, limit, unit in limits:
        value = _measure(raw)
        if value is None:
            missing.append(name)
            continue
        low = value < limit
        failed |= low
        excess = f" (excludes: < {number(limit)})" if low else ""
        shown.append(f"{name} {number_against(value, limit)} {unit}{excess}")

    alt, uln = _measure(facts.alt), _measure(facts.alt_uln)
    if uln is not None and uln <= 0:
        uln = None
    if alt is None:
        missing.append("ALT")
    if uln is None:
        missing.append("ALT upper limit of normal")
    if alt is not None and uln is not None:
        multiple = rules.max_alt_uln_multiple
        high = _alt_excludes(alt, uln, multiple)
        failed |= high
        excess = f" (excludes: > {number(multiple)} × ULN = {number(multiple * uln)})" if high else ""
        shown.append(f"ALT {number(alt)} U/L with ULN {number(uln)}{excess}")

    egfr = _measure(facts.egfr)
    if egfr is None:
        missing.append("eGFR")
    else:
        low = egfr < rules.min_egfr
        failed |= low
        excess = f" (excludes: < {number(rules.min_egfr)})" if low else ""
        shown.append(f"eGFR {number_against(egfr, rules.min_egfr)} {EGFR_UNIT}{excess}")

    value = "; ".join([*([", ".join(shown)] if shown else []), *([_missing(*missing)] if missing else [])])
    return (FAILED if failed else UNKNOWN if missing else MET), value


# --- the rules in words ---------------------------------------------------------------------------------------


def rule_text(code: str, r: EligibilityRules) -> str:
    n = number
    texts = {
        "I1": f"met if the 2013 ACR/EULAR total (every item's points added, each item's highest sub-item once) "
        f"is ≥ {r.acr_eular_min_score} (skin thickening of the fingers proximal to the MCP joints, 9, is enough "
        "alone) and the criteria are applicable: not if skin thickening "
        "spares the fingers or a scleroderma-like disorder explains the picture better",
        "I2": "met if diffuse cutaneous SSc (LeRoy & Medsger 2001): skin thickening proximal to the elbows or knees "
        "(upper arms, thighs, chest or abdomen) at any time",
        "I3": f"met if the screening date is no later than the day {r.max_disease_duration_months} calendar "
        f"months after the first non-Raynaud manifestation (that day included, the next excluded; a day the "
        "month lacks, such as 29 February, becomes the last day of the month)",
        "I4": f"met if the mRSS (17 areas, 0–51) is ≥ {r.min_mrss}: the screening mRSS here, the Day 1 mRSS "
        "again before randomisation",
        "E1": "excluded if a rheumatic disease other than SSc; fibromyalgia and scleroderma-associated myopathy "
        "do not exclude",
        "E2": "excluded if limited cutaneous SSc or SSc sine scleroderma at screening (no skin thickening "
        "proximal to the elbows or knees or on the trunk)",
        "E3": f"excluded if major surgery (joint surgery included) within {r.surgery_window_days} days before "
        f"screening ({r.surgery_window_days} days before excludes, {r.surgery_window_days + 1} is allowed) "
        "or after screening but before treatment",
        "E4": "excluded if any infected ulcer before treatment",
        "E5": "excluded if a serious bacterial infection (e.g. chronic pyelonephritis, osteomyelitis, bronchiectasis)",
        "E6": f"excluded if oral corticosteroids > {n(r.max_prednisone_mg_day)} mg/day prednisone or equivalent "
        f"({n(r.max_prednisone_mg_day)} mg/day is allowed)",
        "E7": f"excluded if mycophenolate mofetil > {n(r.max_mycophenolate_g_day)} g/day before baseline "
        f"({n(r.max_mycophenolate_g_day)} g/day is allowed): the dose at screening here, the dose on Day 1 "
        "again before randomisation",
        "E8": f"excluded if FVC ≤ {n(r.min_fvc_percent_exclusive)} % predicted or DLCO (uncorrected for Hb) "
        f"≤ {n(r.min_dlco_percent_exclusive)} % predicted",
        "E9": "excluded if active tuberculosis (clinical, radiographic or laboratory evidence)",
        "E10": f"excluded if HBsAg positive; the test counts if taken on the screening date or up to "
        f"{r.hepatitis_test_window_days} days before it",
        "E11": f"excluded if HCV antigen positive; the test counts if taken on the screening date or up to "
        f"{r.hepatitis_test_window_days} days before it",
        "E12": "excluded if uncontrolled significant renal, hepatic, haematologic, GI, metabolic, endocrine, "
        "pulmonary, cardiac or neurologic disease, current or recent",
        "E13": "excluded if pregnant or breastfeeding, a positive pregnancy test, or a woman of childbearing "
        "potential unwilling to use highly effective contraception during the study and 28 days after",
        "E14": f"excluded if malignancy within the last {r.malignancy_window_years} years (a diagnosis exactly "
        f"{r.malignancy_window_years} years before screening is within)",
        "E15": f"excluded if SSc renal crisis within the {r.renal_crisis_window_months} months before Day 1 "
        f"(exactly {r.renal_crisis_window_months} months before is within); at screening it excludes only if "
        f"that holds even for a Day 1 {r.screening_window_days} days after screening, the last the screening "
        "window allows; judged again on Day 1",
        "E16": "excluded if anaphylaxis to either study drug",
        "E17": f"excluded if Hb < {n(r.min_hb_g_dl)} g/dL, WBC < {n(r.min_wbc)}, ANC < {n(r.min_anc)}, "
        f"platelets < {n(r.min_platelets)} or ALC < {n(r.min_alc)} {PER_L}, ALT > "
        f"{n(r.max_alt_uln_multiple)} × ULN, or eGFR < {n(r.min_egfr)} {EGFR_UNIT}",
    }
    return texts[code]


@dataclass(frozen=True)
class Criterion:
    """One criterion of the protocol and how to assess it."""

    code: str
    kind: str
    title: str
    assess: Callable[[ScreeningFacts, EligibilityRules], Outcome]


INCLUSION: Final = "inclusion"
EXCLUSION: Final = "exclusion"

CRITERIA: Final[tuple[Criterion, ...]] = (
    Criterion("I1", INCLUSION, "SSc by 2013 ACR/EULAR criteria", _i1),
    Criterion("I2", INCLUSION, "Diffuse cutaneous SSc", _i2),
    Criterion("I3", INCLUSION, "Disease duration", _i3),
    Criterion("I4", INCLUSION, "mRSS at baseline", _i4),
    Criterion("E1", EXCLUSION, "Other rheumatic disease", _e1),
    Criterion("E2", EXCLUSION, "Limited cutaneous SSc or sine scleroderma", _e2),
    Criterion("E3", EXCLUSION, "Major surgery", _e3),
    Criterion("E4", EXCLUSION, "Infected ulcer", _e4),
    Criterion("E5", EXCLUSION, "Serious bacterial infection", _e5),
    Criterion("E6", EXCLUSION, "Oral corticosteroids", _e6),
    Criterion("E7", EXCLUSION, "Mycophenolate mofetil", _e7),
    Criterion("E8", EXCLUSION, "Pulmonary function", _e8),
    Criterion("E9", EXCLUSION, "Active tuberculosis", _e9),
    Criterion("E10", EXCLUSION, "Hepatitis B", _e10),
    Criterion("E11", EXCLUSION, "Hepatitis C", _e11),
    Criterion("E12", EXCLUSION, "Uncontrolled significant disease", _e12),
    Criterion("E13", EXCLUSION, "Pregnancy, breastfeeding or contraception", _e13),
    Criterion("E14", EXCLUSION, "Malignancy", _e14),
    Criterion("E15", EXCLUSION, "SSc renal crisis", _e15),
    Criterion("E16", EXCLUSION, "Anaphylaxis to study drugs", _e16),
    Criterion("E17", EXCLUSION, "Screening laboratory tests", _e17),
)
CRITERION_CODES: Final[tuple[str, ...]] = tuple(criterion.code for criterion in CRITERIA)
