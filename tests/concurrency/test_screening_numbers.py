"""Twenty staff register at one site at the same moment: twenty distinct, consecutive screening numbers."""

from __future__ import annotations

import pytest

from screening.models import Participant
from tests.concurrency.threads import run_together
from tests.factories import make_site, make_user
from tests.screening.factories import register
from trial_site.roles import Role

REGISTRATIONS = 20


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_consecutive_numbers() -> None:
    site = make_site(code="DHK")
    staff = [make_user(f"coordinator{index}", role=Role.COORDINATOR, site=site) for index in range(REGISTRATIONS)]
    results, errors = run_together([lambda user=user: register(site, user) for user in staff])

    assert errors == []
    numbers = [participant.screening_number for participant in results]
    assert sorted(numbers) == [f"DHK-S-{number:04d}" for number in range(1, REGISTRATIONS + 1)]
    assert Participant.objects.count() == REGISTRATIONS
