"""Reads of randomisation: who awaits randomisation, allocations (arm only for those who may see it), lists."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Sum

from clinical.allocation import PlannedSlot, StratumBalance, balance_report
from clinical.dates import months_between
from randomization.models import Allocation, AllocationList, AllocationSlot, AllocationTally, Unblinding
from randomization.strata import stratum_for
from screening.models import Participant
from screening.status import ScreeningStatus
from trial_site.permissions import site_ids_where, user_can
from trial_site.protocol import PROTOCOL, Arm
from trial_site.roles import SEES_ARM
from trial_site.scoping import scope_to_user_sites


def arm_visible_to(user: Any, allocation: Allocation) -> bool:
    """Unblinded roles see arms; a blinded user only after an emergency unblinding of that allocation."""
    if user_can(user, "randomization.view_arm", allocation.site):
        return True
    return Unblinding.objects.filter(allocation=allocation, requested_by=user).exists()


def treatment_of(allocation: Allocation) -> Arm:
    return PROTOCOL.arm(allocation.arm)


# The overview lists the sites where a role the user holds there may read allocations.
VIEW_ALLOCATIONS = "randomization.view_allocation"

# Rows per page of the randomised list, and the most participants awaiting randomisation shown (the rest counted).
OVERVIEW_ROWS = 50
AWAITING_ROWS = 50


@dataclass(frozen=True)
class OverviewRow:
    """One row of the randomised list: only the columns shown (the arm only where the user may see it)."""

    randomisation_number: str
    screening_number: str
    randomised_at: datetime
    in_error: bool
    arm: Arm | None


@dataclass(frozen=True)
class SiteCount:
    """Allocations at one site (its tallies): all, in error, and per arm where the user sees arms."""

    site_id: int
    code: str
    randomised: int
    in_error: int
    per_arm: tuple[tuple[str, int], ...] | None


@dataclass(frozen=True)
class Overview:
    awaiting: list[Participant]
    awaiting_count: int
    page: Page
    rows: list[OverviewRow]
    sites: list[SiteCount]
    site_id: int | None  # the site chosen by the filter, None for all the user's sites


def awaiting_randomisation(user: Any) -> QuerySet[Participant]:
    """Confirmed eligible and neither randomised, screen failed nor withdrawn (the stored screening status
    "confirmed", kept current by the screening services: ``screening.status_store``), at the sites where the user
    may read allocations. Read on the stored status: one indexed range, and a participant whose screen failure was
    recorded after the confirmation (the screening window passed) no longer awaits randomisation."""
    return scope_to_user_sites(Participant.objects.all(), user, permission=VIEW_ALLOCATIONS).filter(
        screening_state__status=ScreeningStatus.CONFIRMED
    )


def site_counts(user: Any) -> list[SiteCount]:
    """Allocations per site (one query of the sites' tallies, ``AllocationTally``): all, in error, and per arm at
    the sites where the user sees arms (``randomization.view_arm`` there; an emergency unblinding reveals one
    allocation, never a count)."""
    sees_arm = site_ids_where(user, SEES_ARM)
    arms = [arm.code for arm in PROTOCOL.arms]
    counts = (
        AllocationTally.objects.filter(site_id__in=sorted(site_ids_where(user, VIEW_ALLOCATIONS)))
        .values("site_id", "site__code")
        .annotate(
            randomised=Sum("allocations"),
            in_error_count=Sum("allocations", filter=Q(in_error=True), default=0),
            **{f"arm_{code}": Sum("allocations", filter=Q(arm=code), default=0) for code in arms},
        )
        .filter(randomised__gt=0)
        .order_by("site__code")
    )
    return [
        SiteCount(
            site_id=row["site_id"],
            code=row["site__code"],
            randomised=row["randomised"],
            in_error=row["in_error_count"],
            per_arm=tuple((code, row[f"arm_{code}"]) for code in arms) if row["site_id"] in sees_arm else None,
        )
        for row in counts
    ]


class CountedPaginator(Paginator):
    """A paginator told its count (from a tally) instead of counting its rows."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return self.known_count


def randomisation_overview(user: Any, *, site_id: int | None = None, page: Any = 1) -> Overview:
    """Confirmed-eligible participants not yet randomised (the first ``AWAITING_ROWS`` and their count), and one page
    of the allocations, newest first, at the sites where the user may read allocations (``VIEW_ALLOCATIONS`` there; a
    role counts at its own site only), or at ``site_id`` among them.

    Six queries whatever the size of the trial: the awaiting rows and count, the page's count (the sites' tallies)
    and rows (only the columns shown), the user's emergency unblindings among the page's concealed arms, the counts
    per site (the tallies again)."""
    sites = site_ids_where(user, VIEW_ALLOCATIONS)
    chosen = site_id if site_id in sites else None
    shown_sites = [chosen] if chosen else sorted(sites)
    awaiting = awaiting_randomisation(user)
    allocations = (
        Allocation.objects.filter(site_id__in=shown_sites)
        .values("pk", "site_id", "randomisation_number", "participant__screening_number", "randomised_at", "in_error",
                "arm")
        .order_by("-randomised_at", "-pk")
    )  # fmt: skip
    total = AllocationTally.objects.filter(site_id__in=shown_sites).aggregate(n=Sum("allocations"))["n"] or 0
    paged = CountedPaginator(allocations, OVERVIEW_ROWS, count=total).get_page(page)
    entries = list(paged.object_list)
    sees_arm = site_ids_where(user, SEES_ARM)
    concealed = [row["pk"] for row in entries if row["site_id"] not in sees_arm]
    unblinded = set(
        Unblinding.objects.filter(allocation_id__in=concealed, requested_by=user).values_list(
            "allocation_id", flat=True
        )
    )
    rows = [
        OverviewRow(
            randomisation_number=row["randomisation_number"],
            screening_number=row["participant__screening_number"],
            randomised_at=row["randomised_at"],
            in_error=row["in_error"],
            arm=PROTOCOL.arm(row["arm"]) if row["site_id"] in sees_arm or row["pk"] in unblinded else None,
        )
        for row in entries
    ]
    return Overview(
        awaiting=list(
            awaiting.only("pk", "site_id", "screening_number", "initials").order_by("screening_number")[:AWAITING_ROWS]
        ),
        awaiting_count=awaiting.count(),
        page=paged,
        rows=rows,
        sites=site_counts(user),
        site_id=chosen,
    )


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
