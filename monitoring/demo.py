"""Demo monitoring for ``seed_demo``: two queries from the monitor (one answered by the site), three forms
verified, and one casebook locked."""

from __future__ import annotations

from typing import Any

from monitoring.models import DataQuery
from monitoring.services.locks import lock_data
from monitoring.services.queries import query_answer, query_raise
from monitoring.services.verification import verification_record
from randomization.models import Allocation
from safety.models import AdverseEvent
from trial_site.models import Site
from visits.crfs import VitalSigns


def seed_monitoring_demo(*, site: Site, monitor: Any, coordinator: Any, data_manager: Any) -> bool:
    """False when the demo has its monitoring already (or nothing to monitor)."""
    if DataQuery.objects.filter(site=site, raised_by__isnull=False).exists():
        return False
    vitals = list(VitalSigns.objects.filter(visit__site=site, status="complete").order_by("pk")[:3])
    event = AdverseEvent.objects.filter(site=site).order_by("pk").first()
    if len(vitals) < 3 or event is None:
        return False
    answered = query_raise(
        record=vitals[0], field="weight_kg", by=monitor,
        message="The clinic's weight chart says 2 kg more for this visit: please check the source.",
    )  # fmt: skip
    query_answer(query=answered, by=coordinator, text="Checked: the chart is from the week before; the value stands.")
    query_raise(record=event, field="onset_date", by=monitor, message="The discharge letter gives another onset date.")
    for record in vitals[1:]:
        verification_record(record=record, fields=[], by=monitor)
    verification_record(record=event, fields=[], by=monitor)
    last = Allocation.objects.filter(site=site).select_related("participant").order_by("-pk").first()
    lock_data(scope="casebook", participant=last.participant, by=data_manager, reason="demo: casebook reviewed")
    return True
