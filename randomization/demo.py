"""Demo randomisation for ``seed_demo``: a list in use and most confirmed participants randomised."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from clinical.mrss import MRSS_AREAS
from randomization.models import Allocation, AllocationList
from randomization.services import allocation_list_activate, allocation_list_generate, participant_randomize
from screening.models import Day1Baseline, Participant
from screening.selectors import confirmation_in_force, participants_with_screening
from screening.services import screening_form_save
from trial_site.models import Site

# Confirmed but not yet randomised. Their screening (the latest of the demo, a month or more ago) is past its
# window, so the demo shows what the site does then: a screen failure (SCR) and screening again.
LEFT_AWAITING = 4
# Day 1 of a demo participant (today at the latest): two weeks after screening, within the 28 days it allows.
DAYS_FROM_SCREENING_TO_DAY_1 = 14


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
        day1 = min(today, participant.screening_date + timedelta(days=DAYS_FROM_SCREENING_TO_DAY_1))
        at = timezone.make_aware(datetime.combine(day1, time(11, 0)), zone) if day1 < today else None
        _record_day1(participant, investigator, day1)
        participant_randomize(participant=participant, by=investigator, at=at)
    return len(chosen)


def _record_day1(participant: Participant, investigator: Any, day1: date) -> None:
    """The Day 1 baseline form the investigator fills before randomising: the screening mRSS seen again, no
    mycophenolate, no renal crisis since screening."""
    mrss = participant.screening_mrss
    areas = {code: getattr(mrss, code) for code, _label in MRSS_AREAS}
    screening_form_save(
        record=Day1Baseline(
            participant=participant,
            day1=day1,
            assessor=mrss.assessor,
            mycophenolate_g_day=0.0,
            renal_crisis_since_screening=False,
            **areas,
        ),
        by=investigator,
    )
