"""A casebook made complete, as an investigator would have it before signing it "accurate and complete": every
visit whose window has closed recorded as done, and every form those visits require entered (plausible values,
as the demo data enter them)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from clinical.instruments import HAQ_ITEM_CODES
from screening.demo import mrss_areas_for_total
from screening.models import Participant
from trial_site.protocol_versions import protocol_on
from visits import services as visit_services
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
from visits.models import RequiredForm, Visit

LABS = {"hb_g_dl": 12.4, "wbc": 6.1, "anc": 3.1, "alc": 1.6, "platelets": 250.0, "alt": 22.0, "alt_uln": 40.0,
        "ast": 20.0, "albumin_g_l": 40.0, "creatinine": 0.7, "creatinine_unit": "mg/dL"}  # fmt: skip
VITALS = {"weight_kg": 61.0, "height_cm": 158.0, "systolic_bp": 118, "diastolic_bp": 76, "heart_rate": 72,
          "temperature_c": 36.8}  # fmt: skip


def visit_records(visit: Visit, people: dict[str, Any]) -> dict[str, Callable[[], tuple[Any, Any]]]:
    """For each form code, how to make the visit's record of it (plausible values) and who enters it."""
    coordinator, investigator, assessor = people["coordinator"], people["investigator"], people["assessor"]
    done_before = visit.participant.visits.filter(sequence__lt=visit.sequence, done_on__isnull=False)
    previous = done_before.order_by("-sequence").first()
    return {
        "mrss": lambda: (
            VisitMrss(visit=visit, assessor=assessor, **mrss_areas_for_total(random.Random(visit.pk), 20)),  # noqa: S311
            assessor,
        ),
        "vitals": lambda: (_vitals(visit), coordinator),
        "labs": lambda: (LabPanel(visit=visit, **LABS), coordinator),
        "haq": lambda: (HaqDi(visit=visit, **{f"item_{code}": 1 for code in HAQ_ITEM_CODES}), coordinator),
        "globals": lambda: (
            GlobalAssessment(visit=visit, patient_global=4.0, physician_global=3.0, swollen_28=0, tender_28=1),
            investigator,
        ),
        "inflammation": lambda: (InflammationMarkers(visit=visit, esr_mm_h=20.0, crp_mg_l=4.0), coordinator),
        "lipids": lambda: (
            Lipids(visit=visit, total_cholesterol=4.9, ldl_cholesterol=2.9, hdl_cholesterol=1.3, triglycerides=1.4),
            coordinator,
        ),
        "pft": lambda: (PulmonaryFunction(visit=visit, fvc_percent=80.0, dlco_percent=70.0), coordinator),
        "pregnancy": lambda: (PregnancyTest(visit=visit, result="negative", tested_on=visit.done_on), coordinator),
        "conmeds": lambda: (
            ConcomitantMedications(visit=visit, reviewed=True, steroid_drug="prednisolone", steroid_dose_mg_day=5.0),
            coordinator,
        ),
        "drug": lambda: (_study_drug(visit, previous), coordinator),
    }


def _vitals(visit: Visit) -> VitalSigns:
    """Vital signs, with the oxygen saturation when the protocol version in force today asks it (from 2.0)."""
    record = VitalSigns(visit=visit, **VITALS)
    record.protocol_version = protocol_on(timezone.localdate()).version
    if record.asks("oxygen_saturation"):
        record.oxygen_saturation = 97.0
    return record


def _study_drug(visit: Visit, previous: Visit | None) -> StudyDrug:
    start = previous.done_on if previous is not None else visit.done_on
    taken = (visit.done_on - start).days  # one tablet a day, every day
    return StudyDrug(visit=visit, dispensed=taken + 4, returned=4, period_start=start, tablets_per_week=7.0,
                     current_dose="as prescribed")  # fmt: skip


def complete_casebook(
    participant: Participant, *, coordinator: Any, investigator: Any, assessor: Any, missed_reason: str = ""
) -> None:
    """Record each visit whose window has closed as done (on its target date; or, given ``missed_reason``, as
    missed), and enter each form still required by a visit that took place. A form this helper has no values for
    fails loudly (KeyError names it)."""
    today = timezone.localdate()
    people = {"coordinator": coordinator, "investigator": investigator, "assessor": assessor}
    for visit in participant.visits.filter(missed=False, cancelled=False).order_by("sequence"):
        if visit.done_on is None and visit.latest < today and missed_reason:
            visit_services.visit_record_missed(visit=visit, by=coordinator, reason=missed_reason)
            continue
        if visit.done_on is None and visit.latest < today:
            visit = visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
        if visit.done_on is None:
            continue
        records = visit_records(visit, people)
        for code in visit.required_forms.filter(status=RequiredForm.Status.REQUIRED).values_list("form", flat=True):
            record, by = records[code]()
            record.unusual_values_confirmed = True
            visit_form_save(record=record, by=by, complete=True)
