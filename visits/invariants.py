"""Invariants of the visit schedule, for ``check_invariants`` (``settings.INVARIANTS``)."""

from __future__ import annotations

import logging

from django.db import transaction

from randomization.models import Allocation
from randomization.tasks import queue_randomisation_email
from trial_site.invariants import REPAIR_REASON, Finding
from trial_site.services import system_user
from visits.progress import OPEN_VISITS, VISITS, open_tallies_recount, tallies_recount
from visits.services import visit_schedule_create

logger = logging.getLogger(__name__)

SCHEDULE_MISSING = "visit schedule missing after randomisation"


def allocations_have_schedules(*, repair: bool) -> Finding:
    """Every allocation has its visit schedule (with required forms and reminders). The schedule is made in the
    randomisation's own transaction; an allocation without one comes from before that, or from a fault.

    The repair makes what the randomisation's follow-ups would have made, in one transaction per allocation: the
    schedule from Day 1 (attributed to the system user with the reason) and the investigators' e-mail (an outbox
    row, one per allocation by its key). Before the one transaction, the schedule was made after the commit and the
    e-mail after the schedule, so an allocation without a schedule never had its e-mail either."""
    finding = Finding("every allocation has its visit schedule")
    missing = list(
        Allocation.objects.filter(participant__visits__isnull=True).select_related("participant").order_by("pk")
    )
    finding.problems = [f"{a.participant} ({a.randomisation_number}) has no visit schedule" for a in missing]
    if repair:
        by = system_user()
        for allocation in missing:
            try:
                if _repair(allocation.pk, by=by):
                    finding.repaired.append(f"{allocation.participant}: visit schedule made, investigators told")
                else:  # made meanwhile by someone else (another run of the check): it holds
                    finding.repaired.append(f"{allocation.participant}: visit schedule made meanwhile")
            except Exception:  # one allocation that cannot be repaired must not stop the others
                logger.exception("could not make the visit schedule of %s", allocation.participant)
    return finding


@transaction.atomic
def _repair(allocation_id: int, *, by: object) -> bool:
    """Make the schedule and the e-mail of one allocation, under its row lock (two runs of the check at once
    repair it once); False when it has its schedule by now."""
    allocation = Allocation.objects.select_for_update().select_related("participant").get(pk=allocation_id)
    if allocation.participant.visits.exists():
        return False
    visit_schedule_create(allocation_id=allocation.pk, by=by, reason=REPAIR_REASON % SCHEDULE_MISSING)
    queue_randomisation_email(allocation_id=allocation.pk)
    return True


def visit_tallies_hold(*, repair: bool) -> Finding:
    """The reports' tallies (``VisitTally``) equal the visits and forms counted afresh. The services keep them in
    the transaction of every change; a difference comes from rows written without them. The repair writes the
    counts afresh (the visits' own counts in ``VisitProgress`` are rewritten by ``visits_refresh`` at their next
    change)."""
    holds = "the reports' visit tallies equal the visits and forms counted afresh"
    return VISITS.check(holds, tallies_recount(), repair=repair)


def open_visit_tallies_hold(*, repair: bool) -> Finding:
    """The pending visits counted by the last day of their window (``OpenVisitTally``, from which the reports count
    the overdue visits) equal the visits counted afresh; the repair writes the counts afresh."""
    holds = "the open visits' tallies equal the pending visits counted afresh"
    return OPEN_VISITS.check(holds, open_tallies_recount(), repair=repair)
