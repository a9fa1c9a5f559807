"""Randomisations at the same moment, with real threads on PostgreSQL: no slot is ever given twice."""

from __future__ import annotations

import pytest

from randomization import services
from randomization.models import Allocation, AllocationSlot
from tests.concurrency.threads import run_together
from tests.factories import make_site, make_user
from tests.randomization.factories import confirmed_participant, list_in_use
from trial_site.roles import Role


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_randomisations_at_once_take_fifty_consecutive_slots() -> None:
    site = make_site(code="DHK")
    coordinator = make_user("coordinator", role=Role.COORDINATOR, site=site)
    investigator = make_user("investigator", role=Role.INVESTIGATOR, site=site)
    in_use = list_in_use(make_user("statistician", role=Role.STATISTICIAN, site=site), slots_per_stratum=60)
    participants = [confirmed_participant(site, coordinator, investigator) for _ in range(50)]

    _results, errors = run_together(
        [lambda p=p: services.participant_randomize(participant=p, by=investigator) for p in participants]
    )

    assert errors == []
    allocations = list(Allocation.objects.select_related("slot").order_by("slot__sequence"))
    assert len(allocations) == 50 and len({a.slot_id for a in allocations}) == 50
    assert [a.slot.sequence for a in allocations] == list(range(1, 51))
    listed = list(
        AllocationSlot.objects.filter(allocation_list=in_use, stratum="DHK/early", sequence__lte=50)
        .order_by("sequence")
        .values_list("arm", flat=True)
    )
    assert [a.arm for a in allocations] == listed
    assert sorted(a.randomisation_number for a in allocations) == [f"DHK-R-{n:03d}" for n in range(1, 51)]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_one_participant_randomised_by_ten_threads_gets_one_allocation() -> None:
    site = make_site(code="DHK")
    coordinator = make_user("coordinator", role=Role.COORDINATOR, site=site)
    investigator = make_user("investigator", role=Role.INVESTIGATOR, site=site)
    list_in_use(make_user("statistician", role=Role.STATISTICIAN, site=site))
    participant = confirmed_participant(site, coordinator, investigator)

    results, errors = run_together(
        [lambda: services.participant_randomize(participant=participant, by=investigator) for _ in range(10)]
    )

    assert errors == []
    assert Allocation.objects.count() == 1
    assert {allocation.pk for allocation in results} == {Allocation.objects.get().pk}
