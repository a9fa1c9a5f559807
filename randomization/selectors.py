"""Reads of randomisation: who awaits randomisation, allocations (arm only for those who may see it), lists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from clinical.allocation import PlannedSlot, StratumBalance, balance_report
from clinical.dates import months_between
from randomization.models import Allocation, AllocationList, AllocationSlot, Unblinding
from randomization.strata import stratum_for
from screening.models import Participant
from screening.selectors import participants_with_screening
from trial_site.permissions import user_can
from trial_site.protocol import PROTOCOL, Arm
from trial_site.scoping import scope_to_user_sites


def arm_visible_to(user: Any, allocation: Allocation) -> bool:
    """Unblinded roles see arms; a blinded user only after an emergency unblinding of that allocation."""
    if user_can(user, "randomization.view_arm", allocation.site):
        return True
    return Unblinding.objects.filter(allocation=allocation, requested_by=user).exists()


def allocations_with_visible_arm(user: Any, allocations: list[Allocation]) -> set[int]:
    """The ids among ``allocations`` whose arm ``user`` may see, in one query at most (for list pages)."""
    visible = {a.pk for a in allocations if user_can(user, "randomization.view_arm", a.site)}
    hidden = [a.pk for a in allocations if a.pk not in visible]
    if hidden:
        visible |= set(
            Unblinding.objects.filter(allocation_id__in=hidden, requested_by=user).values_list(
                "allocation_id", flat=True
            )
        )
    return visible


def treatment_of(allocation: Allocation) -> Arm:
    return PROTOCOL.arm(allocation.arm)


@dataclass(frozen=True)
class Overview:
    awaiting: list[Participant]
    randomised: list[Allocation]


# The overview lists the sites where a role the user holds there may read allocations.
VIEW_ALLOCATIONS = "randomization.view_allocation"


def randomisation_overview(user: Any) -> Overview:
    """Confirmed-eligible participants not yet randomised, and the allocations, at the sites where the user may
    read allocations (``VIEW_ALLOCATIONS`` there; a role counts at its own site only)."""
    participants = participants_with_screening(
        scope_to_user_sites(Participant.objects.filter(allocation__isnull=True), user, permission=VIEW_ALLOCATIONS)
    ).filter(confirmations__voided_at__isnull=True, confirmations__isnull=False, withdrawal__isnull=True)
    allocations = scope_to_user_sites(Allocation.objects.all(), user, permission=VIEW_ALLOCATIONS).select_related(
        "participant", "site", "randomised_by"
    )
    return Overview(awaiting=list(participants.distinct()), randomised=list(allocations))


@dataclass(frozen=True)
class StratumUsage:
    stratum: str
    slots: int
    used: int
    used_per_arm: tuple[tuple[str, int], ...]
    balance: StratumBalance


def list_usage(allocation_list: AllocationList) -> list[StratumUsage]:
    """Per stratum: slots, slots used, arms used so far, and the balance report of the whole list."""
    slots = list(allocation_list.slots.annotate(used=Count("allocation")).order_by("stratum", "sequence"))
    planned = [
        PlannedSlot(stratum=s.stratum, sequence=s.sequence, block=s.block, block_size=s.block_size, arm=s.arm)
        for s in slots
    ]
    balance = {report.stratum: report for report in balance_report(planned)}
    used = Counter((slot.stratum, slot.arm) for slot in slots if slot.used)
    arms = [arm.code for arm in PROTOCOL.arms]
    usage = []
    for stratum, report in balance.items():
        per_arm = tuple((arm, used[(stratum, arm)]) for arm in arms)
        usage.append(
            StratumUsage(
                stratum=stratum,
                slots=report.slots,
                used=sum(count for _, count in per_arm),
                used_per_arm=per_arm,
                balance=report,
            )
        )
    return usage


def allocation_lists() -> QuerySet[AllocationList]:
    return AllocationList.objects.annotate(
        slot_count=Count("slots"), used_count=Count("slots", filter=Q(slots__allocation__isnull=False))
    ).select_related("created_by")


def slot_count(allocation_list: AllocationList) -> int:
    return AllocationSlot.objects.filter(allocation_list=allocation_list).count()


@dataclass(frozen=True)
class RandomisationPreview:
    """What the randomise confirmation page states before anything is allocated (never the arm): the stratum as
    the randomise service computes it (``strata.stratum_for``: the site and the disease duration at screening),
    the allocation list in use and Day 1 (today at the site)."""

    site_code: str
    site_name: str
    duration_months: int | None
    level: str | None
    stratum: str | None
    threshold_months: int
    allocation_list: str | None


def randomisation_preview(participant: Participant) -> RandomisationPreview:
    site = participant.site
    history = getattr(participant, "disease_history", None)
    onset = history.first_non_raynaud_date if history is not None else None
    months = months_between(onset, participant.screening_date) if onset is not None else None
    stratum = (
        stratum_for(site_code=site.code, first_non_raynaud_date=onset, screening_date=participant.screening_date)
        if onset is not None
        else None
    )
    allocation_list = AllocationList.objects.filter(is_active=True).first()
    return RandomisationPreview(
        site_code=site.code,
        site_name=site.name,
        duration_months=months,
        level=PROTOCOL.stratification.level(months) if months is not None else None,
        stratum=stratum,
        threshold_months=PROTOCOL.stratification.threshold_months,
        allocation_list=allocation_list.name if allocation_list is not None else None,
    )
