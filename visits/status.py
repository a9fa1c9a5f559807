"""The status of a visit as staff see it, from its window and what was recorded."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from clinical.schedule import VisitStatus as ClinicalVisitStatus
from clinical.schedule import VisitWindow, visit_status


class VisitState(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    OVERDUE = "overdue"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


def state_of(visit: object, today: date) -> VisitState:
    """upcoming / open / overdue / done / missed, or cancelled once the participant's study has ended."""
    if getattr(visit, "cancelled", False):
        return VisitState.CANCELLED
    window = VisitWindow(code=visit.code, target=visit.target_date, earliest=visit.earliest, latest=visit.latest)
    status: ClinicalVisitStatus = visit_status(window, today=today, done_on=visit.done_on, missed=visit.missed)
    return VisitState(str(status))
