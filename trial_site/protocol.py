"""The protocol as data: the one place that names the trial, its arms, its schedule and its thresholds.

``PROTOCOL`` is version 1.0 as ``../shared/TRIAL.md`` gives it; the forms each visit requires come from the registry
of forms (``trial_site.registry``, each form's ``visits``). Amendments are later versions, kept as data
(``trial_site.protocol_versions``): ask ``protocol_on(day)`` for the version in force on a day. Every clinical
record stores the version it was made under (``ClinicalRecord.protocol_version``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from clinical.eligibility import EligibilityRules
from clinical.reminders import ReminderPolicy
from clinical.safety import BARICITINIB_RULES, METHOTREXATE_RULES, LabRule


@dataclass(frozen=True)
class Arm:
    code: str
    drug: str
    dose: str
    frequency: str


@dataclass(frozen=True)
class ConsentFormVersion:
    """An approved version of the participant information sheet and consent form."""

    version: str
    effective_from: date
    effective_to: date | None = None  # None: still in use
    # A new version that everyone still in the trial must sign again (re-consent) before the procedures it blocks.
    reconsent: bool = False

    def in_effect_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def __str__(self) -> str:
        until = f" to {self.effective_to:%d %b %Y}" if self.effective_to else ""
        return f"version {self.version} (from {self.effective_from:%d %b %Y}{until})"


@dataclass(frozen=True)
class DurationStratification:
    """Randomisation is stratified by site and by disease duration: early (≤ threshold months) or late.

    Why: the skin score of early diffuse disease tends to worsen and then improve on its own, while late disease
    changes little, so disease duration predicts the primary outcome (change in mRSS); balancing it between the
    arms protects the comparison in a trial of 24 participants.
    """

    threshold_months: int

    def level(self, duration_months: int) -> str:
        return "early" if duration_months <= self.threshold_months else "late"

    @property
    def levels(self) -> tuple[str, ...]:
        return ("early", "late")


@dataclass(frozen=True)
class VisitDefinition:
    """A scheduled visit: its study day (Day 1 = randomisation and first dose), window and required forms (in
    version 1.0 the registry's: a form's ``visits``)."""

    code: str
    name: str
    target_day: int
    days_before: int
    days_after: int
    # None in ``PROTOCOL``: version 1.0's forms come from the registry (``protocol_versions.base_protocol``).
    forms: tuple[str, ...] = None  # type: ignore[assignment]


@dataclass(frozen=True)
class FollowUpDefinition:
    """The safety follow-up visit: a number of days after the last dose, with a window after it only."""

    code: str
    name: str
    days_after_last_dose: int
    days_after: int
    # None in ``PROTOCOL``: version 1.0's forms come from the registry (``protocol_versions.base_protocol``).
    forms: tuple[str, ...] = None  # type: ignore[assignment]


@dataclass(frozen=True)
class LabReference:
    """The protocol's default reference limits for CTCAE grading (×10⁹/L, g/dL, U/L): they apply at a site until
    it records its own laboratory reference ranges (``trial_site.lab_ranges``), and to each test it has not
    recorded. The one place these numbers live."""

    hb_lln_female: float
    hb_lln_male: float
    wbc_lln: float
    anc_lln: float
    alc_lln: float
    platelets_lln: float
    alt_uln: float

    def hb_lln(self, sex: str) -> float:
        return self.hb_lln_female if sex == "F" else self.hb_lln_male


@dataclass(frozen=True)
class Protocol:
    version: str
    # The day this version took effect (version 1.0: the first consent form's).
    effective_from: date
    short_title: str
    title: str
    # Shown instead of the titles to staff who are blinded to the allocation: no drug names.
    blinded_title: str
    registration: str
    sponsor: str
    arms: tuple[Arm, ...]
    planned_enrolment: int
    # The enrolment target line of the reports: TRIAL.md states no recruitment period; 12 months is assumed.
    recruitment_months: int
    consent_forms: tuple[ConsentFormVersion, ...]
    # A person may be screened this many times in all (the first screening and one re-screening).
    max_screening_episodes: int
    # The thresholds of the eligibility criteria (TRIAL.md); clinical.eligibility applies them.
    eligibility: EligibilityRules
    stratification: DurationStratification
    block_sizes: tuple[int, ...]
    visits: tuple[VisitDefinition, ...]
    follow_up: FollowUpDefinition
    lab_reference: LabReference
    # Soft limits of visit values: outside them the form warns and asks the user to confirm (hard limits refuse).
    soft_limits: dict[str, tuple[float, float]]
    # The laboratory hold and dose rules of each arm (TRIAL.md "Arms"): alerts for the investigator.
    lab_rules: dict[str, tuple[LabRule, ...]]
    # Visit reminders: days before the visit, the hour they go out, quiet hours and the daily cap (site time).
    reminders: ReminderPolicy
    # Monitoring: edit checks, the source data verification plan, the meaning of a signature.
    monitoring: MonitoringPlan

    def visit(self, code: str) -> VisitDefinition:
        return next(visit for visit in self.visits if visit.code == code)

    def arm(self, code: str) -> Arm:
        return next(arm for arm in self.arms if arm.code == code)

    def consent_form(self, version: str) -> ConsentFormVersion | None:
        return next((form for form in self.consent_forms if form.version == version), None)

    def visit_definitions(self) -> tuple[VisitDefinition | FollowUpDefinition, ...]:
        """The scheduled visits and the safety follow-up."""
        return (*self.visits, self.follow_up)

    def forms_at(self, visit_code: str) -> tuple[str, ...]:
        """The forms the visit ``visit_code`` requires under this version (none for an unscheduled visit)."""
        return next((tuple(v.forms) for v in self.visit_definitions() if v.code == visit_code), ())

    def visits_asking_for(self, form_code: str) -> tuple[str, ...]:
        return tuple(v.code for v in self.visit_definitions() if form_code in v.forms)


@dataclass(frozen=True)
class MonitoringPlan:
    """What monitoring checks and verifies, from the protocol's monitoring plan."""

    # Edit checks that raise a query by themselves.
    mrss_change_query_points: int  # an mRSS that moves more than this between two visits
    # Source data verification: which forms are verified in full or sampled is each form's declaration
    # (``trial_site.registry``, ``FormSpec.verification``); of the sampled forms, this percentage of participants.
    sdv_sample_percent: int
    signature_meaning: str


PROTOCOL = Protocol(
    version="1.0",
    effective_from=date(2025, 5, 1),
    short_title="Baricitinib vs methotrexate in dcSSc",
    title=(
        "Safety and Efficacy of Baricitinib on Skin Tightening in Diffuse Cutaneous Systemic Sclerosis: "
        "A Comparative Study With Methotrexate"
    ),
    blinded_title=(
        "A randomised comparison of two treatments for skin tightening in diffuse cutaneous systemic sclerosis"
    ),
    registration="NCT06936215",
    sponsor="Bangabandhu Sheikh Mujib Medical University, Department of Rheumatology",
    arms=(
        Arm(code="A", drug="baricitinib", dose="4 mg orally", frequency="once daily"),
        Arm(
            code="B",
            drug="methotrexate",
            dose="25 mg orally (plus folic acid 5 mg weekly)",
            frequency="once weekly",
        ),
    ),
    planned_enrolment=24,
    recruitment_months=12,
    consent_forms=(ConsentFormVersion(version="1.0", effective_from=date(2025, 5, 1)),),
    max_screening_episodes=2,
    eligibility=EligibilityRules(
        acr_eular_min_score=9,
        max_disease_duration_months=60,
        min_mrss=10,
        surgery_window_days=56,
        max_prednisone_mg_day=10.0,
        max_mycophenolate_g_day=2.0,
        min_fvc_percent_exclusive=50.0,
        min_dlco_percent_exclusive=40.0,
        hepatitis_test_window_days=30,
        malignancy_window_years=5,
        renal_crisis_window_months=6,
        min_hb_g_dl=8.0,
        min_wbc=3.0,
        min_anc=1.2,
        min_platelets=100.0,
        min_alc=0.75,
        max_alt_uln_multiple=3.0,
        min_egfr=60.0,
        # TRIAL.md, SCR: Day −28 to −1. Randomisation (Day 1) 1 to 28 days after screening, else rescreening.
        screening_window_days=28,
    ),
    stratification=DurationStratification(threshold_months=18),
    block_sizes=(2, 4),
    # TRIAL.md, "Visit schedule". Adverse events are reported at any time in the safety feature.
    visits=(
        # The study drug is first dispensed at D1; its form (tablets returned, adherence) starts at W2.
        VisitDefinition("D1", "Baseline", 1, 0, 0),
        VisitDefinition("W2", "Week 2 safety labs", 15, 3, 3),
        VisitDefinition("W4", "Week 4", 29, 3, 3),
        VisitDefinition("W8", "Week 8 safety labs", 57, 7, 7),
        VisitDefinition("W12", "Week 12", 85, 7, 7),
        VisitDefinition("W16", "Week 16 safety labs", 113, 7, 7),
        VisitDefinition("W20", "Week 20 safety labs", 141, 7, 7),
        VisitDefinition("W24", "Week 24, end of treatment", 169, 7, 7),
    ),
    follow_up=FollowUpDefinition("FU", "Safety follow-up", 28, 7),
    lab_reference=LabReference(
        hb_lln_female=12.0,
        hb_lln_male=13.0,
        wbc_lln=4.0,
        anc_lln=2.0,
        alc_lln=1.0,
        platelets_lln=150.0,
        # Not in TRIAL.md: the usual adult ALT ULN, for a panel without its report's ULN at a site without a range.
        alt_uln=40.0,
    ),
    lab_rules={"A": BARICITINIB_RULES, "B": METHOTREXATE_RULES},
    soft_limits={
        "weight_kg": (30.0, 120.0),
        "systolic_bp": (90.0, 180.0),
        "diastolic_bp": (50.0, 110.0),
        "heart_rate": (45.0, 120.0),
        "temperature_c": (35.5, 38.5),
        "hb_g_dl": (8.0, 18.0),
        "platelets": (100.0, 600.0),
        "alt": (0.0, 200.0),
        "creatinine_mg_dl": (0.3, 2.0),
        "esr_mm_h": (0.0, 100.0),
        "crp_mg_l": (0.0, 100.0),
        "total_cholesterol": (2.5, 8.0),
        "ldl_cholesterol": (0.5, 6.0),
        "hdl_cholesterol": (0.5, 3.0),
        "triglycerides": (0.3, 5.0),
        "fvc_percent": (40.0, 150.0),
        "dlco_percent": (30.0, 150.0),
        "tablets_per_week": (1.0, 14.0),
    },
    reminders=ReminderPolicy(
        offsets_days=(3, 1), send_at=time(9, 0), quiet_start=time(21, 0), quiet_end=time(8, 0), daily_cap=1
    ),
    monitoring=MonitoringPlan(
        mrss_change_query_points=15,
        sdv_sample_percent=20,
        signature_meaning="I confirm that the data are accurate and complete.",
    ),
)
