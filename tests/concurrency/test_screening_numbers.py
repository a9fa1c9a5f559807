"""Twenty staff register at one site at the same moment: twenty distinct, consecutive screening numbers."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from screening.models import Participant
from tests.factories import make_site, make_user
from tests.screening.factories import register
from trial_site.roles import Role

REGISTRATIONS = 20


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_get_distinct_consecutive_numbers() -> None:
    site = make_site(code="DHK")
    staff = [make_user(f"coordinator{index}", role=Role.COORDINATOR, site=site) for index in range(REGISTRATIONS)]
    start = threading.Barrier(REGISTRATIONS)
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def register_one(user: Any) -> None:
        try:
            start.wait()
            participant = register(site, user)
            with lock:
                numbers.append(participant.screening_number)
        except BaseException as error:  # collected and reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=register_one, args=(user,)) for user in staff]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(numbers) == [f"DHK-S-{number:04d}" for number in range(1, REGISTRATIONS + 1)]
    assert Participant.objects.count() == REGISTRATIONS
