"""Randomisation test data through the services: an allocation list in use, confirmed participants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from randomization.models import AllocationList
from randomization.services import allocation_list_activate, allocation_list_generate
from screening import services as screening_services
from screening.models import DiseaseHistory, Participant
from tests.screening.factories import register, save_form, screen_eligible


def list_in_use(
    statistician: Any, *, slots_per_stratum: int = 60, seed: int = 7, name: str = "list 1"
) -> AllocationList:
    allocation_list = allocation_list_generate(
        name=name, slots_per_stratum=slots_per_stratum, by=statistician, seed=seed, block_sizes=(2, 4)
    )
    return allocation_list_activate(allocation_list=allocation_list, by=statistician)


def confirmed_participant(site: Any, coordinator: Any, investigator: Any, *, duration_days: int = 400) -> Participant:
    """A participant whose eligibility an investigator confirmed; disease duration ``duration_days``."""
    participant = screen_eligible(register(site, coordinator), coordinator)
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
    return Participant.objects.get(pk=participant.pk)
