"""Safety: serious adverse events and their reporting clocks, laboratory alerts per arm, and exposure.

**Serious** (ICH E2A): an adverse event is serious when it results in death, is life-threatening, requires
hospitalisation or prolongs an existing one, results in persistent or significant disability, is a congenital
anomaly, or is another important medical event. Any one criterion is enough.

**Related**: the investigator's causality assessment. "Possible", "probable" and "definite" count as related:
there is a reasonable possibility that the study drug caused the event, the usual reading of ICH E2A.
"Unlikely" and "not related" do not.

**Reporting clocks.** The site reports a serious adverse event (SAE) to the sponsor within 24 hours of learning
of it. A suspected unexpected serious adverse reaction (SUSAR: serious, related, and not expected from the
reference safety information) goes to the regulator within 7 calendar days when it is fatal or
life-threatening, within 15 calendar days otherwise. Every time must carry its time zone (the site's zone):
a time without one is refused, because "24 hours" cannot be counted from it.

**Laboratory rules** (TRIAL.md, "Arms"): the hold and dose rules of each drug, as alerts for the investigator,
never as automatic decisions. Units: cell counts in ×10⁹/L, haemoglobin in g/dL, eGFR in mL/min/1.73 m²,
ALT and AST in U/L, albumin in g/L. Holds for clinical reasons (a serious infection, herpes zoster) are the
investigator's call and are not here.

**Exposure**: patient-years of treatment, and event rates per 100 patient-years.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final

from clinical.ctcae import ALT_UNIT, COUNT_UNIT, HB_MAX_PLAUSIBLE_G_DL, HB_UNIT
from clinical.display import number, number_against

# ---------------------------------------------------------------------------------------------------------------
# Seriousness and relationship


class Seriousness(StrEnum):
    """The ICH E2A seriousness criteria; an event meeting any one of them is serious."""

    DEATH = "death"
    LIFE_THREATENING = "life_threatening"  # at risk of death at the time of the event
    HOSPITALISATION = "hospitalisation"  # in-patient hospitalisation, or prolongation of an existing one
    DISABILITY = "disability"  # persistent or significant disability or incapacity
    CONGENITAL_ANOMALY = "congenital_anomaly"  # congenital anomaly or birth defect
    IMPORTANT_MEDICAL_EVENT = "important_medical_event"  # may jeopardise the patient or need intervention


SERIOUSNESS_LABELS: Final[dict[Seriousness, str]] = {
    Seriousness.DEATH: "death",
    Seriousness.LIFE_THREATENING: "life-threatening",
    Seriousness.HOSPITALISATION: "hospitalisation or its prolongation",
    Seriousness.DISABILITY: "persistent or significant disability",
    Seriousness.CONGENITAL_ANOMALY: "congenital anomaly",
    Seriousness.IMPORTANT_MEDICAL_EVENT: "other important medical event",
}
"""Each criterion in plain words, as a form or a report shows it."""

_SERIOUSNESS_VALUES: Final = frozenset(criterion.value for criterion in Seriousness)
_SEVEN_DAY_CRITERIA: Final = frozenset({Seriousness.DEATH, Seriousness.LIFE_THREATENING})


def _criteria(criteria: Iterable[Seriousness]) -> frozenset[Seriousness]:
    """The ticked criteria; an unknown value is refused rather than silently counted."""
    if isinstance(criteria, str):
        raise ValueError(f"criteria must be a collection of seriousness criteria, not the text {criteria!r}")
    given = list(criteria)
    unknown = [criterion for criterion in given if criterion not in _SERIOUSNESS_VALUES]
    if unknown:
        known = ", ".join(criterion.value for criterion in Seriousness)
        raise ValueError(f"unknown seriousness criteria {unknown!r}; expected some of: {known}")
    return frozenset(Seriousness(criterion) for criterion in given)


def is_serious(criteria: Iterable[Seriousness]) -> bool:
    """True when at least one ICH E2A criterion is ticked; an event with none ticked is not serious.

    Raises ValueError for a value that is not one of the criteria.
    """
    return bool(_criteria(criteria))


class Relationship(StrEnum):
    """The investigator's assessment of causality between the study drug and the event."""

    NOT_RELATED = "not_related"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


RELATED: Final = frozenset({Relationship.POSSIBLE, Relationship.PROBABLE, Relationship.DEFINITE})
"""The assessments that count as related: a reasonable possibility that the drug caused the event."""


def is_related(relationship: Relationship) -> bool:
    """True for "possible", "probable" and "definite": there is a reasonable possibility that the study drug
    caused the event (the usual reading of ICH E2A, which makes it an adverse reaction). False for "unlikely"
    and "not related". Raises ValueError for another value."""
    return Relationship(relationship) in RELATED


# ---------------------------------------------------------------------------------------------------------------
# Reporting clocks


SAE_REPORTING_HOURS: Final = 24
"""The site reports a serious adverse event to the sponsor within this many hours of learning of it."""

SUSAR_FATAL_DAYS: Final = 7
"""A fatal or life-threatening SUSAR goes to the regulator within this many calendar days (ICH E2A)."""
SUSAR_OTHER_DAYS: Final = 15
"""Any other SUSAR goes to the regulator within this many calendar days (ICH E2A)."""


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a date and time, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must carry its time zone (e.g. the site's zone), not the naive time {value.isoformat()}: "
            "hours cannot be counted from a time without a zone"
        )
    return value


def _instant(value: datetime, what: str) -> datetime:
    """The moment in UTC. Python compares and subtracts two times in the same zone by their clock readings,
    which is an hour wrong across a daylight-saving change; in UTC it is always right."""
    return _aware(value, what).astimezone(UTC)


def sae_deadline(learned_at: datetime) -> datetime:
    """When the SAE report to the sponsor is due: 24 elapsed hours after the site learned of the event,
    shown in the same time zone as ``learned_at``.

    The hours are real elapsed hours. In a zone without daylight saving (Asia/Dhaka) the deadline is the same
    clock time the next day: learned 2026-03-10 23:30 → due 2026-03-11 23:30. Across a clock change the clock
    time moves: learned in London on 2026-03-28 at 12:00 (GMT) → due 2026-03-29 at 13:00 (BST), which is
    24 hours later even though the clocks went forward.

    Raises ValueError when ``learned_at`` has no time zone.
    """
    start = _instant(learned_at, "the time the site learned of the event")
    return (start + timedelta(hours=SAE_REPORTING_HOURS)).astimezone(learned_at.tzinfo)


def sae_time_left(deadline: datetime, now: datetime) -> timedelta:
    """Elapsed time from ``now`` to the deadline; negative once it has passed (by how much it is overdue).

    Raises ValueError when either time has no time zone.
    """
    return _instant(deadline, "the deadline") - _instant(now, "the current time")


def sae_overdue(deadline: datetime, now: datetime, submitted_at: datetime | None) -> bool:
    """True when the report has not been submitted and the deadline has passed (``now`` after it; at the
    deadline itself it is still on time). A report submitted after the deadline is no longer overdue: it was
    submitted late (see ``sae_submitted_late``).

    Raises ValueError when a time has no time zone.
    """
    if submitted_at is not None:
        _aware(submitted_at, "the submission time")
        _aware(deadline, "the deadline")
        _aware(now, "the current time")
        return False
    return _instant(now, "the current time") > _instant(deadline, "the deadline")


def sae_submitted_late(deadline: datetime, submitted_at: datetime) -> bool:
    """True when the report was submitted after the deadline; exactly at the deadline is on time.

    Raises ValueError when a time has no time zone.
    """
    return _instant(submitted_at, "the submission time") > _instant(deadline, "the deadline")


@dataclass(frozen=True)
class SusarClock:
    """The regulator's clock for a suspected unexpected serious adverse reaction: how many calendar days,
    when the report is due (in the zone of the time the event was learned of), and why, in words."""

    days: int
    deadline: datetime
    reason: str


def _calendar_days_later(start: datetime, days: int) -> datetime:
    """The same clock time ``days`` calendar dates later, in the same zone. A clock time that does not exist
    that day (the clocks went forward through it) moves forward by the gap; a clock time that occurs twice
    (the clocks went back) is the first of the two, the earlier deadline."""
    later = (start + timedelta(days=days)).replace(fold=0)
    return later.astimezone(UTC).astimezone(start.tzinfo)


def susar_clock(
    *, serious: bool, related: bool, expected: bool, criteria: Iterable[Seriousness], learned_at: datetime
) -> SusarClock | None:
    """The regulator's reporting clock when the event is a SUSAR, else None.

    A suspected unexpected serious adverse reaction is serious, related (a reasonable possibility that the drug
    caused it: see ``is_related``) and not expected (not listed in the reference safety information: the
    investigator's brochure or the drug's label). It is due within 7 calendar days when it is fatal or
    life-threatening, 15 calendar days otherwise (ICH E2A); day 0 is ``learned_at``, the first knowledge of
    the minimum information for a report. The deadline is the same clock time on the 7th (15th) day, in the
    zone of ``learned_at``; across a daylight-saving change that is an hour more or less than 7 × 24 hours.

    ``serious`` must agree with ``criteria`` (serious exactly when at least one is ticked): a serious event
    without its criteria could not tell 7 days from 15. Raises ValueError when they disagree, or when
    ``learned_at`` has no time zone.
    """
    ticked = _criteria(criteria)
    _aware(learned_at, "the time the event was learned of")
    if bool(serious) != bool(ticked):
        if serious:
            raise ValueError("a serious event needs its seriousness criteria ticked (7 or 15 days depends on them)")
        shown = ", ".join(SERIOUSNESS_LABELS[criterion] for criterion in Seriousness if criterion in ticked)
        raise ValueError(f"an event with seriousness criteria ticked ({shown}) is serious")
    if not (serious and related and not expected):
        return None
    fatal = ticked & _SEVEN_DAY_CRITERIA
    days = SUSAR_FATAL_DAYS if fatal else SUSAR_OTHER_DAYS
    shown = ", ".join(SERIOUSNESS_LABELS[criterion] for criterion in Seriousness if criterion in ticked)
    why = "fatal or life-threatening" if fatal else "neither fatal nor life-threatening"
    reason = (
        f"Suspected unexpected serious adverse reaction: serious ({shown}), related to the study drug and not "
        f"expected; {why}, so report to the regulator within {days} calendar days (ICH E2A)."
    )
    return SusarClock(days=days, deadline=_calendar_days_later(learned_at, days), reason=reason)


# ---------------------------------------------------------------------------------------------------------------
# Laboratory hold and dose rules


EGFR_UNIT: Final = "mL/min/1.73 m²"
ALBUMIN_UNIT: Final = "g/L"

LAB_TESTS: Final[dict[str, tuple[str, str]]] = {
    "alc": ("ALC", COUNT_UNIT),  # absolute lymphocyte count
    "anc": ("ANC", COUNT_UNIT),  # absolute neutrophil count
    "hb": ("Hb", HB_UNIT),
    "egfr": ("eGFR", EGFR_UNIT),
    "wbc": ("WBC", COUNT_UNIT),
    "platelets": ("platelets", COUNT_UNIT),
    "alt": ("ALT", ALT_UNIT),
    "ast": ("AST", ALT_UNIT),
    "albumin": ("albumin", ALBUMIN_UNIT),
}
"""The tests a rule may watch: the key of the value, its name as written, and its unit."""

COMPARISONS: Final = ("<", ">", "range")


def _threshold(value: float | None, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number, not {value!r}")
    return value


@dataclass(frozen=True)
class LabRule:
    """One hold or dose rule of an arm: the rule fires when the result is below (``<``) or above (``>``) the
    threshold, or within the half-open range low ≤ value < high (``range``: "30 to < 60"). A value exactly on
    a threshold does not fire ("ALC < 0.5": 0.5 does not, 0.49 does). For a range, ``threshold`` repeats the
    low edge. ``text`` says the rule in plain words with units."""

    code: str  # e.g. "BARI_ALC", "MTX_ALT"
    arm: str  # "A" (baricitinib) or "B" (methotrexate)
    test: str  # a key of LAB_TESTS: "alc", "anc", "hb", "egfr", "wbc", "platelets", "alt", "ast", "albumin"
    comparison: str  # "<", ">", or "range" for low ≤ value < high
    threshold: float  # for < and >; for a range, the low edge
    low: float | None = None  # for "range": included
    high: float | None = None  # for "range": excluded
    action: str = ""  # "hold", "reduce to 2 mg daily", "hold and review"
    text: str = ""  # e.g. "ALC < 0.5 ×10⁹/L: hold baricitinib"

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code.strip():
            raise ValueError(f"a laboratory rule needs a code such as 'BARI_ALC', not {self.code!r}")
        if self.test not in LAB_TESTS:
            raise ValueError(f"rule {self.code}: unknown test {self.test!r}; expected one of {', '.join(LAB_TESTS)}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"rule {self.code}: comparison must be '<', '>' or 'range', not {self.comparison!r}")
        _threshold(self.threshold, f"the threshold of rule {self.code}")
        if self.comparison == "range":
            low = _threshold(self.low, f"the low edge of rule {self.code}")
            high = _threshold(self.high, f"the high edge of rule {self.code}")
            if not low < high:
                raise ValueError(f"rule {self.code}: the range needs low < high, not [{low}, {high})")
            if self.threshold != low:
                raise ValueError(f"rule {self.code}: for a range the threshold repeats the low edge ({low})")
        elif self.low is not None or self.high is not None:
            raise ValueError(f"rule {self.code}: low and high are for a range only; use the threshold")

    @property
    def unit(self) -> str:
        return LAB_TESTS[self.test][1]

    def fires(self, value: float) -> bool:
        """True when ``value`` meets the rule; edges as in the class description."""
        if self.comparison == "<":
            return value < self.threshold
        if self.comparison == ">":
            return value > self.threshold
        low, high = self.low, self.high
        return low is not None and high is not None and low <= value < high


def _rule(code: str, arm: str, test: str, comparison: str, threshold: str, action: str, says: str) -> LabRule:
    """A "<" or ">" rule whose text shows the threshold as the protocol writes it ("1.0", "140"):
    "ANC < 1.0 ×10⁹/L: hold baricitinib"."""
    label, unit = LAB_TESTS[test]
    text = f"{label} {comparison} {threshold} {unit}: {says}"
    return LabRule(code, arm, test, comparison, float(threshold), action=action, text=text)


_BARI_HOLD: Final = "hold baricitinib"
_MTX_HOLD: Final = "hold methotrexate and review"

BARICITINIB_RULES: Final[tuple[LabRule, ...]] = (
    _rule("BARI_ALC", "A", "alc", "<", "0.5", "hold", _BARI_HOLD),
    _rule("BARI_ANC", "A", "anc", "<", "1.0", "hold", _BARI_HOLD),
    _rule("BARI_HB", "A", "hb", "<", "8", "hold", _BARI_HOLD),
    LabRule(
        "BARI_EGFR_REDUCE",
        "A",
        "egfr",
        "range",
        30.0,
        low=30.0,
        high=60.0,
        action="reduce to 2 mg daily",
        text=f"eGFR 30 to < 60 {EGFR_UNIT}: reduce baricitinib to 2 mg once daily",
    ),
    _rule(
        "BARI_EGFR_HOLD",
        "A",
        "egfr",
        "<",
        "30",
        "hold",
        "hold baricitinib (the Olumiant label does not recommend it below eGFR 30)",
    ),
)
"""Arm A, baricitinib 4 mg once daily (Olumiant label): hold for ALC < 0.5 or ANC < 1.0 ×10⁹/L or Hb < 8 g/dL;
reduce to 2 mg daily for eGFR 30 to < 60; hold below eGFR 30, where the label does not recommend it."""

METHOTREXATE_RULES: Final[tuple[LabRule, ...]] = (
    _rule("MTX_WBC", "B", "wbc", "<", "3.5", "hold and review", _MTX_HOLD),
    _rule("MTX_ANC", "B", "anc", "<", "1.6", "hold and review", _MTX_HOLD),
    _rule("MTX_PLATELETS", "B", "platelets", "<", "140", "hold and review", _MTX_HOLD),
    _rule("MTX_ALT", "B", "alt", ">", "100", "hold and review", _MTX_HOLD),
    _rule("MTX_AST", "B", "ast", ">", "100", "hold and review", _MTX_HOLD),
    _rule("MTX_ALBUMIN", "B", "albumin", "<", "30", "hold and review", _MTX_HOLD),
    _rule("MTX_EGFR", "B", "egfr", "<", "60", "hold and review", _MTX_HOLD),
)
"""Arm B, methotrexate 25 mg once weekly (BSR/UK monitoring guidance): hold and review for WBC < 3.5,
ANC < 1.6 or platelets < 140 ×10⁹/L, ALT or AST > 100 U/L, albumin < 30 g/L, or eGFR < 60."""


@dataclass(frozen=True)
class FiredRule:
    """A rule that fired, with the value that fired it."""

    rule: LabRule
    value: float

    @property
    def message(self) -> str:
        """The alert in words: the value, then the rule, e.g. "ALC 0.49 ×10⁹/L — ALC < 0.5 ×10⁹/L: hold
        baricitinib"."""
        rule = self.rule
        edges = (rule.threshold,) if rule.comparison != "range" else (rule.low, rule.high)
        shown = number_against(self.value, *(edge for edge in edges if edge is not None))
        return f"{LAB_TESTS[rule.test][0]} {shown} {rule.unit} — {rule.text}"


def _lab_value(test: str, value: float) -> float:
    label, unit = LAB_TESTS[test]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{label} must be a number, not {value!r}")
    if value < 0:
        raise ValueError(f"{label} cannot be negative: {value} {unit}")
    if test == "hb" and value > HB_MAX_PLAUSIBLE_G_DL:
        raise ValueError(f"Hb {value} is above {number(HB_MAX_PLAUSIBLE_G_DL)} g/dL: it looks like g/L; enter g/dL")
    return value


def lab_rules_fired(rules: Iterable[LabRule], values: Mapping[str, float | None]) -> tuple[FiredRule, ...]:
    """The rules that the results fire, in the order of ``rules``.

    ``values`` maps a test (a key of LAB_TESTS: "alc", "hb", "egfr", …) to its result in the unit of
    LAB_TESTS. A missing result (absent or None) never fires a rule: no alert means "nothing fired", not
    "all results were normal". Other keys are ignored. Only the rules passed are checked: pass the rule set of
    the participant's arm. Raises ValueError for a result that is not a number, is negative, or is a
    haemoglobin above 25 (g/L instead of g/dL).
    """
    fired: list[FiredRule] = []
    for rule in rules:
        value = values.get(rule.test)
        if value is None:
            continue
        value = _lab_value(rule.test, value)
        if rule.fires(value):
            fired.append(FiredRule(rule=rule, value=value))
    return tuple(fired)


# ---------------------------------------------------------------------------------------------------------------
# Exposure


DAYS_PER_YEAR: Final = 365.25


def _plain_date(value: date, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{what} must be a calendar date (not a date and time), not {value!r}")
    return value


def patient_years(periods: Iterable[tuple[date, date]]) -> float:
    """Total exposure in patient-years: the days of each period, first and last day both counted, summed and
    divided by 365.25. A participant treated from 2024-01-01 to 2027-12-31 contributes 1461 days = 4.0.

    Periods are added as given: pass one period per stretch of treatment, without overlaps for the same
    participant (different participants may of course overlap in time). Raises ValueError when a period ends
    before it starts.
    """
    days = 0
    for start, end in periods:
        _plain_date(start, "the start of an exposure period")
        _plain_date(end, "the end of an exposure period")
        if end < start:
            raise ValueError(f"an exposure period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        days += (end - start).days + 1
    return days / DAYS_PER_YEAR


def rate_per_100_patient_years(events: int, patient_years: float) -> float | None:
    """Events per 100 patient-years of exposure: 3 events in 12 patient-years is 25.0. None when there is no
    exposure (0 patient-years), where a rate means nothing. Raises ValueError for a negative or fractional
    count of events, or a negative exposure."""
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise ValueError(f"events must be a whole number, 0 or more, not {events!r}")
    exposure = _threshold(patient_years, "exposure in patient-years")
    if exposure < 0:
        raise ValueError(f"exposure cannot be negative: {exposure} patient-years")
    if exposure == 0:
        return None
    return events / exposure * 100
