"""Invariants of safety, for ``check_invariants`` (``settings.INVARIANTS``)."""

from __future__ import annotations

from django.db.models import F, Q

from safety.services import lab_alerts_check
from trial_site.invariants import REPAIR_REASON, Finding
from trial_site.services import system_user
from visits.crfs import LabPanel


def lab_panels_assessed(*, repair: bool) -> Finding:
    """Every saved laboratory panel, as saved now, was assessed against the arm's rules (its alerts exist). The
    check runs in the panel's own transaction; a panel not assessed comes from before that, or from a fault. The
    repair runs the check, its alerts attributed to the system user with the reason."""
    finding = Finding("every laboratory panel is assessed against the arm's rules")
    stale = (
        LabPanel.objects.filter(Q(assessment__isnull=True) | ~Q(assessment__panel_modified_at=F("modified_at")))
        .select_related("visit__participant")
        .order_by("pk")
    )
    stale = list(stale)
    finding.problems = [
        f"{panel.visit.participant} {panel.visit.code}: laboratory panel not assessed" for panel in stale
    ]
    if repair:
        by = system_user()
        for panel in stale:
            lab_alerts_check(panel_id=panel.pk, by=by, reason=REPAIR_REASON % "laboratory panel not assessed")
            finding.repaired.append(f"{panel.visit.participant} {panel.visit.code}: assessed")
    return finding
