"""The plain values of the eligibility decision: the facts screening recorded, the protocol's thresholds, and
the explained result. ``clinical.eligibility`` re-exports every name here; import them from there."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from clinical.acr_eular import AcrEularItems
from clinical.skin import SkinInvolvement


class CriterionStatus(StrEnum):
    MET = "met"  # does not stand in the way
    FAILED = "failed"  # stands in the way
    UNKNOWN = "unknown"  # data missing


class Decision(StrEnum):
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's outcome, explained: ``value`` names the facts used (with units) or what is missing
    ("not yet recorded: …"); ``rule`` states the rule with its threshold."""

    code: str
    kind: str  # "inclusion" | "exclusion"
    title: str
    status: CriterionStatus
    value: str
    rule: str


@dataclass(frozen=True)
class EligibilityDecision:
    """The decision and its criteria in order: all 21 (I1–I4, E1–E17) at screening; I4, E7, E15 on Day 1."""

    decision: Decision
    criteria: tuple[CriterionResult, ...]

    @property
    def failed_codes(self) -> tuple[str, ...]:
        return tuple(result.code for result in self.criteria if result.status is CriterionStatus.FAILED)

    @property
    def unknown_codes(self) -> tuple[str, ...]:
        return tuple(result.code for result in self.criteria if result.status is CriterionStatus.UNKNOWN)


@dataclass(frozen=True)
class EligibilityRules:
    """The thresholds; no defaults here: the protocol definition supplies them."""

    acr_eular_min_score: int  # I1: score ≥ this
    max_disease_duration_months: int  # I3: screening no later than the day this many months after the onset
    min_mrss: int  # I4: mRSS ≥ this (at screening, and again on Day 1)
    surgery_window_days: int  # E3: surgery this many days or fewer before screening excludes
    max_prednisone_mg_day: float  # E6: > this excludes
    max_mycophenolate_g_day: float  # E7: > this excludes
    min_fvc_percent_exclusive: float  # E8: FVC ≤ this excludes
    min_dlco_percent_exclusive: float  # E8: DLCO ≤ this excludes
    hepatitis_test_window_days: int  # E10/E11: a test counts from this many days before screening to screening
    malignancy_window_years: int  # E14: within this many years (the day exactly that long ago included)
    renal_crisis_window_months: int  # E15: within this many months before Day 1 (that day included)
    min_hb_g_dl: float  # E17: Hb < this excludes
    min_wbc: float  # E17: ×10⁹/L
    min_anc: float
    min_platelets: float
    min_alc: float
    max_alt_uln_multiple: float  # E17: ALT > this × ULN excludes
    min_egfr: float  # E17: mL/min/1.73 m²
    screening_window_days: int  # Day 1 (randomisation) 1 to this many days after screening (Day −28 to −1)


@dataclass(frozen=True)
class ScreeningFacts:
    """What screening recorded; every field but ``screening_date`` may be None (not yet recorded)."""

    screening_date: date
    date_of_birth: date | None = None  # used by the caller for eGFR
    sex: str | None = None  # "F" | "M"
    acr_eular: AcrEularItems = field(default_factory=AcrEularItems)
    skin: SkinInvolvement = field(default_factory=SkinInvolvement)
    first_non_raynaud_date: date | None = None
    mrss_total: int | None = None
    other_rheumatic_disease: bool | None = None  # E1 (fibromyalgia / SSc myopathy do not count)
    major_surgery: bool | None = None  # E3; if True, major_surgery_date needed
    major_surgery_date: date | None = None
    infected_ulcer: bool | None = None  # E4
    serious_bacterial_infection: bool | None = None  # E5
    prednisone_equivalent_mg_day: float | None = None  # E6 (0 if none)
    mycophenolate_g_day: float | None = None  # E7 (0 if none)
    fvc_percent: float | None = None  # E8
    dlco_percent: float | None = None
    active_tuberculosis: bool | None = None  # E9
    hbsag_positive: bool | None = None  # E10 with its test date
    hbsag_test_date: date | None = None
    hcv_antigen_positive: bool | None = None  # E11 with its test date
    hcv_test_date: date | None = None
    uncontrolled_significant_disease: bool | None = None  # E12
    pregnant_or_breastfeeding: bool | None = None  # E13
    childbearing_potential: bool | None = None
    willing_to_use_contraception: bool | None = None
    pregnancy_test_positive: bool | None = None
    malignancy: bool | None = None  # E14; if True, malignancy_date needed
    malignancy_date: date | None = None
    renal_crisis: bool | None = None  # E15; if True, renal_crisis_date needed
    renal_crisis_date: date | None = None
    anaphylaxis_to_study_drugs: bool | None = None  # E16
    hb_g_dl: float | None = None  # E17 labs
    wbc: float | None = None
    anc: float | None = None
    platelets: float | None = None
    alc: float | None = None
    alt: float | None = None
    alt_uln: float | None = None
    egfr: float | None = None  # computed by the caller with egfr_ckd_epi_2021
