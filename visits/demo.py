"""Demo visits for ``seed_demo``: the randomised participants at different stages of their schedule —
some through W24, some mid-way, one with a missed visit, one overdue, one withdrawn."""

from __future__ import annotations

import random
from typing import Any

from django.utils import timezone

from clinical.instruments import HAQ_ITEM_CODES
from randomization.models import Allocation
from screening.demo import mrss_areas_for_total
from trial_site.models import Site
from visits import services
from visits.crf_services import visit_form_save
from visits.crfs import (
    ConcomitantMedications,
    GlobalAssessment,
    HaqDi,
    InflammationMarkers,
    LabPanel,
    Lipids,
    PregnancyTest,
    PulmonaryFunction,
    StudyDrug,
    VisitMrss,
    VitalSigns,
)
from visits.models import Visit


def seed_visits_demo(*, site: Site, coordinator: Any, investigator: Any, assessor: Any) -> int:
    """Record the visits that are due of each randomised participant at ``site`` (their schedules were made with
    their randomisation)."""
    if Visit.objects.filter(site=site).exclude(done_on=None).exists():
        return 0
    today = timezone.localdate()
    allocations = list(Allocation.objects.filter(site=site).select_related("participant").order_by("pk"))
    for index, allocation in enumerate(allocations):  # randomised with their schedules (randomization.demo)
        _record_due_visits(index, allocation, coordinator, investigator, today)
        _enter_forms(index, allocation, coordinator, investigator, assessor)
    return len(allocations)


def _record_due_visits(index: int, allocation: Allocation, coordinator: Any, investigator: Any, today: Any) -> None:
    participant = allocation.participant
    for visit in Visit.objects.filter(participant=participant).order_by("sequence"):
        if visit.earliest > today:
            break
        if index == 2 and visit.code == "W8":
            services.visit_record_missed(
                visit=visit, by=coordinator, reason="flooding; the clinic could not be reached"
            )
            continue
        if index == 4 and visit.code == "W12":
            continue  # left unrecorded: overdue once its window closes
        if index == 6 and visit.code == "W12":
            services.end_of_study_record(
                participant=participant, by=investigator, ended_on=min(visit.earliest, today), reason="withdrawn",
                details="withdrew consent for follow-up: moving to Chattogram",
            )  # fmt: skip
            break
        done_on = min(visit.planned_date, today)
        services.visit_record_done(visit=visit, by=coordinator, done_on=done_on)


def _enter_forms(index: int, allocation: Allocation, coordinator: Any, investigator: Any, assessor: Any) -> None:
    """Forms of the visits that took place: mRSS slowly improving, labs, vitals, HAQ-DI and globals.
    Every fourth participant has the forms of their latest visit still to enter (for the missing-forms page)."""
    participant = allocation.participant
    rng = random.Random(index)  # noqa: S311 (demo data)
    done = list(Visit.objects.filter(participant=participant, done_on__isnull=False).order_by("sequence"))
    if index % 4 == 3 and done:
        done = done[:-1]
    baseline = participant.screening_mrss.mrss_total
    for visit in done:
        required = set(visit.required_forms.values_list("form", flat=True))
        week = (visit.target_date - done[0].target_date).days // 7
        if "mrss" in required:
            total = max(0, baseline - week // 3 - rng.randint(0, 2))
            _save(VisitMrss(visit=visit, assessor=assessor, **mrss_areas_for_total(rng, total)), assessor)
        if "labs" in required:
            labs = {
                "hb_g_dl": round(rng.uniform(10.5, 13.5), 1), "wbc": round(rng.uniform(4.0, 8.5), 1),
                "anc": round(rng.uniform(2.0, 3.8), 1), "alc": round(rng.uniform(0.9, 2.2), 1),
                "platelets": float(rng.randint(160, 360)), "alt": float(rng.randint(14, 48)), "alt_uln": 40.0,
                "ast": float(rng.randint(14, 40)), "albumin_g_l": float(rng.randint(34, 44)),
                "creatinine": round(rng.uniform(0.5, 0.9), 2), "creatinine_unit": "mg/dL",
            }  # fmt: skip
            _save(LabPanel(visit=visit, **labs), coordinator)
        if "vitals" in required:
            vitals = {
                "weight_kg": float(rng.randint(45, 72)), "height_cm": float(rng.randint(148, 170)),
                "systolic_bp": 118.0, "diastolic_bp": 76.0, "heart_rate": 78.0, "temperature_c": 36.7,
            }  # fmt: skip
            _save(VitalSigns(visit=visit, **vitals), coordinator)
        if "haq" in required:
            answers = {f"item_{code}": min(3, max(0, rng.randint(0, 2) - week // 12)) for code in HAQ_ITEM_CODES}
            _save(HaqDi(visit=visit, **answers), coordinator)
        previous = done[done.index(visit) - 1] if done.index(visit) > 0 else None
        _enter_other_forms(rng, visit, previous, required, allocation.arm, coordinator)
        if "globals" in required:
            globals_ = {
                "patient_global": float(max(1, 6 - week // 6)), "physician_global": float(max(1, 5 - week // 6)),
                "swollen_28": rng.randint(0, 3), "tender_28": rng.randint(0, 5),
            }  # fmt: skip
            _save(GlobalAssessment(visit=visit, **globals_), investigator)


def _enter_other_forms(
    rng: random.Random, visit: Visit, previous: Visit | None, required: set[str], arm: str, by: Any
) -> None:
    if "inflammation" in required:
        _save(
            InflammationMarkers(visit=visit, esr_mm_h=float(rng.randint(8, 40)), crp_mg_l=round(rng.uniform(1, 15), 1)),
            by,
        )
    if "lipids" in required:
        _save(
            Lipids(visit=visit, total_cholesterol=4.9, ldl_cholesterol=2.9, hdl_cholesterol=1.3, triglycerides=1.4), by
        )
    if "pft" in required:
        _save(
            PulmonaryFunction(
                visit=visit, fvc_percent=float(rng.randint(65, 95)), dlco_percent=float(rng.randint(50, 85))
            ),
            by,
        )
    if "pregnancy" in required and visit.required_forms.filter(form="pregnancy", status="required").exists():
        _save(PregnancyTest(visit=visit, result="negative", tested_on=visit.done_on), by)
    if "conmeds" in required:
        _save(
            ConcomitantMedications(visit=visit, reviewed=True, steroid_drug="prednisolone", steroid_dose_mg_day=5.0), by
        )
    if "drug" in required and previous is not None:
        weekly = 7.0 if arm == "A" else 10.0  # baricitinib 4 mg daily; methotrexate 25 mg weekly as 2.5 mg tablets
        days = (visit.done_on - previous.done_on).days
        dispensed = int(weekly * days / 7) + 4
        taken = int(weekly * days / 7 * rng.uniform(0.85, 1.0))
        _save(StudyDrug(visit=visit, dispensed=dispensed, returned=dispensed - taken, period_start=previous.done_on,
                        tablets_per_week=weekly, current_dose="as prescribed"), by)  # fmt: skip


def _save(record: Any, by: Any) -> None:
    record.unusual_values_confirmed = True  # demo values are checked here, not by a person
    visit_form_save(record=record, by=by, complete=True)
