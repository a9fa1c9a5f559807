"""A protocol amendment applied to the participants already in the trial (the ``protocol_amended`` follow-up).

Only what lies ahead changes: a visit the amendment adds is scheduled for a participant who has not passed it (its
window closes on or after the amendment's effective date); a visit still to come (not done, missed nor cancelled,
planned on or after the effective date) gets the forms the new version asks at it, and a visit the new version no
longer has is cancelled. A visit that took place keeps the forms it had, and every record keeps the version it was
made under. Participants whose study ended, or who are not yet randomised (their schedule is made from the version
in force on their Day 1), are left alone. Changed visits are saved with the amendment as the reason for change.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from clinical.schedule import VisitRule, visit_schedule
from screening.models import Participant
from trial_site.hooks import schedule_changed
from trial_site.protocol import Protocol, VisitDefinition
from trial_site.protocol_versions import protocol_version
from visits.models import RequiredForm, Visit
from visits.progress import visits_refresh
from visits.services import UNSCHEDULED, required_form_status

logger = logging.getLogger(__name__)


def schedule_amend(*, version: str, by: Any) -> dict[str, int]:
    """Apply the approved protocol ``version`` to every participant in the trial; returns what it did, counted."""
    protocol = protocol_version(version)
    if protocol is None:
        raise ValueError(f"protocol version {version} is not approved")
    reason = f"Protocol amendment {version} in force from {protocol.effective_from.isoformat()}"
    counts = {"participants": 0, "visits_added": 0, "visits_cancelled": 0, "forms_added": 0, "forms_removed": 0}
    participants = (
        Participant.objects.filter(visits__isnull=False, end_of_study__isnull=True)
        .distinct()
        .select_related("exclusion_history", "site")
        .order_by("pk")
    )
    with transaction.atomic():
        for participant in participants:
            done = _amend_participant(participant, protocol, by=by, reason=reason)
            if any(done.values()):
                visits_refresh(participant.visits.values_list("pk", flat=True))
                counts["participants"] += 1
                for key, value in done.items():
                    counts[key] += value
                schedule_changed(participant.pk)
    logger.info("protocol %s applied: %s", version, counts)
    return counts


def _amend_participant(participant: Participant, protocol: Protocol, *, by: Any, reason: str) -> dict[str, int]:
    counts = {"visits_added": 0, "visits_cancelled": 0, "forms_added": 0, "forms_removed": 0}
    visits = {
        visit.code: visit
        for visit in Visit.objects.select_for_update().filter(participant=participant).exclude(code=UNSCHEDULED)
    }
    day1_visit = visits.get(protocol.visits[0].code)
    if day1_visit is None:
        return counts
    rules = [VisitRule(v.code, v.target_day, v.days_before, v.days_after) for v in protocol.visits]
    windows = {window.code: window for window in visit_schedule(rules, day1_visit.target_date)}
    effective = protocol.effective_from
    for definition in protocol.visits:
        visit = visits.get(definition.code)
        if visit is None:
            if windows[definition.code].latest >= effective:
                _add_visit(participant, definition, windows[definition.code], by=by, reason=reason)
                counts["visits_added"] += 1
                counts["forms_added"] += len(definition.forms)
            continue
        if _ahead(visit, effective):
            added, removed = _sync_forms(visit, definition.forms, participant)
            counts["forms_added"] += added
            counts["forms_removed"] += removed
    follow_up = visits.get(protocol.follow_up.code)
    if follow_up is not None and _ahead(follow_up, effective):
        added, removed = _sync_forms(follow_up, protocol.follow_up.forms, participant)
        counts["forms_added"] += added
        counts["forms_removed"] += removed
    kept = {definition.code for definition in protocol.visit_definitions()}
    for code, visit in visits.items():
        if code not in kept and _ahead(visit, effective):
            visit.cancelled = True
            visit.save(by=by, reason=reason)
            counts["visits_cancelled"] += 1
    return counts


def _ahead(visit: Visit, effective: Any) -> bool:
    """A visit still to come under the amendment: not done, missed nor cancelled, planned from its effective date."""
    return visit.done_on is None and not visit.missed and not visit.cancelled and visit.planned_date >= effective


def _add_visit(participant: Participant, definition: VisitDefinition, window: Any, *, by: Any, reason: str) -> Visit:
    visit = Visit(
        site=participant.site,
        participant=participant,
        code=definition.code,
        name=definition.name,
        sequence=_sequence_for(participant, window.target),
        target_date=window.target,
        earliest=window.earliest,
        latest=window.latest,
        planned_date=window.target,
    )
    visit.save(by=by, reason=reason)
    RequiredForm.objects.bulk_create(
        RequiredForm(visit=visit, form=form, status=required_form_status(form, participant))
        for form in definition.forms
    )
    return visit


def _sequence_for(participant: Participant, target: Any) -> int:
    """A place in the participant's order of visits between the visits before and after ``target``."""
    rows = list(participant.visits.exclude(code=UNSCHEDULED).values_list("target_date", "sequence"))
    before = max((seq for day, seq in rows if day < target), default=0)
    after = min((seq for day, seq in rows if day > target), default=before + 20)
    used = set(participant.visits.values_list("sequence", flat=True))
    free = [seq for seq in range(before + 1, after) if seq not in used]
    if not free:
        raise ValueError(f"no place in the order of visits of {participant} for a visit on {target}")
    return free[len(free) // 2]


def _sync_forms(visit: Visit, forms: tuple[str, ...], participant: Participant) -> tuple[int, int]:
    """The visit asks exactly ``forms`` from now on; a form already entered stays. Returns (added, removed)."""
    rows = {row.form: row for row in visit.required_forms.all()}
    added = [RequiredForm(visit=visit, form=form, status=required_form_status(form, participant))
             for form in forms if form not in rows]  # fmt: skip
    RequiredForm.objects.bulk_create(added)
    dropped = [row.pk for form, row in rows.items() if form not in forms and row.status != RequiredForm.Status.ENTERED]
    RequiredForm.objects.filter(pk__in=dropped).delete()
    return len(added), len(dropped)
