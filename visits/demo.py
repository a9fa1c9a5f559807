"""Demo visits for ``seed_demo``: the randomised participants at different stages of their schedule —
some through W24, some mid-way, one with a missed visit, one overdue, one withdrawn."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from randomization.models import Allocation
from trial_site.models import Site
from visits import services
from visits.models import Visit

DAYS_FROM_SCREENING_TO_DAY_1 = 14


def seed_visits_demo(*, site: Site, coordinator: Any, investigator: Any) -> int:
    """Give each randomised participant at ``site`` its schedule and record the visits that are due."""
    if Visit.objects.filter(site=site).exists():
        return 0
    today = timezone.localdate()
    zone = ZoneInfo(site.time_zone)
    allocations = list(Allocation.objects.filter(site=site).select_related("participant").order_by("pk"))
    for index, allocation in enumerate(allocations):
        day1 = allocation.participant.screening_date + timedelta(days=DAYS_FROM_SCREENING_TO_DAY_1)
        if day1 < today:
            allocation.randomised_at = timezone.make_aware(datetime.combine(day1, time(11, 0)), zone)
            allocation.save(by=investigator, reason="demo data: randomised on the day after screening ended")
        services.visit_schedule_create(allocation.pk)
        _record_due_visits(index, allocation, coordinator, investigator, today)
    return len(allocations)


def _record_due_visits(index: int, allocation: Allocation, coordinator: Any, investigator: Any, today: Any) -> None:
    participant = allocation.participant
    for visit in Visit.objects.filter(participant=participant).order_by("sequence"):
        if visit.earliest > today:
            break
        if index == 2 and visit.code == "W8":
            services.visit_record_missed(
                visit=visit, by=coordinator, reason="flooding; the clinic could not be reached"
            )
            continue
        if index == 4 and visit.code == "W12":
            continue  # left unrecorded: overdue once its window closes
        if index == 6 and visit.code == "W12":
            services.end_of_study_record(
                participant=participant, by=investigator, ended_on=min(visit.earliest, today), reason="withdrawn",
                details="withdrew consent for follow-up: moving to Chattogram",
            )  # fmt: skip
            break
        done_on = min(visit.planned_date, today)
        services.visit_record_done(visit=visit, by=coordinator, done_on=done_on)
