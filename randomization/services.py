"""Writes of randomisation: allocation lists, the randomise service, error flags, emergency unblinding."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.allocation import (
    AllocationError,
    PlannedSlot,
    allocation_checksum,
    generate_allocation,
    parse_allocation_csv,
)
from clinical.display import criterion_reading
from clinical.eligibility import CriterionStatus, Decision, EligibilityDecision
from randomization import tasks
from randomization.models import Allocation, AllocationList, AllocationSlot, AllocationTally, Unblinding
from randomization.strata import strata_for_sites, stratum_for
from randomization.tallies import allocation_counted
from screening.models import Participant
from screening.selectors import (
    baseline_decision,
    confirmation_in_force,
    participants_with_screening,
    reconsent_refusal,
    screening_decision,
    site_today,
)
from screening.services import screening_window_refusal
from trial_site.audit.actor import acting_as
from trial_site.audit.bulk import audited_batch, create_audited
from trial_site.hooks import follow_up
from trial_site.models import AccessEvent, Site
from trial_site.outbox import outbox_add
from trial_site.permissions import require
from trial_site.protocol import PROTOCOL
from trial_site.queue import enqueue
from trial_site.services import Reentry, access_event_record, password_reentry, reentry_locked_message

logger = logging.getLogger(__name__)


class AllocationExhausted(ValidationError):
    def __init__(self, stratum: str) -> None:
        super().__init__(
            _("The allocation list has no free slot left for stratum %(stratum)s. The statistician and the "
              "administrator have been alerted; no one was randomised.") % {"stratum": stratum},
            code="exhausted",
        )  # fmt: skip
        self.stratum = stratum


# --- Allocation lists --------------------------------------------------------------------------------------


def _store_list(
    *,
    name: str,
    method: str,
    slots: Sequence[PlannedSlot],
    by: Any,
    block_sizes: Sequence[int],
    per_stratum: int | None,
) -> AllocationList:
    if AllocationList.objects.filter(name=name).exists():
        raise ValidationError({"name": _("A list with this name exists already.")})
    with acting_as(by):
        allocation_list = AllocationList.objects.create(
            name=name,
            method=method,
            block_sizes=sorted(set(block_sizes)),
            slots_per_stratum=per_stratum,
            checksum=allocation_checksum(slots),
            created_by=by,
        )
    AllocationSlot.objects.bulk_create(
        AllocationSlot(
            allocation_list=allocation_list,
            stratum=slot.stratum,
            sequence=slot.sequence,
            block=slot.block,
            block_size=slot.block_size,
            arm=slot.arm,
        )
        for slot in slots
    )
    logger.info("allocation list %s (%s, %s slots) stored by %s", name, method, len(slots), by)
    return allocation_list


@transaction.atomic
def allocation_list_generate(
    *,
    name: str,
    slots_per_stratum: int,
    by: Any,
    block_sizes: Sequence[int] = PROTOCOL.block_sizes,
    seed: int | None = None,
) -> AllocationList:
    """Generate a permuted-block list for every stratum of every site. The seed is secret and never stored:
    a fresh random one unless the statistician supplies their own (to reproduce a list)."""
    require(by, "randomization.add_allocationlist")
    strata = strata_for_sites(list(Site.objects.order_by("code").values_list("code", flat=True)))
    try:
        slots = generate_allocation(
            seed=seed if seed is not None else secrets.randbits(128),
            strata=strata,
            slots_per_stratum=slots_per_stratum,
            block_sizes=block_sizes,
            arms=tuple(arm.code for arm in PROTOCOL.arms),
        )
    except AllocationError as error:
        raise ValidationError(str(error)) from error
    return _store_list(
        name=name, method=AllocationList.Method.GENERATED, slots=slots, by=by, block_sizes=block_sizes,
        per_stratum=slots_per_stratum,
    )  # fmt: skip


@transaction.atomic
def allocation_list_import(*, name: str, csv_text: str, by: Any) -> AllocationList:
    """Import an externally generated list; any problem refuses the whole file, with every problem listed."""
    require(by, "randomization.add_allocationlist")
    try:
        slots = parse_allocation_csv(csv_text, arms=tuple(arm.code for arm in PROTOCOL.arms))
    except AllocationError as error:
        raise ValidationError(str(error).splitlines()) from error
    known = set(strata_for_sites(list(Site.objects.values_list("code", flat=True))))
    unknown = sorted({slot.stratum for slot in slots} - known)
    if unknown:
        raise ValidationError(
            _("Unknown strata: %(strata)s (strata are site/early or site/late, e.g. DHK/early).")
            % {"strata": ", ".join(unknown)}
        )
    return _store_list(
        name=name, method=AllocationList.Method.IMPORTED, slots=slots, by=by,
        block_sizes=sorted({slot.block_size for slot in slots}), per_stratum=None,
    )  # fmt: skip


@transaction.atomic
def allocation_list_activate(*, allocation_list: AllocationList, by: Any) -> AllocationList:
    """Put a list in use; the list in use before it stops taking randomisations (its used slots stay used)."""
    require(by, "randomization.change_allocationlist")
    with acting_as(by):
        for previous in (
            AllocationList.objects.select_for_update().filter(is_active=True).exclude(pk=allocation_list.pk)
        ):
            previous.is_active = False
            previous.save(by=by, reason=f"replaced by {allocation_list.name}")
        allocation_list.is_active = True
        allocation_list.save(by=by, reason="put in use")
    return allocation_list


# --- Randomise ---------------------------------------------------------------------------------------------


def _criteria_in_words(decision: EligibilityDecision) -> str:
    return "; ".join(
        f"{result.code} {_(criterion_reading(result.kind, result.status).words)}: {result.value}"
        for result in decision.criteria
        if result.status is not CriterionStatus.MET
    )


def randomisation_refusal(participant: Participant, *, day1: date | None = None) -> str | None:
    """Why ``participant`` cannot be randomised with Day 1 on ``day1`` (today at the site unless given), or None.

    The page asks it before offering the button, and the service again inside its transaction. Besides consent
    and the investigator's confirmation: the screening data must still meet every criterion, Day 1 must lie 1 to
    28 days after screening (``screening_window_refusal``), and the baseline criteria I4, E7 and E15 must be met
    on Day 1 by the Day 1 baseline form (``clinical.eligibility_baseline``); one that fails or is not yet known
    refuses."""
    if hasattr(participant, "withdrawal"):
        return _("The participant has withdrawn consent.")
    if getattr(participant, "consent", None) is None:
        return _("The participant has no recorded informed consent.")
    if hasattr(participant, "screen_failure"):
        return _("The participant failed screening.")
    if reconsent := reconsent_refusal(participant, day1):
        return reconsent
    if confirmation_in_force(participant) is None:
        return _("An investigator must confirm eligibility first.")
    decision = screening_decision(participant)
    if decision.decision != Decision.ELIGIBLE:
        return _(
            "The screening data no longer meet every criterion (%(criteria)s): an investigator must confirm "
            "eligibility again."
        ) % {"criteria": _criteria_in_words(decision)}
    day1 = day1 or site_today(participant)
    window = screening_window_refusal(participant, day1=day1)
    if window:
        return window
    baseline = baseline_decision(participant, day1)
    if baseline.decision != Decision.ELIGIBLE:
        return _(
            "The baseline criteria are not all met for Day 1 (%(day1)s): %(criteria)s. They are judged from the "
            "Day 1 baseline form, which the investigator records on the day of randomisation."
        ) % {"day1": day1.isoformat(), "criteria": _criteria_in_words(baseline)}
    history = getattr(participant, "disease_history", None)
    if history is None or history.first_non_raynaud_date is None:
        return _("The disease duration (for the stratum) is not recorded.")
    return None


def participant_randomize(*, participant: Participant, by: Any, at: datetime | None = None) -> Allocation:
    """Randomise: the next unused slot of the participant's stratum, under the site's row lock, in one
    transaction with the visit schedule, its required forms and reminders, and the investigators' e-mail (an
    outbox row). A second request returns the same allocation. The database refuses a second allocation for a
    participant and a second participant for a slot. ``at`` is the moment of randomisation for demo data and
    tests that need an earlier Day 1; pages never pass it."""
    try:
        return _randomize(participant_id=participant.pk, by=by, at=at)
    except AllocationExhausted as error:
        enqueue(tasks.alert_exhausted_list, participant.site_id, error.stratum)
        raise


def _randomize(*, participant_id: int, by: Any, at: datetime | None) -> Allocation:
    # One audited batch (``trial_site.audit.bulk``): the allocation and the schedule's visits share the data locks'
    # look-up and the protocol version, and their follow-ups run once, all in this transaction.
    with audited_batch():
        site = Site.objects.select_for_update().get(
            pk=Participant.objects.filter(pk=participant_id).values("site_id")[:1]
        )
        require(by, "randomization.randomise", site)
        participant = participants_with_screening(Participant.objects.filter(pk=participant_id)).get()
        existing = getattr(participant, "allocation", None)  # read under the site's lock, with the screening
        if existing is not None:
            return existing
        day1 = timezone.localdate(at or timezone.now(), ZoneInfo(site.time_zone))
        refusal = randomisation_refusal(participant, day1=day1)
        if refusal:
            raise ValidationError(refusal, code="not_randomisable")
        stratum = stratum_for(
            site_code=site.code,
            first_non_raynaud_date=participant.disease_history.first_non_raynaud_date,
            screening_date=participant.screening_date,
        )
        # The next free slot of the stratum in the list in use, with the number of the site's allocations so far
        # (for the randomisation number, from the site's tally: a few rows) in the same query.
        numbered = (
            AllocationTally.objects.filter(site=site)
            .order_by()
            .values("site")
            .annotate(n=Sum("allocations"))
            .values("n")
        )
        slot = (
            AllocationSlot.objects.filter(allocation_list__is_active=True, stratum=stratum, allocation__isnull=True)
            .annotate(site_allocations=Coalesce(Subquery(numbered), 0))
            .order_by("sequence")
            .first()
        )
        if slot is None:
            if not AllocationList.objects.filter(is_active=True).exists():
                raise ValidationError(_("No allocation list is in use. Ask the statistician to put one in use."))
            raise AllocationExhausted(stratum)
        allocation = Allocation(
            site=site,
            participant=participant,
            slot=slot,
            randomisation_number=f"{site.code}-R-{slot.site_allocations + 1:03d}",
            stratum=stratum,
            arm=slot.arm,
            randomised_at=at or timezone.now(),
            randomised_by=by,
        )
        create_audited(Allocation, [allocation], by=by)
        allocation_counted(site_id=site.pk, arm=allocation.arm, in_error=False, difference=1)
        # In the same transaction: the visit schedule with its required forms and reminders, and the
        # investigators' e-mail as an outbox row. A process that dies before the commit leaves none of it, nor the
        # allocation.
        follow_up("randomised", allocation_id=allocation.pk)
    logger.info("%s randomised as %s by %s", participant, allocation.randomisation_number, by)
    return allocation


@transaction.atomic
def allocation_flag_error(*, allocation: Allocation, by: Any, reason: str) -> Allocation:
    """Mark an allocation as made in error. It is never deleted and its slot stays used."""
    require(by, "randomization.flag_error", allocation.site)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason.")})
    # Read under the row's lock: flagged once only in the tally, whatever two clicks or two people do.
    was_in_error = Allocation.objects.select_for_update().values_list("in_error", flat=True).get(pk=allocation.pk)
    if not was_in_error:
        allocation_counted(site_id=allocation.site_id, arm=allocation.arm, in_error=False, difference=-1)
        allocation_counted(site_id=allocation.site_id, arm=allocation.arm, in_error=True, difference=1)
    allocation.in_error = True
    allocation.error_reason = reason
    allocation.save(by=by, reason=f"randomised in error: {reason}")
    return allocation


def allocation_unblind(
    *, allocation: Allocation, by: Any, reason: str, password: str, request: Any = None
) -> Unblinding:
    """Emergency unblinding for a blinded user: a reason, the user's password again; logged and notified.

    The password is re-entered under the login's lockout policy (``password_reentry``): a wrong one is in the
    access log, and after 5 in 30 minutes even the right one is refused, here and at login. It is checked before
    the unblinding's transaction opens, so a refusal (which rolls that transaction back) never takes the record of
    the wrong password with it."""
    require(by, "randomization.unblind", allocation.site)
    errors = {}
    if not reason.strip():
        errors["reason"] = _("Give the reason for unblinding.")
    reentry = password_reentry(
        request=request, user=by, password=password, detail=f"emergency unblinding of {allocation.randomisation_number}"
    )
    if reentry is Reentry.LOCKED:
        errors["password"] = reentry_locked_message()
    elif reentry is Reentry.WRONG:
        errors["password"] = _("The password is not right.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        unblinding = Unblinding(
            site=allocation.site, allocation=allocation, requested_by=by, reason=reason, unblinded_at=timezone.now()
        )
        unblinding.save(by=by)
        access_event_record(
            kind=AccessEvent.Kind.UNBLINDING, request=request, user=by,
            detail=f"{allocation.randomisation_number}: {reason}"[:500],
        )  # fmt: skip
        outbox_add("randomization.tasks.notify_unblinding", unblinding.pk, key=f"unblinding:{unblinding.pk}")
    logger.warning("emergency unblinding of %s for %s: %s", allocation, by, reason)
    return unblinding
