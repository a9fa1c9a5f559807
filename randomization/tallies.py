"""The allocations counted per site, arm and "in error" (``AllocationTally``), kept by the randomisation services
(``allocation_counted`` in their transaction; ``trial_site.tallies``), counted afresh by ``refresh_all`` (for rows
written without the services: the benchmark's generator) and checked by the invariant ``allocation_tallies_hold``."""

from __future__ import annotations

from collections import Counter

from django.db import transaction
from django.db.models import Count, Sum

from randomization.models import Allocation, AllocationTally
from trial_site.invariants import Finding
from trial_site.tallies import tally_add

KEY = ("site_id", "arm", "in_error")
Key = tuple[int, str, bool]


def allocation_counted(*, site_id: int, arm: str, in_error: bool, difference: int) -> None:
    """Add ``difference`` allocations to the site's tally of ``arm`` (in error or not)."""
    tally_add(AllocationTally, KEY, ("allocations",), {(site_id, arm, in_error): {"allocations": difference}})


def site_allocations(site_id: int) -> int:
    """The site's allocations so far, in error or not (its next randomisation number is one more)."""
    return AllocationTally.objects.filter(site_id=site_id).aggregate(n=Sum("allocations"))["n"] or 0


def recount() -> Counter[Key]:
    """The allocations counted afresh (one ``GROUP BY``)."""
    rows = Allocation.objects.values(*KEY).annotate(n=Count("id")).order_by()
    return Counter({(row["site_id"], row["arm"], row["in_error"]): row["n"] for row in rows})


def stored() -> Counter[Key]:
    rows = AllocationTally.objects.values_list(*KEY, "allocations")
    return +Counter({(site_id, arm, in_error): n for site_id, arm, in_error, n in rows})


@transaction.atomic
def rewrite(counts: Counter[Key]) -> None:
    """Make the tally hold ``counts``, its rows locked meanwhile."""
    held = {
        (t.site_id, t.arm, t.in_error): t
        for t in AllocationTally.objects.select_for_update().order_by("site_id", "arm", "in_error")
    }
    for key in sorted(set(held) | set(counts)):
        tally = held.get(key) or AllocationTally(site_id=key[0], arm=key[1], in_error=key[2])
        tally.allocations = counts.get(key, 0)
        tally.save()


def refresh_all() -> None:
    """Count every allocation afresh into the tally."""
    rewrite(recount())


def allocation_tallies_hold(*, repair: bool) -> Finding:
    """The allocation tallies equal the allocations counted afresh; the repair writes the counts afresh."""
    finding = Finding("the allocation tallies equal the allocations counted afresh")
    counted, held = +recount(), stored()
    wrong = sorted(key for key in set(counted) | set(held) if counted[key] != held[key])
    named = {key: f"site {key[0]} arm {key[1]}{' in error' if key[2] else ''}" for key in wrong}
    finding.problems = [f"{named[key]}: tally {held[key]}, counted {counted[key]}" for key in wrong]
    if repair and wrong:
        rewrite(counted)
        finding.repaired = [f"{named[key]}: counted afresh" for key in wrong]
    return finding
