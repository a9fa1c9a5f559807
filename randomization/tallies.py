"""The allocations counted per site, arm and "in error" (``AllocationTally``), kept by the randomisation services
(``allocation_counted`` in their transaction; ``trial_site.tallies``), counted afresh by ``refresh_all`` (for rows
written without the services: the benchmark's generator) and checked by the invariant ``allocation_tallies_hold``."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Sum

from randomization.models import Allocation, AllocationTally
from trial_site.invariants import Finding
from trial_site.tallies import Tally

KEY = ("site_id", "arm", "in_error")
COUNTS = ("allocations",)
Key = tuple[int, str, bool]
ALLOCATIONS = Tally(
    AllocationTally, KEY, COUNTS, named=lambda key: f"site {key[0]} arm {key[1]}{' in error' if key[2] else ''}"
)


def allocation_counted(*, site_id: int, arm: str, in_error: bool, difference: int) -> None:
    """Add ``difference`` allocations to the site's tally of ``arm`` (in error or not)."""
    ALLOCATIONS.add({(site_id, arm, in_error): {"allocations": difference}})


def site_allocations(site_id: int) -> int:
    """The site's allocations so far, in error or not (its next randomisation number is one more)."""
    return AllocationTally.objects.filter(site_id=site_id).aggregate(n=Sum("allocations"))["n"] or 0


def recount() -> dict[Key, Counter[str]]:
    """The allocations counted afresh (one ``GROUP BY``): what the tally must hold."""
    rows = Allocation.objects.values(*KEY).annotate(n=Count("id")).order_by()
    return {(row["site_id"], row["arm"], row["in_error"]): Counter(allocations=row["n"]) for row in rows}


def stored() -> dict[Key, Counter[str]]:
    return ALLOCATIONS.stored()


def refresh_all() -> None:
    """Count every allocation afresh into the tally."""
    ALLOCATIONS.rewrite(recount())


def allocation_tallies_hold(*, repair: bool) -> Finding:
    """The allocation tallies equal the allocations counted afresh; the repair writes the counts afresh."""
    return ALLOCATIONS.check("the allocation tallies equal the allocations counted afresh", recount(), repair=repair)
