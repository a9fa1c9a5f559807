"""Demo randomisation for ``seed_demo``: a list in use and most confirmed participants randomised."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from randomization.models import Allocation, AllocationList
from randomization.services import allocation_list_activate, allocation_list_generate, participant_randomize
from screening.models import Participant
from screening.selectors import confirmation_in_force, participants_with_screening
from trial_site.models import Site

LEFT_AWAITING = 4  # confirmed but not yet randomised, so the demo shows the button
DAYS_FROM_SCREENING_TO_DAY_1 = 14  # Day 1 of a demo participant (today at the latest): two weeks after screening


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
    today = timezone.localdate()
    zone = ZoneInfo(site.time_zone)
    for participant in chosen:
        day1 = participant.screening_date + timedelta(days=DAYS_FROM_SCREENING_TO_DAY_1)
        at = timezone.make_aware(datetime.combine(day1, time(11, 0)), zone) if day1 < today else None
        participant_randomize(participant=participant, by=investigator, at=at)
    return len(chosen)
