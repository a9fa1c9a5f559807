"""A fast generator of a realistic trial for the benchmarks: sites, staff, and participants through screening,
randomisation, the visit schedule, visit CRFs, adverse events, edits with reasons and monitoring signatures.

It writes rows in bulk, each with its simple-history rows ("+" on creation, "~" with a reason for each change),
because the exports read the audit history (the audit trail, ODM audit records, the cut-off). Going through the
services would take an hour for 5,000 participants; this takes a few minutes.

**This generator bypasses the model layer on purpose.** ``ClinicalRecordQuerySet`` refuses ``bulk_create`` so
that application code cannot skip the reason for change and the history row; benchmark data are not application
data, so the generator inserts through a plain ``models.QuerySet`` and writes the history rows itself. Nothing
here is used by the application.

The data are coherent with what the services would have written: allocations take slots of an allocation list
(in stratum order), visits get the protocol's windows from Day 1 (``clinical.schedule.visit_schedule``), each
visit its ``RequiredForm`` rows (pregnancy tests "not required" unless a woman of childbearing potential), and
each done visit the CRFs its schedule asks for, with values within the hard limits.

Command line (creates the PostgreSQL database if missing, migrates it, then generates)::

    .venv/bin/python bench/generate.py --participants 500 --database-url postgres://postgres@127.0.0.1:5432/bench_500
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time as clock
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Participants generated and inserted together: bounds the memory of one step.
CHUNK = 250
BATCH = 2000
CONSENT_FORMS_FROM = date(2025, 5, 5)  # after the first consent form came into effect (protocol)
FAILURE_CODES = (("I4", 40), ("I3", 20), ("E17", 20), ("E8", 10), ("E6", 10))
EDIT_REASONS = (
    "transcription error corrected",
    "value checked against the source document",
    "unit corrected",
    "typing error",
)
SITE_CODES = ("GDHK", "GCTG", "GSYL", "GRAJ", "GKHU", "GBAR", "GRAN", "GMYM")


@dataclass
class GeneratedTrial:
    """What ``generate_trial`` made: the sites, the staff by role, and the number of rows per model."""

    site_ids: list[int]
    staff: dict[str, Any]
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    history_rows: int = 0
    seconds: float = 0.0


@dataclass
class _SiteStaff:
    site: Any
    zone: ZoneInfo
    coordinator: Any
    investigator: Any
    assessor: Any
    monitor: Any
    screened: int = 0
    randomised: int = 0


class _Rows:
    """Rows to insert, per model in insertion order, each with its history events (type, when, user id,
    reason, the field values of that version where they differ from the final row)."""

    def __init__(self) -> None:
        from trial_site.protocol import PROTOCOL

        self.protocol_version = PROTOCOL.version
        self.objects: dict[type, list[Any]] = defaultdict(list)
        self.events: dict[type, list[list[tuple[str, datetime, int, str | None, dict[str, Any]]]]] = defaultdict(list)

    def add(self, obj: Any, created: datetime, by: Any, *changes: tuple[datetime, Any, str, dict[str, Any]]) -> Any:
        """Add ``obj`` (its final values) created at ``created`` by ``by``; each change is (when, by, reason,
        the values *before* that change). History gets "+" with the first values, then one "~" per change."""
        events = []
        # Values of each version: walk back from the final row through the changes.
        versions: list[dict[str, Any]] = [{}]
        for _when, _by, _reason, before in reversed(changes):
            versions.insert(0, {**versions[0], **before})
        events.append(("+", created, by.pk, None, versions[0]))
        for (when, changer, reason, _before), values in zip(changes, versions[1:], strict=True):
            events.append(("~", when, changer.pk, reason, values))
        last_when, last_by = (changes[-1][0], changes[-1][1]) if changes else (created, by)
        if hasattr(obj, "protocol_version"):  # a ClinicalRecord: the kernel's bookkeeping columns
            obj.protocol_version = self.protocol_version
            obj.created_at, obj.created_by_id = created, by.pk
            obj.modified_at, obj.modified_by_id = last_when, last_by.pk
        self.objects[type(obj)].append(obj)
        self.events[type(obj)].append(events)
        return obj

    def plain(self, obj: Any) -> Any:
        """A row without history of its own (``RequiredForm``)."""
        self.objects[type(obj)].append(obj)
        self.events[type(obj)].append([])
        return obj

    def flush(self, order: list[type], counts: GeneratedTrial) -> None:
        from django.db import models

        for model in order:
            objects = self.objects.pop(model, [])
            events = self.events.pop(model, [])
            if not objects:
                continue
            # The generator bypasses the model layer on purpose (see the module docstring): a plain QuerySet,
            # not the ClinicalRecordQuerySet that refuses bulk writes in application code.
            models.QuerySet(model).bulk_create(objects, batch_size=BATCH)
            counts.rows[model._meta.label] += len(objects)
            history = getattr(model, "history", None)
            if history is None:
                continue
            historical = history.model
            tracked = [f.attname for f in historical._meta.concrete_fields if not f.name.startswith("history_")]
            rows = []
            for obj, obj_events in zip(objects, events, strict=True):
                current = {name: getattr(obj, name) for name in tracked}
                for kind, when, user_id, reason, values in obj_events:
                    rows.append(
                        historical(
                            **{**current, **values},
                            history_type=kind,
                            history_date=when,
                            history_user_id=user_id,
                            history_change_reason=reason,
                        )
                    )
            models.QuerySet(historical).bulk_create(rows, batch_size=BATCH)
            counts.history_rows += len(rows)
        assert not self.objects, f"models missing from the insert order: {list(self.objects)}"


def _at(day: date, zone: ZoneInfo, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _staff(site_count: int) -> tuple[list[_SiteStaff], dict[str, Any]]:
    """Sites and their staff (through the services: a handful of rows), plus trial-wide roles."""
    from django.contrib.auth import get_user_model

    from screening.models import Participant
    from trial_site.audit.actor import acting_as
    from trial_site.models import Site
    from trial_site.roles import Role
    from trial_site.services import membership_grant, system_user

    system = system_user()
    users = get_user_model()

    def user(username: str) -> Any:
        found, created = users.objects.get_or_create(
            username=username, defaults={"first_name": username.title(), "email": f"{username}@example.org"}
        )
        if created:
            found.set_unusable_password()
            found.save(update_fields=["password"])
        return found

    sites = []
    statistician, data_manager = user("gen-statistician"), user("gen-data-manager")
    for code in SITE_CODES[:site_count]:
        with acting_as(system):
            site, _created = Site.objects.get_or_create(
                code=code,
                defaults={"name": f"Generated site {code}", "country": "Bangladesh", "phone": "+8809666700100"},
            )
        staff = {}
        for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.MONITOR):
            staff[role] = user(f"gen-{code.lower()}-{role.value.replace('_', '-')}")
            membership_grant(user=staff[role], site=site, role=role, by=system)
        membership_grant(user=statistician, site=site, role=Role.STATISTICIAN, by=system)
        membership_grant(user=data_manager, site=site, role=Role.DATA_MANAGER, by=system)
        sites.append(
            _SiteStaff(
                site=site,
                zone=ZoneInfo(site.time_zone),
                coordinator=staff[Role.COORDINATOR],
                investigator=staff[Role.INVESTIGATOR],
                assessor=staff[Role.BLINDED_ASSESSOR],
                monitor=staff[Role.MONITOR],
                screened=Participant.objects.filter(site=site).count(),
            )
        )
    return sites, {"statistician": statistician, "data_manager": data_manager, "system": system}


@dataclass(frozen=True)
class _Plan:
    """One participant's road: where, when, and how screening ends."""

    site: _SiteStaff
    screening_date: date
    outcome: str  # randomised | failed | withdrawn | screening
    failed_code: str = ""
    early: bool = True  # disease duration ≤ 18 months (the stratum)


def _plans(rng: random.Random, participants: int, sites: list[_SiteStaff], today: date) -> list[_Plan]:
    span = (today - timedelta(days=3) - CONSENT_FORMS_FROM).days
    codes, weights = zip(*FAILURE_CODES, strict=True)
    plans = []
    for index in range(participants):
        screening_date = CONSENT_FORMS_FROM + timedelta(days=int(span * (index + rng.random()) / participants))
        roll = rng.random()
        recent = (today - screening_date).days < 30
        if recent and roll < 0.25:
            outcome = "screening"
        elif roll < 0.30:
            outcome = "failed"
        elif roll < 0.33:
            outcome = "withdrawn"
        else:
            outcome = "randomised"
        failed = rng.choices(codes, weights)[0] if outcome == "failed" else ""
        plans.append(
            _Plan(
                site=sites[index % len(sites)],
                screening_date=screening_date,
                outcome=outcome,
                failed_code=failed,
                early=rng.random() < 0.55,
            )
        )
    return plans


def _allocation_slots(rng: random.Random, plans: list[_Plan], statistician: Any) -> dict[str, list[Any]]:
    """An allocation list with enough slots for every randomised plan; slots by stratum, in sequence order."""
    from django.db import models

    from clinical.allocation import allocation_checksum, generate_allocation
    from randomization.models import AllocationList, AllocationSlot
    from randomization.strata import stratum_code
    from trial_site.audit.actor import acting_as
    from trial_site.protocol import PROTOCOL

    needed: dict[str, int] = defaultdict(int)
    for plan in plans:
        if plan.outcome == "randomised":
            needed[stratum_code(plan.site.site.code, "early" if plan.early else "late")] += 1
    strata = sorted({stratum_code(p.site.site.code, level) for p in plans for level in ("early", "late")})
    planned = generate_allocation(
        seed=rng.randrange(2**64),
        strata=strata,
        slots_per_stratum=max([*needed.values(), 4]),
        block_sizes=PROTOCOL.block_sizes,
        arms=tuple(arm.code for arm in PROTOCOL.arms),
    )
    with acting_as(statistician):
        allocation_list = AllocationList.objects.create(
            name=f"Generated list {datetime.now():%Y%m%d%H%M%S%f}",
            method=AllocationList.Method.GENERATED,
            block_sizes=sorted(PROTOCOL.block_sizes),
            slots_per_stratum=max([*needed.values(), 4]),
            checksum=allocation_checksum(planned),
            created_by=statistician,
            is_active=not AllocationList.objects.filter(is_active=True).exists(),
        )
    slots = [
        AllocationSlot(
            allocation_list=allocation_list,
            stratum=s.stratum,
            sequence=s.sequence,
            block=s.block,
            block_size=s.block_size,
            arm=s.arm,
        )
        for s in planned
    ]
    models.QuerySet(AllocationSlot).bulk_create(slots, batch_size=BATCH)
    by_stratum: dict[str, list[Any]] = defaultdict(list)
    for slot in sorted(slots, key=lambda s: (s.stratum, s.sequence)):
        by_stratum[slot.stratum].append(slot)
    for stratum in by_stratum:
        by_stratum[stratum].reverse()  # pop() takes the next in sequence
    return by_stratum


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_order() -> list[type]:
    from monitoring.models import Signature
    from randomization.models import Allocation
    from safety.models import AdverseEvent, SaeReport
    from screening.models import (
        SCREENING_FORMS,
        Consent,
        ConsentWithdrawal,
        EligibilityConfirmation,
        Participant,
        ScreenFailure,
    )
    from visits.crfs import visit_crfs
    from visits.models import ConcomitantMedication, EndOfStudy, RequiredForm, Visit

    return [
        Participant,
        Consent,
        *SCREENING_FORMS,
        EligibilityConfirmation,
        ScreenFailure,
        ConsentWithdrawal,
        Allocation,
        Visit,
        RequiredForm,
        *visit_crfs(),
        EndOfStudy,
        ConcomitantMedication,
        AdverseEvent,
        SaeReport,
        Signature,
    ]


def generate_trial(participants: int, *, sites: int = 2, seed: int = 1) -> GeneratedTrial:
    """Fill the current database with ``participants`` people at ``sites`` sites (deterministic for a seed).

    About 30 % fail screening, a few withdraw consent or are still in screening, the others are randomised 1:1
    (arms A/B, stratified by site and disease duration) with their visits D1 … W24 up to today, the safety
    follow-up for some who finished, the CRFs each visit asks for, adverse events, a few ends of study, edits
    with reasons and investigator signatures of visits.
    """
    from django.db import transaction
    from django.utils import timezone

    started = clock.monotonic()
    rng = random.Random(seed)
    today = timezone.localdate()
    now = timezone.now()
    site_staff, trial_staff = _staff(sites)
    result = GeneratedTrial(site_ids=[s.site.pk for s in site_staff], staff=trial_staff)
    plans = _plans(rng, participants, site_staff, today)
    slots = _allocation_slots(rng, plans, trial_staff["statistician"])
    order = _insert_order()
    factory = _Factory(rng=rng, today=today, now=now, slots=slots)
    for chunk in _chunks(plans, CHUNK):
        rows = _Rows()
        for plan in chunk:
            factory.participant(rows, plan)
        with transaction.atomic():
            rows.flush(order, result)
    refresh_stored_state()
    analyse()
    result.seconds = clock.monotonic() - started
    return result


# The statuses the lists show are stored and kept current by the services; the generator writes its rows past the
# services, so it has each app recompute them in bulk at the end (dotted paths of functions taking no argument).
STORED_STATE_REFRESHES: tuple[str, ...] = (
    "screening.status_store.refresh_all",  # the screening status and eligibility decision (the screening log)
    "visits.progress.refresh_all",  # RequiredForm.due_on, VisitProgress and VisitTally (the visit lists, the reports)
    "randomization.tallies.refresh_all",  # AllocationTally (the randomisation overview)
)


def refresh_stored_state() -> None:
    """Recompute in bulk the stored statuses the services would have kept current (``STORED_STATE_REFRESHES``)."""
    from django.utils.module_loading import import_string

    for dotted in STORED_STATE_REFRESHES:
        import_string(dotted)()


def analyse() -> None:
    """``VACUUM ANALYZE`` the database, as autovacuum would have in production: the server here runs without it,
    and a freshly generated trial would otherwise have no planner statistics (every measurement after it would be
    of a planner guessing) and no visibility map (no index-only scan could skip the table's rows). Inside a
    transaction (a test's), where ``VACUUM`` cannot run, ``ANALYZE`` alone."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")


class _Factory:
    """Builds one participant's rows (unsaved) into a ``_Rows``."""

    def __init__(self, *, rng: random.Random, today: date, now: datetime, slots: dict[str, list[Any]]) -> None:
        from django.contrib.contenttypes.models import ContentType

        from visits.models import Visit

        self.rng, self.today, self.now, self.slots = rng, today, now, slots
        self.visit_type = ContentType.objects.get_for_model(Visit)

    # --- screening -------------------------------------------------------------------------------------

    def participant(self, rows: _Rows, plan: _Plan) -> None:
        from screening.models import Participant
        from screening.models.participant import screening_number_for

        rng, staff = self.rng, plan.site
        staff.screened += 1
        sex = "F" if rng.random() < 0.8 else "M"
        age = rng.randint(22, 68)
        born = plan.screening_date - timedelta(days=age * 365 + rng.randint(10, 350))
        initials = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVW") for _ in range(rng.choice((2, 3, 3))))
        participant = Participant(
            site=staff.site,
            screening_number=screening_number_for(staff.site.code, staff.screened),
            screening_date=plan.screening_date,
            initials=initials,
            date_of_birth=born,
            sex=sex,
            mobile_phone=f"+8801{rng.choice('3456789')}{rng.randrange(10**8):08d}",
            email="",
            preferred_language=rng.choice(("bn", "bn", "en")),
            reminder_channel="sms",
            reminder_consent=rng.random() < 0.9,
        )
        registered = _at(plan.screening_date, staff.zone, 9, rng.randint(0, 59))
        edits = []
        if rng.random() < 0.05:  # the phone number was mistyped and corrected a few days later
            edits.append((registered + timedelta(days=2), staff.coordinator, "phone number corrected",
                          {"mobile_phone": f"+8801{rng.choice('3456789')}{rng.randrange(10**8):08d}"}))  # fmt: skip
        rows.add(participant, registered, staff.coordinator, *edits)
        self._consent(rows, plan, participant, registered)
        if plan.outcome == "withdrawn":
            self._withdrawal(rows, plan, participant, plan.screening_date + timedelta(days=rng.randint(0, 2)))
            return
        childbearing = sex == "F" and age < 50 and rng.random() < 0.7
        history = self._screening_forms(rows, plan, participant, registered, childbearing)
        decided = registered + timedelta(days=rng.randint(1, 10), hours=2)
        if plan.outcome == "screening" or decided > self.now:
            return
        if plan.outcome == "failed":
            from screening.models import ScreenFailure

            rows.add(
                ScreenFailure(
                    site=staff.site, participant=participant, failed_codes=[plan.failed_code], recorded_at=decided
                ),
                decided,
                staff.investigator,
            )
            return
        self._randomise(rows, plan, participant, decided, childbearing, history)

    def _consent(self, rows: _Rows, plan: _Plan, participant: Any, at: datetime) -> None:
        from screening.models import Consent

        thumb = self.rng.random() < 0.15
        rows.add(
            Consent(
                site=plan.site.site,
                participant=participant,
                form_version="1.0",
                consented_at=at + timedelta(minutes=20),
                obtained_by=plan.site.coordinator,
                signature_method="thumbprint" if thumb else "signature",
                witness_name="Generated Witness" if thumb else "",
                copy_given=True,
            ),
            at + timedelta(minutes=25),
            plan.site.coordinator,
        )

    def _withdrawal(self, rows: _Rows, plan: _Plan, participant: Any, day: date, scope: str = "follow_up") -> None:
        from screening.models import ConsentWithdrawal

        rows.add(
            ConsentWithdrawal(
                site=plan.site.site, participant=participant, withdrawn_on=day, scope=scope, note="Generated."
            ),
            _at(day, plan.site.zone, 15),
            plan.site.coordinator,
        )

    def _screening_forms(
        self, rows: _Rows, plan: _Plan, participant: Any, at: datetime, childbearing: bool
    ) -> dict[str, Any]:
        from clinical.mrss import MRSS_AREA_CODES
        from screening.models import (
            ClassificationCriteria,
            DiseaseHistory,
            ExclusionHistory,
            ScreeningLabs,
            ScreeningMrss,
        )

        rng, staff, day, code = self.rng, plan.site, plan.screening_date, plan.failed_code
        site = staff.site
        entered = at + timedelta(hours=1)
        months = rng.randint(2, 18) if plan.early else rng.randint(19, 58)
        if code == "I3":
            months = rng.randint(62, 120)
        first = day - timedelta(days=int(months * 30.44))
        yes = {name: rng.random() < 0.6 for name in ("puffy_fingers", "sclerodactyly", "telangiectasia")}
        rows.add(
            ClassificationCriteria(
                site=site, participant=participant, skin_thickening_proximal_to_mcp=True, raynaud_phenomenon=True,
                digital_tip_ulcers=rng.random() < 0.3, fingertip_pitting_scars=rng.random() < 0.3,
                abnormal_nailfold_capillaries=rng.random() < 0.7, pulmonary_arterial_hypertension=False,
                interstitial_lung_disease=rng.random() < 0.3, anticentromere=False,
                anti_topoisomerase_i=rng.random() < 0.5, anti_rna_polymerase_iii=rng.random() < 0.2,
                skin_thickening_spares_fingers=False, better_explained_by_other_disorder=False, **yes,
            ),
            entered, staff.coordinator,
        )  # fmt: skip
        areas = ("fingers", "hands", "forearms", "upper_arms", "face", "neck", "chest", "abdomen", "thighs")
        rows.add(
            DiseaseHistory(
                site=site, participant=participant, first_non_raynaud_date=first,
                **{a: rng.random() < 0.7 for a in areas}, lower_legs=rng.random() < 0.5, feet=rng.random() < 0.3,
            ),
            entered, staff.coordinator,
        )  # fmt: skip
        mean = 0.3 if code == "I4" else rng.uniform(0.9, 1.9)
        scores = {a: min(3, max(0, round(rng.gauss(mean, 0.6)))) for a in MRSS_AREA_CODES}
        if code != "I4" and sum(scores.values()) < 10:
            scores["forearm_left" if "forearm_left" in scores else MRSS_AREA_CODES[0]] = 3
            for area in MRSS_AREA_CODES[:6]:
                scores[area] = max(scores[area], 2)
        if code == "I4":
            scores = {a: min(v, 1) for a, v in scores.items()}
            for area in MRSS_AREA_CODES[8:]:
                scores[area] = 0
        rows.add(
            ScreeningMrss(site=site, participant=participant, assessed_on=day, assessor=staff.assessor, **scores),
            entered,
            staff.assessor,
        )
        steroid = "prednisolone" if rng.random() < 0.3 else "none"
        dose = (15.0 if code == "E6" else rng.choice((2.5, 5.0, 7.5))) if steroid != "none" or code == "E6" else None
        if code == "E6":
            steroid = "prednisolone"
        history = ExclusionHistory(
            site=site, participant=participant, other_rheumatic_disease=False, major_surgery=False,
            infected_ulcer=False, serious_bacterial_infection=False, steroid_drug=steroid, steroid_dose_mg_day=dose,
            mycophenolate_g_day=0.0, active_tuberculosis=False, uncontrolled_significant_disease=False,
            pregnant_or_breastfeeding=False, childbearing_potential=childbearing if participant.sex == "F" else None,
            willing_to_use_contraception=True if childbearing else None, malignancy=False, renal_crisis=False,
            anaphylaxis_to_study_drugs=False,
        )  # fmt: skip
        rows.add(history, entered, staff.investigator)
        wbc = round(rng.uniform(4.0, 10.0), 1)
        labs = ScreeningLabs(
            site=site, participant=participant, sampled_on=day,
            hb_g_dl=7.1 if code == "E17" else round(rng.uniform(10.5, 14.5), 1), wbc=wbc,
            anc=round(wbc * rng.uniform(0.45, 0.7), 1), platelets=float(rng.randint(160, 420)),
            alc=round(wbc * rng.uniform(0.18, 0.35), 1), alt=float(rng.randint(10, 60)), alt_uln=40.0,
            creatinine=round(rng.uniform(0.5, 1.1), 2), creatinine_unit="mg/dL",
            fvc_percent=45.0 if code == "E8" else float(rng.randint(62, 110)),
            dlco_percent=float(rng.randint(48, 100)), tb_test="negative", hbsag="negative", hbsag_date=day,
            hcv_antigen="negative", hcv_date=day,
            pregnancy_test="negative" if childbearing else "", pregnancy_test_date=day if childbearing else None,
        )  # fmt: skip
        edits = []
        if rng.random() < 0.1:
            edits.append((entered + timedelta(days=1), staff.coordinator, rng.choice(EDIT_REASONS),
                          {"platelets": labs.platelets * 10}))  # fmt: skip
        rows.add(labs, entered, staff.coordinator, *edits)
        return {"history": history, "first_non_raynaud": first}

    # --- randomisation and visits ----------------------------------------------------------------------

    def _randomise(
        self, rows: _Rows, plan: _Plan, participant: Any, decided: datetime, childbearing: bool, _history: Any
    ) -> None:
        from clinical.schedule import VisitRule, visit_schedule
        from randomization.models import Allocation
        from randomization.strata import stratum_code
        from screening.models import EligibilityConfirmation
        from trial_site.protocol_versions import base_protocol
        from visits.models import RequiredForm, Visit

        PROTOCOL = base_protocol()  # version 1.0, with the forms of each visit
        rng, staff = self.rng, plan.site
        rows.add(
            EligibilityConfirmation(
                site=staff.site, participant=participant, confirmed_by=staff.investigator, confirmed_at=decided,
                criteria=[{"code": c, "status": "met"} for c in
                          ("I1", "I2", "I3", "I4", *(f"E{n}" for n in range(1, 18)))],
            ),
            decided, staff.investigator,
        )  # fmt: skip
        day1 = decided.astimezone(staff.zone).date() + timedelta(days=rng.randint(1, 14))
        if day1 > self.today:
            day1 = self.today
        randomised_at = _at(day1, staff.zone, 10, rng.randint(0, 59))
        if randomised_at > self.now:
            randomised_at = self.now - timedelta(minutes=5)
            day1 = randomised_at.astimezone(staff.zone).date()
        stratum = stratum_code(staff.site.code, "early" if plan.early else "late")
        slot = self.slots[stratum].pop()
        staff.randomised += 1
        allocation = Allocation(
            site=staff.site, participant=participant, slot=slot,
            randomisation_number=f"{staff.site.code}-R-{staff.randomised:03d}", stratum=stratum, arm=slot.arm,
            randomised_at=randomised_at, randomised_by=staff.investigator,
        )  # fmt: skip
        rows.add(allocation, randomised_at, staff.investigator)
        ending = self._ending(day1)
        rules = [VisitRule(v.code, v.target_day, v.days_before, v.days_after) for v in PROTOCOL.visits]
        pregnancy = participant.sex == "F" and childbearing
        done_visits: list[Any] = []
        previous_done: date | None = None
        for order, (definition, window) in enumerate(zip(PROTOCOL.visits, visit_schedule(rules, day1), strict=True)):
            visit = Visit(
                site=staff.site, participant=participant, code=definition.code, name=definition.name,
                sequence=(order + 1) * 10, target_date=window.target, earliest=window.earliest,
                latest=window.latest, planned_date=window.target,
            )  # fmt: skip
            changes = []
            done_on = None
            if order == 0:
                done_on = day1
            elif ending and window.target > ending[0]:
                visit.cancelled = True
                changes.append((_at(ending[0], staff.zone, 16), staff.coordinator, "end of study",
                                {"cancelled": False}))  # fmt: skip
            elif window.latest < self.today and rng.random() < 0.04:
                visit.missed, visit.missed_reason = True, "The participant could not travel."
                changes.append((_at(window.latest + timedelta(days=1), staff.zone, 11), staff.coordinator,
                                "visit missed: The participant could not travel.",
                                {"missed": False, "missed_reason": ""}))  # fmt: skip
            elif window.latest < self.today:
                done_on = window.target + timedelta(days=rng.randint(-window_before(window), window_after(window)))
                if rng.random() < 0.02:
                    done_on = window.latest + timedelta(days=2)
                    visit.deviation_reason = "The participant came late (transport)."
            elif window.earliest <= self.today and rng.random() < 0.5:
                done_on = window.earliest
            if done_on is not None and done_on > self.today:
                done_on = self.today
            if done_on is not None and ending and done_on > ending[0] and ending[0] >= window.earliest:
                done_on = ending[0]
            if done_on is not None:
                visit.done_on = done_on
                changes.insert(0, (_at(done_on, staff.zone, 12), staff.coordinator, "visit done",
                                   {"done_on": None, "deviation_reason": ""}))  # fmt: skip
            # The history's values walk back from the final row, so the changes are given in time order.
            changes.sort(key=lambda change: change[0])
            rows.add(visit, randomised_at + timedelta(minutes=1), staff.investigator, *changes)
            forms = [f for f in definition.forms if f != "pregnancy" or pregnancy]
            entered_forms = set(forms) if done_on is not None else set()
            if done_on is not None and rng.random() < 0.03:  # a form not entered yet
                entered_forms.discard(rng.choice(forms))
            for form in definition.forms:
                status = RequiredForm.Status.REQUIRED
                if form == "pregnancy" and not pregnancy:
                    status = RequiredForm.Status.NOT_REQUIRED
                elif form in entered_forms:
                    status = RequiredForm.Status.ENTERED
                rows.plain(RequiredForm(visit=visit, form=form, status=status))
            if done_on is not None:
                self._visit_forms(rows, plan, visit, entered_forms, allocation.arm, previous_done, done_on)
                done_visits.append(visit)
                previous_done = done_on
        self._after(rows, plan, participant, allocation, done_visits, ending, pregnancy)

    def _ending(self, day1: date) -> tuple[date, str] | None:
        """Some participants end early: (the day, how)."""
        roll = self.rng.random()
        if roll >= 0.08:
            return None
        day = day1 + timedelta(days=self.rng.randint(20, 160))
        if day >= self.today:
            return None
        return day, ("withdrawn", "lost", "lost", "death", "withdrawn")[int(roll / 0.08 * 5)]

    def _visit_forms(
        self,
        rows: _Rows,
        plan: _Plan,
        visit: Any,
        forms: set[str],
        arm: str,
        previous_done: date | None,
        done_on: date,
    ) -> None:
        from visits.crfs import crf_by_code

        rng, staff = self.rng, plan.site
        entered = _at(done_on, staff.zone, 14, rng.randint(0, 59))
        if entered > self.now:
            entered = self.now - timedelta(minutes=1)
        for code in sorted(forms):
            values, edit = self._values(code, visit, arm, previous_done, done_on)
            by = staff.assessor if code == "mrss" else staff.coordinator
            if code == "mrss":
                values["assessor"] = staff.assessor  # scored blind
            record = crf_by_code(code)(site=staff.site, visit=visit, status="complete", **values)
            changes = []
            if edit and rng.random() < 0.06 and entered + timedelta(days=3) < self.now:
                changes.append((entered + timedelta(days=3), by, rng.choice(EDIT_REASONS), edit))
            rows.add(record, entered, by, *changes)
        if rng.random() < 0.25 and entered + timedelta(days=10) < self.now:
            from monitoring.models import Signature
            from trial_site.protocol import PROTOCOL

            rows.add(
                Signature(
                    scope="visit", site=staff.site, participant=visit.participant, visit=visit,
                    meaning=PROTOCOL.monitoring.signature_meaning, signed_by=staff.investigator,
                    signed_at=entered + timedelta(days=10),
                ),
                entered + timedelta(days=10), staff.investigator,
            )  # fmt: skip

    def _values(
        self, code: str, visit: Any, arm: str, previous_done: date | None, done_on: date
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A form's values within the hard limits, and the values before an edit (a field a user might fix)."""
        from clinical.instruments import HAQ_CATEGORIES, HAQ_ITEM_CODES
        from clinical.mrss import MRSS_AREA_CODES

        rng = self.rng
        u = rng.uniform
        if code == "mrss":
            improvement = {"D1": 1.0, "W4": 0.95, "W12": 0.85, "W24": 0.75 if arm == "A" else 0.85}[visit.code]
            mean = u(0.9, 1.8) * improvement
            scores = {a: min(3, max(0, round(rng.gauss(mean, 0.6)))) for a in MRSS_AREA_CODES}
            return scores, {MRSS_AREA_CODES[0]: 3 - scores[MRSS_AREA_CODES[0]]}
        if code == "vitals":
            systolic = float(rng.randint(100, 150))
            values = {"weight_kg": round(u(40, 85), 1), "height_cm": float(rng.randint(145, 180)),
                      "systolic_bp": systolic, "diastolic_bp": float(rng.randint(60, int(systolic) - 25)),
                      "heart_rate": float(rng.randint(58, 100)), "temperature_c": round(u(36.2, 37.4), 1)}  # fmt: skip
            return values, {"weight_kg": round(values["weight_kg"] + 10, 1)}
        if code == "labs":
            wbc = round(u(3.5, 10.0), 1)
            values = {"hb_g_dl": round(u(9.5, 14.5), 1), "wbc": wbc, "anc": round(wbc * u(0.45, 0.7), 1),
                      "alc": round(wbc * u(0.15, 0.35), 1), "platelets": float(rng.randint(140, 420)),
                      "alt": float(rng.randint(8, 90)), "alt_uln": 40.0, "ast": float(rng.randint(8, 80)),
                      "albumin_g_l": float(rng.randint(32, 46)), "creatinine_mg_dl": round(u(0.5, 1.2), 2)}  # fmt: skip
            values |= {"creatinine": values["creatinine_mg_dl"], "creatinine_unit": "mg/dL"}  # as entered
            return values, {"platelets": values["platelets"] * 10}
        if code == "inflammation":
            return {"esr_mm_h": float(rng.randint(5, 70)), "crp_mg_l": round(u(0.5, 30), 1)}, {}
        if code == "lipids":
            hdl, ldl = round(u(0.9, 1.8), 1), round(u(1.8, 3.8), 1)
            return {"total_cholesterol": round(hdl + ldl + u(0.3, 1.2), 1), "ldl_cholesterol": ldl,
                    "hdl_cholesterol": hdl, "triglycerides": round(u(0.7, 2.6), 1)}, {}  # fmt: skip
        if code == "haq":
            items = {f"item_{c}": rng.choice((0, 0, 1, 1, 2, 3)) for c in HAQ_ITEM_CODES}
            aids = {f"aids_{c}": rng.random() < 0.15 for c, _label in HAQ_CATEGORIES}
            return {**items, **aids}, {}
        if code == "globals":
            values = {"patient_global": float(rng.randint(1, 9)), "physician_global": float(rng.randint(1, 8)),
                      "swollen_28": rng.randint(0, 6), "tender_28": rng.randint(0, 10)}  # fmt: skip
            return values, {"tender_28": values["tender_28"] + 1}
        if code == "pft":
            return {"fvc_percent": float(rng.randint(55, 110)), "dlco_percent": float(rng.randint(42, 100))}, {}
        if code == "pregnancy":
            return {"result": "negative", "tested_on": done_on}, {}
        if code == "drug":
            per_week = 7.0 if arm == "A" else 10.0
            start = previous_done or done_on - timedelta(days=14)
            days = max((done_on - start).days, 1)
            dispensed = int(per_week * days / 7) + 14
            returned = max(0, 14 + rng.randint(-3, 6))
            return {"dispensed": dispensed, "returned": min(returned, dispensed), "period_start": start,
                    "tablets_per_week": per_week,
                    "current_dose": "4 mg once daily" if arm == "A" else "25 mg once weekly"}, {}  # fmt: skip
        if code == "conmeds":
            steroid = rng.random() < 0.3
            return {"reviewed": True, "changes": "" if rng.random() < 0.8 else "Omeprazole 20 mg daily started.",
                    "steroid_drug": "prednisolone" if steroid else "none",
                    "steroid_dose_mg_day": 5.0 if steroid else None}, {}  # fmt: skip
        raise KeyError(code)

    # --- after the visits: end of study, follow-up, adverse events, medications --------------------------

    def _after(
        self,
        rows: _Rows,
        plan: _Plan,
        participant: Any,
        allocation: Any,
        done_visits: list[Any],
        ending: tuple[date, str] | None,
        pregnancy: bool,
    ) -> None:
        from clinical.schedule import follow_up_window
        from safety.models import AdverseEvent, SaeReport
        from trial_site.protocol_versions import base_protocol
        from visits.models import ConcomitantMedication, EndOfStudy, RequiredForm, Visit

        PROTOCOL = base_protocol()  # version 1.0, with the forms of each visit
        rng, staff = self.rng, plan.site
        last = done_visits[-1]
        finished = last.code == PROTOCOL.visits[-1].code
        if ending or finished:
            ended_on, reason = ending if ending else (last.done_on, "completed")
            rows.add(
                EndOfStudy(site=staff.site, participant=participant, ended_on=ended_on, reason=reason,
                           details="" if reason == "completed" else "Generated."),
                _at(ended_on, staff.zone, 17), staff.investigator,
            )  # fmt: skip
            if reason == "withdrawn" and rng.random() < 0.5:
                self._withdrawal(rows, plan, participant, ended_on, "follow_up")
        if finished and rng.random() < 0.6:
            window = follow_up_window(
                last.done_on,
                days_after_last_dose=PROTOCOL.follow_up.days_after_last_dose,
                days_after=PROTOCOL.follow_up.days_after,
            )
            visit = Visit(
                site=staff.site, participant=participant, code=PROTOCOL.follow_up.code,
                name=PROTOCOL.follow_up.name, sequence=(len(PROTOCOL.visits) + 1) * 10, target_date=window.target,
                earliest=window.earliest, latest=window.latest, planned_date=window.target,
            )  # fmt: skip
            changes = []
            if window.latest < self.today:
                visit.done_on = window.target + timedelta(days=rng.randint(0, 5))
                changes.append((_at(visit.done_on, staff.zone, 12), staff.coordinator, "visit done",
                                {"done_on": None}))  # fmt: skip
            rows.add(visit, _at(last.done_on, staff.zone, 17, 30), staff.coordinator, *changes)
            forms = [f for f in PROTOCOL.follow_up.forms if f != "pregnancy" or pregnancy]
            for form in PROTOCOL.follow_up.forms:
                status = "not_required" if form not in forms else ("entered" if visit.done_on else "required")
                rows.plain(RequiredForm(visit=visit, form=form, status=status))
            if visit.done_on:
                self._visit_forms(rows, plan, visit, set(forms), allocation.arm, last.done_on, visit.done_on)
        for _n in range(rng.choice((0, 0, 0, 1, 1, 2, 3))):
            visit = rng.choice(done_visits)
            onset = visit.done_on - timedelta(days=rng.randint(0, 10))
            serious = rng.random() < 0.08
            learned = min(_at(visit.done_on, staff.zone, 13), self.now - timedelta(minutes=1))
            stopped = onset + timedelta(days=rng.randint(3, 20))
            event = AdverseEvent(
                site=staff.site, participant=participant, visit=visit,
                description=rng.choice(("Nausea", "Headache", "Upper respiratory infection", "Raised ALT",
                                        "Herpes zoster", "Diarrhoea", "Fatigue", "Neutropenia")),
                onset_date=onset, stop_date=stopped if stopped < self.today else None,
                ongoing=stopped >= self.today, grade=3 if serious else rng.choice((1, 1, 2)),
                serious_hospitalisation=serious, relationship=rng.choice(("not_related", "unlikely", "possible")),
                action_taken=rng.choice(("none", "none", "interrupted")),
                outcome="recovered" if stopped < self.today else "recovering", learned_at=learned,
            )  # fmt: skip
            changes = []
            if rng.random() < 0.2 and learned + timedelta(days=5) < self.now:
                changes.append((learned + timedelta(days=5), staff.investigator, "grade reviewed",
                                {"grade": max(1, event.grade - 1) if event.grade > 1 else 2}))  # fmt: skip
            rows.add(event, learned, staff.investigator, *changes)
            if serious:
                rows.add(
                    SaeReport(adverse_event=event, site=staff.site, kind="initial",
                              deadline=learned + timedelta(hours=24), narrative="Admitted for observation.",
                              submitted_at=learned + timedelta(hours=6), causality=event.relationship,
                              signed_by=staff.investigator, signed_at=learned + timedelta(hours=5)),
                    learned + timedelta(hours=1), staff.investigator,
                )  # fmt: skip
        if rng.random() < 0.4:
            start = participant.screening_date - timedelta(days=rng.randint(30, 400))
            rows.add(
                ConcomitantMedication(site=staff.site, participant=participant, drug="Omeprazole", dose="20 mg",
                                      frequency="once daily", indication="Reflux", start_date=start),
                _at(participant.screening_date, staff.zone, 11), staff.coordinator,
            )  # fmt: skip


def window_before(window: Any) -> int:
    return (window.target - window.earliest).days


def window_after(window: Any) -> int:
    return (window.latest - window.target).days


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trial_site.settings.base")
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import django

    django.setup()


def create_database(database_url: str) -> None:
    """Create the PostgreSQL database named in the URL if it does not exist (connecting to ``postgres``)."""
    import psycopg
    from psycopg import sql

    url = database_url.rsplit("/", 1)
    name = url[1].split("?")[0]
    with psycopg.connect(f"{url[0]}/postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, required=True)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", required=True, help="postgres://user@host:port/name (created if missing)")
    parser.add_argument(
        "--migrate-only",
        action="store_true",
        help="bring a generated trial up to the code's migrations (stored statuses refreshed, ANALYZE), no new rows",
    )
    args = parser.parse_args(argv)
    create_database(args.database_url)
    _setup_django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.migrate_only:
        refresh_stored_state()
        analyse()
        print("migrated, stored statuses refreshed, analysed")
        return 0
    result = generate_trial(args.participants, sites=args.sites, seed=args.seed)
    for label, count in sorted(result.rows.items()):
        print(f"{label:40} {count:9,}")
    print(f"{'history rows':40} {result.history_rows:9,}")
    print(f"generated {args.participants} participants in {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
