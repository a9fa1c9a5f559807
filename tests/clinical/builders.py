"""Builders for eligibility tests: the protocol's thresholds and a participant who meets every criterion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from clinical.acr_eular import AcrEularItems
from clinical.eligibility import EligibilityRules, ScreeningFacts
from clinical.skin import SkinInvolvement

# The thresholds of TRIAL.md, written out here so the tests state the protocol they check.
RULES = EligibilityRules(
    acr_eular_min_score=9,
    max_disease_duration_months=60,
    min_mrss=10,
    surgery_window_days=56,
    max_prednisone_mg_day=10,
    max_mycophenolate_g_day=2,
    min_fvc_percent_exclusive=50,
    min_dlco_percent_exclusive=40,
    hepatitis_test_window_days=30,
    malignancy_window_years=5,
    renal_crisis_window_months=6,
    min_hb_g_dl=8.0,
    min_wbc=3.0,
    min_anc=1.2,
    min_platelets=100,
    min_alc=0.75,
    max_alt_uln_multiple=3,
    min_egfr=60,
    screening_window_days=28,
)

SCREENING = date(2025, 3, 3)

ACR_EULAR_NONE_YES = AcrEularItems(
    skin_thickening_proximal_to_mcp=False,
    puffy_fingers=False,
    sclerodactyly=False,
    digital_tip_ulcers=False,
    fingertip_pitting_scars=False,
    telangiectasia=False,
    abnormal_nailfold_capillaries=False,
    pulmonary_arterial_hypertension=False,
    interstitial_lung_disease=False,
    raynaud_phenomenon=False,
    anticentromere=False,
    anti_topoisomerase_i=False,
    anti_rna_polymerase_iii=False,
    skin_thickening_spares_fingers=False,
    better_explained_by_other_disorder=False,
)
"""Every item answered no and the criteria applicable: score 0."""

ACR_EULAR_TYPICAL = replace(
    ACR_EULAR_NONE_YES,
    skin_thickening_proximal_to_mcp=True,
    sclerodactyly=True,
    raynaud_phenomenon=True,
    anti_topoisomerase_i=True,
    interstitial_lung_disease=True,
)

SKIN_NONE = SkinInvolvement(**dict.fromkeys(SkinInvolvement.__dataclass_fields__, False))
SKIN_DIFFUSE = replace(SKIN_NONE, fingers=True, hands=True, forearms=True, upper_arms=True, face=True, chest=True)


def days_before(days: int, on: date = SCREENING) -> date:
    return on - timedelta(days=days)


def eligible_facts(**overrides: Any) -> ScreeningFacts:
    """A woman of childbearing potential with early diffuse SSc who meets every criterion; override one fact."""
    facts = ScreeningFacts(
        screening_date=SCREENING,
        date_of_birth=date(1984, 6, 12),
        sex="F",
        acr_eular=ACR_EULAR_TYPICAL,
        skin=SKIN_DIFFUSE,
        first_non_raynaud_date=date(2023, 9, 14),
        mrss_total=22,
        other_rheumatic_disease=False,
        major_surgery=False,
        infected_ulcer=False,
        serious_bacterial_infection=False,
        prednisone_equivalent_mg_day=5,
        mycophenolate_g_day=0,
        fvc_percent=78,
        dlco_percent=61,
        active_tuberculosis=False,
        hbsag_positive=False,
        hbsag_test_date=days_before(7),
        hcv_antigen_positive=False,
        hcv_test_date=days_before(7),
        uncontrolled_significant_disease=False,
        pregnant_or_breastfeeding=False,
        childbearing_potential=True,
        willing_to_use_contraception=True,
        pregnancy_test_positive=False,
        malignancy=False,
        renal_crisis=False,
        anaphylaxis_to_study_drugs=False,
        hb_g_dl=12.4,
        wbc=6.8,
        anc=4.1,
        platelets=265,
        alc=1.9,
        alt=24,
        alt_uln=40,
        egfr=104.2,
    )
    return replace(facts, **overrides)
