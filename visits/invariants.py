"""Invariants of the visit schedule, for ``check_invariants`` (``settings.INVARIANTS``)."""

from __future__ import annotations

from randomization.models import Allocation
from trial_site.invariants import REPAIR_REASON, Finding
from trial_site.services import system_user
from visits.services import visit_schedule_create


def allocations_have_schedules(*, repair: bool) -> Finding:
    """Every allocation has its visit schedule (with required forms and reminders). The schedule is made in the
    randomisation's own transaction; an allocation without one comes from before that, or from a fault. The repair
    makes the schedule from Day 1, attributed to the system user with the reason."""
    finding = Finding("every allocation has its visit schedule")
    missing = list(
        Allocation.objects.filter(participant__visits__isnull=True).select_related("participant").order_by("pk")
    )
    finding.problems = [f"{a.participant} ({a.randomisation_number}) has no visit schedule" for a in missing]
    if repair:
        by = system_user()
        for allocation in missing:
            visit_schedule_create(
                allocation_id=allocation.pk, by=by, reason=REPAIR_REASON % "visit schedule missing after randomisation"
            )
            finding.repaired.append(f"{allocation.participant}: visit schedule made")
    return finding
