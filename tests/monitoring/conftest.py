"""Fixtures of the monitoring tests: a randomised participant with Day 1 done, a monitor and a data manager."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from screening.models import Participant
from tests.randomization.factories import list_in_use
from tests.visits.test_schedule import randomised_on
from trial_site.roles import Role
from visits import services as visit_services
from visits.models import Visit


@pytest.fixture
def monitor(user_with_role: Any) -> Any:
    return user_with_role(Role.MONITOR, username="monitor")


@pytest.fixture
def data_manager(user_with_role: Any) -> Any:
    return user_with_role(Role.DATA_MANAGER, username="dana")


@pytest.fixture
def participant(site: Any, coordinator: Any, investigator: Any, statistician: Any) -> Participant:
    """Randomised 10 days ago at the site, with its schedule."""
    list_in_use(statistician)
    return randomised_on(timezone.localdate() - timedelta(days=10), site, coordinator, investigator)


@pytest.fixture
def d1(participant: Participant, coordinator: Any) -> Visit:
    """The participant's Day 1, done on its target date."""
    visit = participant.visits.get(code="D1")
    return visit_services.visit_record_done(visit=visit, by=coordinator, done_on=visit.target_date)
