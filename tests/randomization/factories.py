"""Randomisation test data through the services: an allocation list in use, confirmed participants."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from randomization.models import AllocationList
from randomization.services import allocation_list_activate, allocation_list_generate
from screening import services as screening_services
from screening.models import DiseaseHistory, Participant
from tests.screening.factories import record_day1, register, save_form, screen_eligible


def list_in_use(
    statistician: Any, *, slots_per_stratum: int = 60, seed: int = 7, name: str = "list 1"
) -> AllocationList:
    allocation_list = allocation_list_generate(
        name=name, slots_per_stratum=slots_per_stratum, by=statistician, seed=seed, block_sizes=(2, 4)
    )
    return allocation_list_activate(allocation_list=allocation_list, by=statistician)


def confirmed_participant(
    site: Any, coordinator: Any, investigator: Any, *, duration_days: int = 400, day1: date | None = None
) -> Participant:
    """A participant ready to be randomised on ``day1`` (today by default): screened a week before it (Day −7),
    eligibility confirmed by an investigator, and the Day 1 baseline form dated ``day1``; disease duration
    ``duration_days`` at screening."""
    day1 = day1 or timezone.localdate()
    participant = screen_eligible(register(site, coordinator, screening_date=day1 - timedelta(days=7)), coordinator)
    if duration_days != 400:
        save_form(
            DiseaseHistory,
            participant,
            coordinator,
            {"first_non_raynaud_date": participant.screening_date - timedelta(days=duration_days)},
            reason="onset date corrected",
        )
        participant = Participant.objects.get(pk=participant.pk)
    screening_services.eligibility_confirm(participant=participant, by=investigator)
    return record_day1(participant, investigator, day1=day1)
