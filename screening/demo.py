"""Demo participants for ``seed_demo``: about 40 screened, 24 eligible and confirmed, the rest failing on
different criteria or still incomplete. Made through the screening services, so they are audited like real data.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone

from clinical.mrss import MRSS_AREAS
from screening import services
from screening.models import (
    ClassificationCriteria,
    Consent,
    DiseaseHistory,
    ExclusionHistory,
    Participant,
    ScreeningLabs,
    ScreeningMrss,
)
from screening.models.consent import SignatureMethod
from trial_site.models import Site

ELIGIBLE_COUNT = 24
# (what makes the participant fail, the change to an eligible record); one participant per entry.
FAILURES: tuple[tuple[str, dict[str, dict[str, Any]]], ...] = (
    ("mRSS below 10", {"mrss": {"total": 8}}),
    ("mRSS below 10", {"mrss": {"total": 6}}),
    ("limited cutaneous SSc", {"skin": {"upper_arms": False, "chest": False, "thighs": False, "abdomen": False}}),
    ("disease for 7 years", {"history": {"months": 84}}),
    ("Hb 7.6 g/dL", {"labs": {"hb_g_dl": 7.6}}),
    ("eGFR below 60", {"labs": {"creatinine": 1.6}}),
    ("ANC 1.0", {"labs": {"anc": 1.0}}),
    ("FVC 45 %", {"labs": {"fvc_percent": 45.0}}),
    ("HBsAg positive", {"labs": {"hbsag": "positive"}}),
    ("prednisolone 15 mg/day", {"exclusions": {"steroid_dose_mg_day": 15.0}}),
    ("malignancy 2 years ago", {"exclusions": {"malignancy": True, "malignancy_years_ago": 2}}),
    ("pregnant", {"exclusions": {"pregnant_or_breastfeeding": True}}),
)
INCOMPLETE = 4  # screening still under way: labs not back yet

FEMALE_INITIALS = ("NA", "RB", "SK", "FA", "MJ", "TA", "SH", "RK", "JB", "LA", "PA", "NS", "AK", "MR")
MALE_INITIALS = ("MH", "AR", "SI", "KH", "RU", "MA", "TI", "JH", "AB", "FH")


def seed_screening_demo(*, site: Site, coordinator: Any, investigator: Any, assessor: Any) -> int:
    """Create the demo participants at ``site`` unless it has some already; return how many were made."""
    if Participant.objects.filter(site=site).exists():
        return 0
    rng = random.Random(20250501)  # noqa: S311 (demo data, not security)
    today = timezone.localdate()
    plans: list[tuple[str, dict[str, dict[str, Any]]]] = [("eligible", {})] * ELIGIBLE_COUNT
    plans += list(FAILURES) + [("incomplete", {"skip_labs": {}})] * INCOMPLETE
    rng.shuffle(plans)
    for index, (kind, changes) in enumerate(plans):
        screening_date = today - timedelta(days=230 - index * 5)
        participant = _register(rng, site, coordinator, screening_date)
        _enter_forms(rng, participant, coordinator, assessor, changes)
        participant = Participant.objects.get(pk=participant.pk)
        if kind == "eligible":
            services.eligibility_confirm(participant=participant, by=investigator)
        elif kind != "incomplete":
            services.screen_failure_record(participant=participant, by=coordinator, note=kind)
    return len(plans)


def _register(rng: random.Random, site: Site, by: Any, screening_date: Any) -> Participant:
    sex = "F" if rng.random() < 0.75 else "M"  # dcSSc affects women more often
    initials = rng.choice(FEMALE_INITIALS if sex == "F" else MALE_INITIALS) + rng.choice("ABDHKMRS")
    age = rng.randint(22, 62)
    birth = screening_date.replace(year=screening_date.year - age) - timedelta(days=rng.randint(1, 360))
    participant = Participant(
        site=site,
        screening_date=screening_date,
        initials=initials,
        date_of_birth=birth,
        sex=sex,
        mobile_phone=f"+8801{rng.choice('3456789')}{rng.randint(10_000_000, 99_999_999)}",
        preferred_language="bn" if rng.random() < 0.8 else "en",
        reminder_channel="sms",
        reminder_consent=True,
    )
    consented = timezone.make_aware(datetime.combine(screening_date, time(9, rng.randint(0, 59))))
    thumbprint = rng.random() < 0.2
    consent = Consent(
        site=site,
        form_version="1.0",
        consented_at=consented,
        obtained_by=by,
        signature_method=SignatureMethod.THUMBPRINT if thumbprint else SignatureMethod.SIGNATURE,
        witness_name="Abdul Karim" if thumbprint else "",
        copy_given=True,
    )
    return services.participant_register(participant=participant, consent=consent, by=by)


def _save(model: type, participant: Participant, by: Any, values: dict[str, Any]) -> None:
    services.screening_form_save(record=model(participant=participant, **values), by=by)


def _enter_forms(
    rng: random.Random, participant: Participant, by: Any, assessor: Any, changes: dict[str, dict[str, Any]]
) -> None:
    day = participant.screening_date
    female = participant.sex == "F"
    _save(ClassificationCriteria, participant, by, {
        "skin_thickening_proximal_to_mcp": True, "raynaud_phenomenon": True, "puffy_fingers": True,
        "anti_topoisomerase_i": rng.random() < 0.6, "skin_thickening_spares_fingers": False,
        "better_explained_by_other_disorder": False,
    })  # fmt: skip
    months = changes.get("history", {}).get("months", rng.randint(4, 48))
    skin = {"fingers": True, "hands": True, "forearms": True, "upper_arms": True, "face": rng.random() < 0.5,
            "neck": False, "chest": rng.random() < 0.6, "abdomen": False, "thighs": rng.random() < 0.4,
            "lower_legs": True, "feet": rng.random() < 0.5} | changes.get("skin", {})  # fmt: skip
    _save(DiseaseHistory, participant, by, {"first_non_raynaud_date": day - timedelta(days=int(months * 30.4)), **skin})
    total = changes.get("mrss", {}).get("total", rng.randint(12, 30))
    _save(
        ScreeningMrss,
        participant,
        assessor,
        {"assessed_on": day, "assessor": assessor, **mrss_areas_for_total(rng, total)},
    )
    exclusion_changes = dict(changes.get("exclusions", {}))
    malignancy_years = exclusion_changes.pop("malignancy_years_ago", None)
    exclusions = {
        "other_rheumatic_disease": False, "major_surgery": False, "infected_ulcer": False,
        "serious_bacterial_infection": False, "steroid_drug": "prednisolone",
        "steroid_dose_mg_day": rng.choice([0, 5, 7.5, 10]),
        "mycophenolate_g_day": 0.0, "active_tuberculosis": False, "uncontrolled_significant_disease": False,
        "pregnant_or_breastfeeding": False if female else None, "childbearing_potential": female and rng.random() < 0.7,
        "willing_to_use_contraception": True if female else None, "malignancy": False, "renal_crisis": False,
        "anaphylaxis_to_study_drugs": False,
    } | exclusion_changes  # fmt: skip
    if malignancy_years:
        exclusions["malignancy_date"] = day.replace(year=day.year - malignancy_years)
    _save(ExclusionHistory, participant, by, exclusions)
    if "skip_labs" in changes:
        return
    labs = {
        "sampled_on": day, "hb_g_dl": round(rng.uniform(10.5, 14.0), 1), "wbc": round(rng.uniform(4.5, 9.5), 1),
        "anc": round(rng.uniform(2.2, 4.0), 1), "platelets": float(rng.randint(180, 380)),
        "alc": round(rng.uniform(1.0, 2.8), 1), "alt": float(rng.randint(12, 45)), "alt_uln": 40.0,
        "creatinine": round(rng.uniform(0.5, 0.9), 2), "creatinine_unit": "mg/dL",
        "fvc_percent": float(rng.randint(62, 98)), "dlco_percent": float(rng.randint(48, 90)),
        "hbsag": "negative", "hbsag_date": day, "hcv_antigen": "negative", "hcv_date": day,
        "pregnancy_test": "negative" if female else "", "pregnancy_test_date": day if female else None,
    } | changes.get("labs", {})  # fmt: skip
    _save(ScreeningLabs, participant, by, labs)


def mrss_areas_for_total(rng: random.Random, total: int) -> dict[str, int]:
    """17 area scores (0–3) adding up to ``total``, thickest on the hands and forearms as in dcSSc."""
    scores = dict.fromkeys((code for code, _ in MRSS_AREAS), 0)
    order = [code for code, _ in MRSS_AREAS]
    order.sort(key=lambda code: (0 if code.startswith(("fingers", "hands", "forearms")) else 1, rng.random()))
    remaining = total
    while remaining > 0:
        for code in order:
            if remaining and scores[code] < 3:
                scores[code] += 1
                remaining -= 1
    return scores
