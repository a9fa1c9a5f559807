"""Reads of screening: the facts the eligibility decision needs, the decision, the log — scoped by site."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from clinical.acr_eular import AcrEularItems, AcrEularScore, acr_eular_score
from clinical.dates import months_between
from clinical.eligibility import EligibilityDecision, ScreeningFacts, decide_eligibility
from clinical.skin import SkinInvolvement, SkinSubset, skin_subset
from screening.models import (
    SCREENING_FORMS,
    ClassificationCriteria,
    DiseaseHistory,
    EligibilityConfirmation,
    ExclusionHistory,
    Participant,
    ScreeningLabs,
)
from screening.status import ScreeningStatus, screening_status
from trial_site.protocol import PROTOCOL
from trial_site.scoping import scope_to_user_sites

FORM_ACCESSORS = tuple(form.participant_accessor() for form in SCREENING_FORMS)


def participants_with_screening(queryset: QuerySet[Participant]) -> QuerySet[Participant]:
    """Participants with everything screening shows, in a fixed number of queries."""
    # "allocation" is the reverse relation the randomisation app adds: read here, never imported.
    return queryset.select_related(
        "site", "consent", "withdrawal", "screen_failure", "allocation", *FORM_ACCESSORS
    ).prefetch_related(
        Prefetch(
            "confirmations",
            queryset=EligibilityConfirmation.objects.filter(voided_at__isnull=True).select_related("confirmed_by"),
            to_attr="confirmations_in_force",
        )
    )


def form_of(participant: Participant, form_model: type) -> Any:
    """The participant's form of that kind, or None when not entered yet."""
    return getattr(participant, form_model.participant_accessor(), None)


def _items(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names} if record is not None else {}


def _positive(result: str) -> bool | None:
    return None if not result else result == "positive"


def screening_facts(participant: Participant) -> ScreeningFacts:
    """Plain values for ``clinical.eligibility`` from the participant's screening forms."""
    classification = form_of(participant, ClassificationCriteria)
    history = form_of(participant, DiseaseHistory)
    exclusions = form_of(participant, ExclusionHistory)
    labs = form_of(participant, ScreeningLabs)
    mrss = participant_mrss_total(participant)
    acr_fields = tuple(AcrEularItems.__dataclass_fields__)
    skin_fields = tuple(SkinInvolvement.__dataclass_fields__)
    facts: dict[str, Any] = {
        "screening_date": participant.screening_date,
        "date_of_birth": participant.date_of_birth,
        "sex": participant.sex,
        "acr_eular": AcrEularItems(**_items(classification, acr_fields)),
        "skin": SkinInvolvement(**_items(history, skin_fields)),
        "first_non_raynaud_date": history.first_non_raynaud_date if history else None,
        "mrss_total": mrss,
    }
    if exclusions is not None:
        facts.update(
            _items(
                exclusions,
                (
                    "other_rheumatic_disease",
                    "major_surgery",
                    "major_surgery_date",
                    "infected_ulcer",
                    "serious_bacterial_infection",
                    "mycophenolate_g_day",
                    "active_tuberculosis",
                    "uncontrolled_significant_disease",
                    "pregnant_or_breastfeeding",
                    "childbearing_potential",
                    "willing_to_use_contraception",
                    "malignancy",
                    "malignancy_date",
                    "renal_crisis",
                    "renal_crisis_date",
                    "anaphylaxis_to_study_drugs",
                    "prednisone_equivalent_mg_day",
                ),
            )
        )
    if labs is not None:
        facts.update(
            _items(
                labs,
                ("hb_g_dl", "wbc", "anc", "platelets", "alc", "alt", "alt_uln", "fvc_percent", "dlco_percent", "egfr"),
            )
        )
        facts.update(
            hbsag_positive=_positive(labs.hbsag),
            hbsag_test_date=labs.hbsag_date,
            hcv_antigen_positive=_positive(labs.hcv_antigen),
            hcv_test_date=labs.hcv_date,
            pregnancy_test_positive=_positive(labs.pregnancy_test),
        )
    return ScreeningFacts(**facts)


def participant_mrss_total(participant: Participant) -> int | None:
    mrss = getattr(participant, "screening_mrss", None)
    return mrss.mrss_total if mrss is not None else None


def screening_decision(participant: Participant) -> EligibilityDecision:
    return decide_eligibility(screening_facts(participant), PROTOCOL.eligibility)


def confirmation_in_force(participant: Participant) -> EligibilityConfirmation | None:
    prefetched = getattr(participant, "confirmations_in_force", None)
    if prefetched is not None:
        return prefetched[0] if prefetched else None
    return participant.confirmations.filter(voided_at__isnull=True).first()


@dataclass(frozen=True)
class ScreeningRow:
    participant: Participant
    decision: EligibilityDecision
    status: ScreeningStatus
    forms_entered: int


def screening_row(participant: Participant) -> ScreeningRow:
    decision = screening_decision(participant)
    entered = sum(1 for form in SCREENING_FORMS if form_of(participant, form) is not None)
    status = screening_status(
        any_form_entered=entered > 0,
        decision=decision.decision,
        confirmed=confirmation_in_force(participant) is not None,
        screen_failed=hasattr(participant, "screen_failure"),
        withdrawn=hasattr(participant, "withdrawal"),
        randomised=hasattr(participant, "allocation"),
    )
    return ScreeningRow(participant=participant, decision=decision, status=status, forms_entered=entered)


@dataclass(frozen=True)
class ScreeningLog:
    rows: list[ScreeningRow]
    status_counts: dict[ScreeningStatus, int]
    failures_by_code: list[tuple[str, int]]


def screening_log(user: Any, *, site_code: str = "", status: str = "") -> ScreeningLog:
    """Every screened participant at the user's sites, with status and the failure counts by criterion.

    The number of queries does not depend on the number of participants.
    """
    participants = scope_to_user_sites(Participant.objects.all(), user)
    if site_code:
        participants = participants.filter(site__code=site_code)
    rows = [screening_row(participant) for participant in participants_with_screening(participants)]
    status_counts = Counter(row.status for row in rows)
    failures = Counter(
        code for row in rows if hasattr(row.participant, "screen_failure")
        for code in row.participant.screen_failure.failed_codes
    )  # fmt: skip
    if status:
        rows = [row for row in rows if row.status == status]
    ordered_failures = sorted(failures.items(), key=lambda item: (-item[1], _code_order(item[0])))
    return ScreeningLog(rows=rows, status_counts=dict(status_counts), failures_by_code=ordered_failures)


def _code_order(code: str) -> tuple[int, int]:
    return (0 if code.startswith("I") else 1, int(code[1:]))


@dataclass(frozen=True)
class ComputedValues:
    """What the system computes from the raw screening data, shown beside the decision."""

    acr_eular: AcrEularScore | None
    subset: SkinSubset | None
    disease_duration_months: int | None
    mrss_total: int | None
    egfr: float | None
    prednisone_equivalent_mg_day: float | None
    age_years: int


def computed_values(participant: Participant) -> ComputedValues:
    history = form_of(participant, DiseaseHistory)
    labs = form_of(participant, ScreeningLabs)
    exclusions = form_of(participant, ExclusionHistory)
    first = history.first_non_raynaud_date if history is not None else None
    duration = (
        months_between(first, participant.screening_date) if first and first <= participant.screening_date else None
    )
    return ComputedValues(
        acr_eular=acr_eular_for(participant),
        subset=subset_for(participant),
        disease_duration_months=duration,
        mrss_total=participant_mrss_total(participant),
        egfr=labs.egfr if labs is not None else None,
        prednisone_equivalent_mg_day=exclusions.prednisone_equivalent_mg_day if exclusions is not None else None,
        age_years=participant.age_at_screening,
    )


def acr_eular_for(participant: Participant) -> AcrEularScore | None:
    record = form_of(participant, ClassificationCriteria)
    if record is None:
        return None
    fields = tuple(AcrEularItems.__dataclass_fields__)
    return acr_eular_score(AcrEularItems(**_items(record, fields)), threshold=PROTOCOL.eligibility.acr_eular_min_score)


def subset_for(participant: Participant) -> SkinSubset | None:
    record = form_of(participant, DiseaseHistory)
    if record is None:
        return None
    return skin_subset(SkinInvolvement(**_items(record, tuple(SkinInvolvement.__dataclass_fields__))))
