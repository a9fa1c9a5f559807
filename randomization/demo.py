"""Demo randomisation for ``seed_demo``: a list in use and most confirmed participants randomised."""

from __future__ import annotations

from typing import Any

from randomization.models import Allocation, AllocationList
from randomization.services import allocation_list_activate, allocation_list_generate, participant_randomize
from screening.models import Participant
from screening.selectors import confirmation_in_force, participants_with_screening
from trial_site.models import Site

LEFT_AWAITING = 4  # confirmed but not yet randomised, so the demo shows the button


def seed_randomisation_demo(*, site: Site, statistician: Any, investigator: Any) -> int:
    """Put a generated list in use (if none is) and randomise all but a few confirmed participants."""
    if not AllocationList.objects.filter(is_active=True).exists():
        allocation_list = allocation_list_generate(name="Demo list 1", slots_per_stratum=48, by=statistician)
        allocation_list_activate(allocation_list=allocation_list, by=statistician)
    if Allocation.objects.filter(site=site).exists():
        return 0
    confirmed = [
        participant
        for participant in participants_with_screening(Participant.objects.filter(site=site))
        if confirmation_in_force(participant) is not None
    ]
    chosen = confirmed[: max(0, len(confirmed) - LEFT_AWAITING)]
    for participant in chosen:
        participant_randomize(participant=participant, by=investigator)
    return len(chosen)
