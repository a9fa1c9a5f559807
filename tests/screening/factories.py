"""Screening test data, made through the screening services."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from screening import services
from screening.models import (
    ClassificationCriteria,
    Consent,
    Day1Baseline,
    DiseaseHistory,
    ExclusionHistory,
    Participant,
    ScreeningLabs,
    ScreeningMrss,
)
from screening.models.consent import SignatureMethod

TODAY = timezone.localdate


def participant_fields(**overrides: Any) -> dict[str, Any]:
    today = TODAY()
    return {
        "screening_date": today,
        "initials": "MRK",
        "date_of_birth": today.replace(year=today.year - 40) - timedelta(days=10),
        "sex": "F",
        "mobile_phone": "+8801712345678",
        "preferred_language": "bn",
        "reminder_channel": "sms",
        "reminder_consent": True,
        **overrides,
    }


def consent_for(site: Any, by: Any, **overrides: Any) -> Consent:
    values = {
        "form_version": "1.0",
        "consented_at": timezone.now() - timedelta(hours=1),
        "obtained_by": by,
        "signature_method": SignatureMethod.SIGNATURE,
        "copy_given": True,
        **overrides,
    }
    return Consent(site=site, **values)


def consent_moment(site: Any, screening_date: date) -> datetime:
    """When a participant screened on ``screening_date`` consented: an hour ago for a screening today, 09:00 at the
    site on the screening date for a backdated one (consent comes before anything done in the trial)."""
    at = datetime.combine(screening_date, time(9), tzinfo=ZoneInfo(site.time_zone))
    return min(timezone.now() - timedelta(hours=1), at)


def register(site: Any, by: Any, **overrides: Any) -> Participant:
    fields = participant_fields(**overrides)
    return services.participant_register(
        participant=Participant(site=site, **fields),
        consent=consent_for(site, by, consented_at=consent_moment(site, fields["screening_date"])),
        by=by,
    )


ELIGIBLE_CLASSIFICATION = {
    "skin_thickening_proximal_to_mcp": True,
    "raynaud_phenomenon": True,
    "skin_thickening_spares_fingers": False,
    "better_explained_by_other_disorder": False,
}
ELIGIBLE_SKIN = {area: True for area in ("fingers", "hands", "forearms", "upper_arms", "chest")} | {
    area: False for area in ("face", "neck", "abdomen", "thighs", "lower_legs", "feet")
}
ELIGIBLE_EXCLUSIONS = {
    "other_rheumatic_disease": False, "major_surgery": False, "infected_ulcer": False,
    "serious_bacterial_infection": False, "steroid_drug": "prednisolone", "steroid_dose_mg_day": 5.0,
    "mycophenolate_g_day": 0.0, "active_tuberculosis": False, "uncontrolled_significant_disease": False,
    "pregnant_or_breastfeeding": False, "childbearing_potential": True, "willing_to_use_contraception": True,
    "malignancy": False, "renal_crisis": False, "anaphylaxis_to_study_drugs": False,
}  # fmt: skip


def eligible_labs(screening_date: date) -> dict[str, Any]:
    return {
        "sampled_on": screening_date, "hb_g_dl": 12.1, "wbc": 6.4, "anc": 3.9, "platelets": 250.0, "alc": 1.6,
        "alt": 22.0, "alt_uln": 40.0, "creatinine": 0.8, "creatinine_unit": "mg/dL", "fvc_percent": 78.0,
        "dlco_percent": 65.0, "hbsag": "negative", "hbsag_date": screening_date, "hcv_antigen": "negative",
        "hcv_date": screening_date, "pregnancy_test": "negative", "pregnancy_test_date": screening_date,
    }  # fmt: skip


def save_form(model: type, participant: Participant, by: Any, values: dict[str, Any], reason: str | None = None) -> Any:
    record = getattr(participant, model.participant_accessor(), None) or model(participant=participant)
    for name, value in values.items():
        setattr(record, name, value)
    return services.screening_form_save(record=record, by=by, reason=reason)


def screen_eligible(participant: Participant, by: Any, *, mrss_per_area: int = 1) -> Participant:
    """Enter all five screening forms with values that meet every criterion (mRSS 17 by default)."""
    from clinical.mrss import MRSS_AREAS

    day = participant.screening_date
    save_form(ClassificationCriteria, participant, by, ELIGIBLE_CLASSIFICATION)
    save_form(DiseaseHistory, participant, by, {"first_non_raynaud_date": day - timedelta(days=400), **ELIGIBLE_SKIN})
    save_form(ScreeningMrss, participant, by,
              {"assessed_on": day, "assessor": by, **{code: mrss_per_area for code, _ in MRSS_AREAS}})  # fmt: skip
    save_form(ExclusionHistory, participant, by, ELIGIBLE_EXCLUSIONS)
    save_form(ScreeningLabs, participant, by, eligible_labs(day))
    return Participant.objects.get(pk=participant.pk)


def record_day1(participant: Participant, by: Any, *, day1: date | None = None, **values: Any) -> Participant:
    """The Day 1 baseline form (I4, E7, E15 met: mRSS 17, no mycophenolate, no renal crisis since screening),
    dated ``day1`` (today by default), as the investigator records it before randomising."""
    from clinical.mrss import MRSS_AREAS

    save_form(Day1Baseline, participant, by, {
        "day1": day1 or TODAY(), "assessor": by, **{code: 1 for code, _ in MRSS_AREAS}, "mycophenolate_g_day": 0.0,
        "renal_crisis_since_screening": False, **values,
    })  # fmt: skip
    return Participant.objects.get(pk=participant.pk)
