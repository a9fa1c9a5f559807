"""Reads of screening: the facts the eligibility decision needs, the decision, the log — scoped by site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from clinical.acr_eular import AcrEularItems, AcrEularScore, ItemPoints, acr_eular_score, item_points
from clinical.consent import ReconsentDecision, reconsent_decision
from clinical.dates import months_and_days
from clinical.display import number_against
from clinical.eligibility import EligibilityDecision, ScreeningFacts, decide_eligibility
from clinical.eligibility_baseline import BaselineFacts, decide_baseline
from clinical.eligibility_window import ScreeningWindow, screening_window
from clinical.skin import SkinInvolvement, SkinSubset, skin_subset
from screening import reconsent_count as reconsent_count_module  # its signals: connected with the selectors
from screening.models import (
    SCREENING_FORMS,
    ClassificationCriteria,
    Day1Baseline,
    DiseaseHistory,
    EligibilityConfirmation,
    ExclusionHistory,
    Participant,
    ScreeningLabs,
    ScreeningMrss,
)
from screening.status import ScreeningStatus, screening_status
from trial_site.protocol import Protocol
from trial_site.protocol_versions import approved_versions, protocol_on
from trial_site.scoping import scope_to_user_sites

FORM_ACCESSORS = tuple(form.participant_accessor() for form in SCREENING_FORMS)
# The screening forms proper (the log counts them); the Day 1 baseline form comes after screening.
SCREENING_ONLY_FORMS = tuple(form for form in SCREENING_FORMS if form is not Day1Baseline)


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


def protocol_for(participant: Participant) -> Protocol:
    """The protocol version in force today at the participant's site: the thresholds eligibility is judged by now
    (a confirmation keeps the version it was made under, ``EligibilityConfirmation.protocol_version``). Read once per
    participant object; a list sets ``_protocol_versions`` on each row from one read (``with_protocol_versions``)."""
    if "_protocol_in_force" not in participant.__dict__:
        versions = participant.__dict__.get("_protocol_versions")
        participant.__dict__["_protocol_in_force"] = protocol_on(site_today(participant), versions)
    return participant.__dict__["_protocol_in_force"]  # type: ignore[no-any-return]


def with_protocol_versions(participants: Any) -> list[Participant]:
    """The participants, each given the approved protocol versions read once for all of them."""
    versions = approved_versions()
    rows = list(participants)
    for participant in rows:
        participant.__dict__["_protocol_versions"] = versions
    return rows


def screening_decision(participant: Participant) -> EligibilityDecision:
    return decide_eligibility(screening_facts(participant), protocol_for(participant).eligibility)


# The dated screening assessments the screening window counts from, with what to call each.
WINDOW_SOURCES: dict[str, Promise] = {
    "screening_date": _("the screening date"),
    "mrss": _("the screening mRSS"),
    "labs": _("the screening laboratory samples"),
    "pregnancy_test": _("the screening pregnancy test"),
}


def screening_window_of(participant: Participant) -> ScreeningWindow:
    """The days the participant's screening allows for Day 1 (``clinical.eligibility_window``)."""
    mrss = form_of(participant, ScreeningMrss)
    labs = form_of(participant, ScreeningLabs)
    return screening_window(
        {
            "screening_date": participant.screening_date,
            "mrss": mrss.assessed_on if mrss is not None else None,
            "labs": labs.sampled_on if labs is not None else None,
            "pregnancy_test": labs.pregnancy_test_date if labs is not None else None,
        },
        window_days=protocol_for(participant).eligibility.screening_window_days,
    )


def site_today(participant: Participant) -> date:
    """Today at the participant's site (its time zone), the day a randomisation now would be Day 1."""
    return timezone.localdate(timezone.now(), ZoneInfo(participant.site.time_zone))


def day1_of(participant: Participant) -> date:
    """Day 1: the site's date of the randomisation, or today at the site while not randomised."""
    allocation = getattr(participant, "allocation", None)
    if allocation is None:
        return site_today(participant)
    return timezone.localdate(allocation.randomised_at, ZoneInfo(participant.site.time_zone))


def baseline_facts(participant: Participant, day1: date) -> BaselineFacts:
    """Plain values for ``clinical.eligibility_baseline`` from the Day 1 form and the exclusion history."""
    form = form_of(participant, Day1Baseline)
    exclusions = form_of(participant, ExclusionHistory)
    return BaselineFacts(
        day1=day1,
        recorded_on=form.day1 if form is not None else None,
        mrss_total=form.mrss_total if form is not None else None,
        mycophenolate_g_day=form.mycophenolate_g_day if form is not None else None,
        renal_crisis_at_screening=exclusions.renal_crisis if exclusions is not None else None,
        renal_crisis_at_screening_date=exclusions.renal_crisis_date if exclusions is not None else None,
        renal_crisis_since_screening=form.renal_crisis_since_screening if form is not None else None,
        renal_crisis_since_screening_date=form.renal_crisis_since_screening_date if form is not None else None,
    )


def baseline_decision(participant: Participant, day1: date | None = None) -> EligibilityDecision:
    """I4, E7 and E15 judged for Day 1 (today at the site unless given) from what is recorded for Day 1."""
    return decide_baseline(
        baseline_facts(participant, day1 or day1_of(participant)), protocol_for(participant).eligibility
    )


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
    entered = sum(1 for form in SCREENING_ONLY_FORMS if form_of(participant, form) is not None)
    status = screening_status(
        any_form_entered=entered > 0,
        decision=decision.decision,
        confirmed=confirmation_in_force(participant) is not None,
        screen_failed=hasattr(participant, "screen_failure"),
        withdrawn=hasattr(participant, "withdrawal"),
        randomised=hasattr(participant, "allocation"),
    )
    return ScreeningRow(participant=participant, decision=decision, status=status, forms_entered=entered)


# The screening log (``screening.log``) lists the participants of the sites where a role the user holds there may
# read them.
VIEW_SCREENING = "screening.view_participant"


# The eight items of the ACR/EULAR table, as the summary page names them.
ACR_EULAR_ITEM_LABELS: dict[str, Promise] = {
    "skin_proximal_to_mcp": _("Skin thickening of the fingers of both hands extending proximal to the MCP joints"),
    "skin_of_fingers": _("Skin thickening of the fingers (puffy fingers 2, sclerodactyly 4)"),
    "fingertip_lesions": _("Fingertip lesions (digital tip ulcers 2, pitting scars 3)"),
    "telangiectasia": _("Telangiectasia"),
    "nailfold_capillaries": _("Abnormal nailfold capillaries"),
    "pah_or_ild": _("Pulmonary arterial hypertension and/or interstitial lung disease"),
    "raynaud": _("Raynaud's phenomenon"),
    "autoantibodies": _("SSc-related autoantibodies"),
}


@dataclass(frozen=True)
class AcrEularRow:
    label: Promise
    item: ItemPoints


@dataclass(frozen=True)
class ComputedValues:
    """What the system computes from the raw data, shown beside the decision, with the precision its rule uses.

    ``egfr_shown`` and ``prednisone_shown`` never round across their thresholds (59.96 stays "59.96" beside
    "eGFR < 60"); the disease duration is in months and days, as I3 counts it."""

    # The protocol version whose thresholds the criteria are judged by.
    protocol_version: str
    acr_eular: AcrEularScore | None
    acr_eular_items: tuple[AcrEularRow, ...]
    subset: SkinSubset | None
    disease_duration: tuple[int, int] | None  # (months, days) from the first non-Raynaud manifestation
    mrss_total: int | None
    egfr: float | None
    egfr_shown: str
    prednisone_equivalent_mg_day: float | None
    prednisone_shown: str
    age_years: int
    window: ScreeningWindow
    window_counted_from: Promise
    window_days: int  # Day 1 from 1 to this many days after screening
    day1: date  # today at the site, or the Day 1 of a randomised participant
    # Still waiting (not randomised, failed or withdrawn) and today is past the last day the screening allows.
    window_closed: bool
    baseline: EligibilityDecision  # I4, E7, E15 for Day 1


def computed_values(participant: Participant) -> ComputedValues:
    history = form_of(participant, DiseaseHistory)
    labs = form_of(participant, ScreeningLabs)
    exclusions = form_of(participant, ExclusionHistory)
    classification = form_of(participant, ClassificationCriteria)
    first = history.first_non_raynaud_date if history is not None else None
    screened = participant.screening_date
    duration = months_and_days(first, screened) if first and first <= screened else None
    egfr = labs.egfr if labs is not None else None
    prednisone = exclusions.prednisone_equivalent_mg_day if exclusions is not None else None
    rules = protocol_for(participant).eligibility
    window = screening_window_of(participant)
    day1 = day1_of(participant)
    items = AcrEularItems(**_items(classification, tuple(AcrEularItems.__dataclass_fields__)))
    return ComputedValues(
        protocol_version=protocol_for(participant).version,
        acr_eular=acr_eular_for(participant),
        acr_eular_items=tuple(
            AcrEularRow(label=ACR_EULAR_ITEM_LABELS[item.key], item=item) for item in item_points(items)
        )
        if classification is not None
        else (),
        subset=subset_for(participant),
        disease_duration=duration,
        mrss_total=participant_mrss_total(participant),
        egfr=egfr,
        egfr_shown=number_against(egfr, rules.min_egfr) if egfr is not None else "",
        prednisone_equivalent_mg_day=prednisone,
        prednisone_shown=number_against(prednisone, rules.max_prednisone_mg_day) if prednisone is not None else "",
        age_years=participant.age_at_screening,
        window=window,
        window_counted_from=WINDOW_SOURCES[window.counted_from],
        window_days=rules.screening_window_days,
        day1=day1,
        window_closed=day1 > window.last_day1
        and not any(hasattr(participant, name) for name in ("allocation", "screen_failure", "withdrawal")),
        baseline=baseline_decision(participant, day1),
    )


def acr_eular_for(participant: Participant) -> AcrEularScore | None:
    record = form_of(participant, ClassificationCriteria)
    if record is None:
        return None
    fields = tuple(AcrEularItems.__dataclass_fields__)
    threshold = protocol_for(participant).eligibility.acr_eular_min_score
    return acr_eular_score(AcrEularItems(**_items(record, fields)), threshold=threshold)


def subset_for(participant: Participant) -> SkinSubset | None:
    record = form_of(participant, DiseaseHistory)
    if record is None:
        return None
    return skin_subset(SkinInvolvement(**_items(record, tuple(SkinInvolvement.__dataclass_fields__))))


# --- Re-consent ----------------------------------------------------------------------------------------------

# The to-do list of re-consents lists the participants of the sites where the user may record one.
RECORD_RECONSENT = "screening.add_reconsent"
# Reverse relations of the later apps, read by name here (screening imports none of them).
_OUT_OF_TRIAL = ("withdrawal", "screen_failure", "end_of_study")


def in_trial(participant: Participant) -> bool:
    """Still in the trial: consented, and not withdrawn, screen-failed or ended (end of study recorded)."""
    if getattr(participant, "consent", None) is None:
        return False
    return not any(hasattr(participant, name) for name in _OUT_OF_TRIAL)


def signed_versions(participant: Participant) -> list[str]:
    """The consent form versions the participant signed: the first consent and every re-consent."""
    consent = getattr(participant, "consent", None)
    first = [consent.form_version] if consent is not None else []
    return first + [record.form_version for record in participant.reconsents.all()]


def _protocol_on(versions: list[Protocol], day: date) -> Protocol:
    """``trial_site.protocol_versions.protocol_on`` over versions read once (a list page asks it per site)."""
    in_force = [protocol for protocol in versions if protocol.effective_from <= day]
    return in_force[-1] if in_force else versions[0]


def _decision(participant: Participant, day: date, versions: list[Protocol], *, still_in: bool) -> ReconsentDecision:
    return reconsent_decision(
        signed=signed_versions(participant),
        versions=_protocol_on(versions, day).consent_forms,
        in_trial=still_in,
        day=day,
    )


def reconsent_due(participant: Participant, on: date | None = None) -> ReconsentDecision:
    """Whether ``participant`` must sign a new consent form version on ``on`` (today at the site unless given),
    which, and since when (``clinical.consent.reconsent_decision`` with the protocol in force that day)."""
    day = on or site_today(participant)
    return _decision(participant, day, approved_versions(), still_in=in_trial(participant))


def reconsent_refusal(participant: Participant, on: date | None = None) -> str | None:
    """The message that refuses a procedure while the participant owes a re-consent, or None."""
    decision = reconsent_due(participant, on)
    if not decision.due:
        return None
    return gettext(
        "%(number)s must sign consent form version %(version)s again (re-consent, asked since %(since)s; "
        "signed: version %(signed)s). Record the re-consent first: until then this is refused."
    ) % {
        "number": participant.screening_number,
        "version": decision.version,
        "since": decision.since.isoformat() if decision.since else "",
        "signed": decision.signed or "—",
    }


def require_current_consent(participant: Participant, on: date | None = None) -> None:
    """Refuse (``ValidationError``, code ``reconsent_due``) a procedure the new consent version blocks: the screening
    forms, randomisation, a visit recorded as done, the visit forms. Adverse events, SAE reports, the end of study,
    the withdrawal, queries and the re-consent itself are never blocked (they do not call this)."""
    refusal = reconsent_refusal(participant, on)
    if refusal:
        raise ValidationError(refusal, code="reconsent_due")


@dataclass(frozen=True)
class ReconsentRow:
    participant: Participant
    decision: ReconsentDecision


def participants_to_reconsent(user: Any) -> list[ReconsentRow]:
    """The participants still in the trial who must re-consent today (at their site), at the sites where the user
    may record a re-consent, with the version signed, the version due and since when.

    The number of queries does not depend on the number of participants."""
    versions = approved_versions()
    if not any(form.reconsent for protocol in versions for form in protocol.consent_forms):
        return []
    participants = (
        scope_to_user_sites(Participant.objects.all(), user, permission=RECORD_RECONSENT)
        .filter(consent__isnull=False, **{f"{name}__isnull": True for name in _OUT_OF_TRIAL})
        .select_related("site", "consent")
        .prefetch_related("reconsents")
        .order_by("site__code", "screening_number")
    )
    now = timezone.now()
    rows = []
    for participant in participants:
        day = timezone.localdate(now, ZoneInfo(participant.site.time_zone))
        decision = _decision(participant, day, versions, still_in=True)
        if decision.due:
            rows.append(ReconsentRow(participant=participant, decision=decision))
    return rows


def reconsent_count(user: Any) -> int:
    """How many participants at the user's sites must re-consent (the menu's count): one SQL count, cached with
    Redis; no query while no version asks for a re-consent (``screening.reconsent_count``)."""
    participants = scope_to_user_sites(Participant.objects.all(), user, permission=RECORD_RECONSENT)
    return reconsent_count_module.count_due(participants, approved_versions(), timezone.now())


CONFIRM_ELIGIBILITY = "screening.confirm_eligibility"


def eligibility_to_confirm(user: Any) -> QuerySet[Participant]:
    """Participants whose stored status is "eligible" (computed eligible, no confirmation in force, not randomised,
    withdrawn nor screen failed: ``screening.status``), at the sites where the user may confirm eligibility; by site
    and screening number. A queryset: counted and sliced in the database.

    By site first: no index gives that order, so PostgreSQL reads the few eligible rows (the partial index of the
    state's status) and sorts them. Ordered by number alone, it walked the participants' number index hoping to meet
    the first few eligible ones soon; they are the newest, and at 50,000 participants it read 16,000 rows first."""
    return (
        scope_to_user_sites(Participant.objects.all(), user, permission=CONFIRM_ELIGIBILITY)
        .filter(screening_state__status=ScreeningStatus.ELIGIBLE.value)
        .select_related("site")
        .only("screening_number", "site__code")
        .order_by("site__code", "screening_number")
    )
