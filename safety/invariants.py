"""Invariants of safety, for ``check_invariants`` (``settings.INVARIANTS``)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F, Q

from safety.services import lab_alerts_check
from trial_site.invariants import REPAIR_REASON, Finding
from trial_site.services import system_user
from visits.crfs import LabPanel

logger = logging.getLogger(__name__)

NOT_ASSESSED = Q(assessment__isnull=True) | ~Q(assessment__panel_modified_at=F("modified_at"))


def lab_panels_assessed(*, repair: bool) -> Finding:
    """Every saved laboratory panel, as saved now, was assessed against the arm's rules (its alerts exist). The
    check runs in the panel's own transaction; a panel not assessed comes from before that, or from a fault. The
    repair runs the check, one panel at a time under its row lock, its alerts attributed to the system user with
    the reason."""
    finding = Finding("every laboratory panel is assessed against the arm's rules")
    stale = list(LabPanel.objects.filter(NOT_ASSESSED).select_related("visit__participant").order_by("pk"))
    finding.problems = [
        f"{panel.visit.participant} {panel.visit.code}: laboratory panel not assessed" for panel in stale
    ]
    if repair:
        by = system_user()
        for panel in stale:
            try:
                _repair(panel.pk, by=by)
            except Exception:  # one panel that cannot be assessed must not stop the others
                logger.exception("could not assess laboratory panel %s", panel.pk)
            else:
                finding.repaired.append(f"{panel.visit.participant} {panel.visit.code}: assessed")
    return finding


@transaction.atomic
def _repair(panel_id: int, *, by: object) -> None:
    """Assess one panel under its row lock, if it still needs it (a save meanwhile assessed it in its own
    transaction)."""
    locked = LabPanel.objects.select_for_update(of=("self",)).filter(NOT_ASSESSED, pk=panel_id)
    if locked.values_list("pk", flat=True).first() is not None:
        lab_alerts_check(panel_id=panel_id, by=by, reason=REPAIR_REASON % "laboratory panel not assessed")
