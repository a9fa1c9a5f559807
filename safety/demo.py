"""Demo safety data for ``seed_demo``: some adverse events, one SAE report within its 24 hours and one
overdue, and a few laboratory alerts from each arm's rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from randomization.models import Allocation
from safety import services
from safety.models import AdverseEvent
from trial_site.models import Site
from visits.crf_services import visit_form_save
from visits.crfs import LabPanel

EVENTS: tuple[dict[str, Any], ...] = (
    {"description": "Upper respiratory tract infection", "grade": 1, "relationship": "unlikely",
     "action_taken": "none", "outcome": "recovered", "ongoing": False},
    {"description": "Nausea", "grade": 1, "relationship": "probable", "action_taken": "none", "outcome": "recovering"},
    {"description": "Herpes zoster, thoracic", "grade": 2, "relationship": "possible", "action_taken": "interrupted",
     "outcome": "recovering", "special_interest": "infection"},
    {"description": "Raised ALT", "grade": 2, "relationship": "probable", "action_taken": "reduced",
     "outcome": "recovering", "special_interest": "liver"},
    {"description": "Community-acquired pneumonia needing admission", "grade": 3, "relationship": "possible",
     "action_taken": "interrupted", "outcome": "recovering", "special_interest": "infection",
     "serious_hospitalisation": True, "expected": True, "learned_hours_ago": 5},
    {"description": "Deep vein thrombosis, left leg", "grade": 3, "relationship": "possible",
     "action_taken": "withdrawn", "outcome": "not_recovered", "special_interest": "thrombosis",
     "serious_hospitalisation": True, "learned_hours_ago": 40},
)  # fmt: skip


def seed_safety_demo(*, site: Site, coordinator: Any) -> int:
    """Adverse events on the first randomised participants, and alerts from a few laboratory values."""
    if AdverseEvent.objects.filter(site=site).exists():
        return 0
    now = timezone.now()
    allocations = list(Allocation.objects.filter(site=site).select_related("participant").order_by("pk"))
    for allocation, spec in zip(allocations, EVENTS, strict=False):
        values = dict(spec)
        hours_ago = values.pop("learned_hours_ago", 24 * 10)
        event = AdverseEvent(
            participant=allocation.participant,
            onset_date=timezone.localdate() - timedelta(days=max(1, hours_ago // 24 + 1)),
            learned_at=now - timedelta(hours=hours_ago),
            stop_date=timezone.localdate() - timedelta(days=1) if values.get("ongoing") is False else None,
            **values,
        )
        services.adverse_event_record(event=event, by=coordinator)
    _alerting_lab_values(allocations[6:9], coordinator)
    return min(len(allocations), len(EVENTS))


def _alerting_lab_values(allocations: list[Allocation], coordinator: Any) -> None:
    """Make the latest laboratory panel of a few participants break their arm's rules (alerts follow)."""
    breaking = {"A": {"alc": 0.45}, "B": {"wbc": 3.1, "anc": 1.4}}
    for allocation in allocations:
        panel = LabPanel.objects.filter(visit__participant=allocation.participant).order_by("-visit__sequence").first()
        if panel is None:
            continue
        for name, value in breaking[allocation.arm].items():
            setattr(panel, name, value)
        panel.unusual_values_confirmed = True
        visit_form_save(record=panel, by=coordinator, complete=True, reason="demo data: a repeat sample")
        services.lab_alerts_check(panel_id=panel.pk)
