"""The allocations counted per site, arm and "in error" (``AllocationTally``): kept by randomising and flagging an
error (once, however often it is flagged), read by the randomisation overview (its counts and its page count) and
for the next randomisation number; a tally changed behind the services' back is found and repaired."""

from __future__ import annotations

from typing import Any

import pytest

from randomization import selectors, services
from randomization.models import Allocation, AllocationTally
from randomization.tallies import allocation_tallies_hold, recount, stored
from tests.randomization.factories import confirmed_participant, list_in_use

pytestmark = pytest.mark.django_db


def holds() -> bool:
    return allocation_tallies_hold(repair=False).holds


def randomised(site: Any, coordinator: Any, investigator: Any, n: int) -> list[Allocation]:
    return [
        services.participant_randomize(
            participant=confirmed_participant(site, coordinator, investigator), by=investigator
        )
        for _ in range(n)
    ]


def test_randomising_and_flagging_an_error_keep_the_overview_counts(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    first, second, third = randomised(site, coordinator, investigator, 3)
    assert [a.randomisation_number for a in (first, second, third)] == ["DHK-R-001", "DHK-R-002", "DHK-R-003"]
    overview = selectors.randomisation_overview(investigator)
    (counts,) = overview.sites
    assert (counts.randomised, counts.in_error, overview.page.paginator.count) == (3, 0, 3)
    assert sum(n for _, n in counts.per_arm) == 3 and holds()

    services.allocation_flag_error(allocation=second, by=investigator, reason="wrong participant chosen")
    services.allocation_flag_error(allocation=second, by=investigator, reason="said twice")  # counted once
    (counts,) = selectors.randomisation_overview(investigator).sites
    assert (counts.randomised, counts.in_error) == (3, 1) and holds()

    (fourth,) = randomised(site, coordinator, investigator, 1)
    assert fourth.randomisation_number == "DHK-R-004"  # the one in error keeps its number
    assert selectors.randomisation_overview(investigator).page.paginator.count == 4 and holds()


def test_a_tally_changed_behind_the_services_back_is_found_and_counted_afresh(
    site: Any, coordinator: Any, investigator: Any, statistician: Any
) -> None:
    list_in_use(statistician)
    (allocation,) = randomised(site, coordinator, investigator, 1)
    AllocationTally.objects.filter(site=site, arm=allocation.arm).update(allocations=7)
    finding = allocation_tallies_hold(repair=False)
    assert not finding.holds and finding.problems == [f"site {site.pk} arm {allocation.arm}: tally 7, counted 1"]
    assert selectors.randomisation_overview(investigator).sites[0].randomised == 7  # what the page would show

    assert allocation_tallies_hold(repair=True).holds
    assert stored() == recount() and selectors.randomisation_overview(investigator).sites[0].randomised == 1
