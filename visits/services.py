"""Writes of the visit schedule: create it on randomisation, record visits done, missed, rescheduled,
unscheduled visits, the safety follow-up, and end of study."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.schedule import VisitRule, follow_up_window, visit_schedule
from clinical.timeline import DateMeaning
from randomization.models import Allocation
from screening.models import Participant
from screening.selectors import require_current_consent
from screening.timeline import timeline_errors
from trial_site import registry
from trial_site.audit.actor import acting_as
from trial_site.audit.bulk import audited_batch, create_audited
from trial_site.hooks import schedule_changed
from trial_site.permissions import require
from trial_site.protocol import PROTOCOL
from trial_site.protocol_versions import protocol_on
from visits.models import ConcomitantMedication, EndOfStudy, RequiredForm, Visit, VisitProgress
from visits.progress import due_on, forms_progress, tallies_add, visits_refresh

logger = logging.getLogger(__name__)

UNSCHEDULED = "UNS"


def required_form_status(code: str, participant: Participant) -> str:
    """Required, or not required for this participant by the form's branching (``FormSpec.applies_to``)."""
    form = registry.visit_form(code)
    applies = form is None or form.applies_to(participant)
    return RequiredForm.Status.REQUIRED if applies else RequiredForm.Status.NOT_REQUIRED


def _required_rows(visit: Visit, forms: tuple[str, ...], participant: Participant) -> None:
    RequiredForm.objects.bulk_create(
        RequiredForm(visit=visit, form=form, status=required_form_status(form, participant)) for form in forms
    )


def visit_schedule_create(*, allocation_id: int, by: Any = None, reason: str | None = None) -> list[Visit]:
    """Create D1 … W24 with their required forms and reminders for a randomised participant (idempotent). Day 1
    is the day of randomisation at the site. A ``randomised`` follow-up (``settings.FOLLOW_UPS``): it runs inside
    the randomisation's transaction, so an allocation never exists without its schedule. ``by`` and ``reason``
    attribute a repair (``check_invariants``); otherwise the visits are the randomising investigator's.

    The visits are made in bulk with their history rows (``trial_site.audit.bulk.create_audited``), then their
    required forms and stored progress in one insert each: a fixed number of queries, whatever the schedule."""
    allocation = (
        Allocation.objects.select_related("participant__site", "participant__exclusion_history", "randomised_by")
        .annotate(scheduled=Exists(Visit.objects.filter(participant_id=OuterRef("participant_id"))))
        .get(pk=allocation_id)
    )
    participant = allocation.participant
    if allocation.scheduled:
        return list(participant.visits.all())
    day1 = timezone.localtime(allocation.randomised_at, ZoneInfo(participant.site.time_zone)).date()
    # The schedule of the protocol version in force on Day 1 (``trial_site.protocol_versions``).
    protocol = protocol_on(day1)
    rules = [VisitRule(v.code, v.target_day, v.days_before, v.days_after) for v in protocol.visits]
    by = by or allocation.randomised_by
    visits = [
        Visit(
            site=participant.site,
            participant=participant,
            code=definition.code,
            name=definition.name,
            sequence=(order + 1) * 10,
            target_date=window.target,
            earliest=window.earliest,
            latest=window.latest,
            planned_date=window.target,
        )
        for order, (definition, window) in enumerate(zip(protocol.visits, visit_schedule(rules, day1), strict=True))
    ]
    statuses = {code: required_form_status(code, participant) for v in protocol.visits for code in v.forms}
    with audited_batch(), acting_as(by):
        create_audited(Visit, visits, by=by, reason=reason)
        # A new visit's stored state (``visits.progress``), known without reading it back: nothing entered, its
        # forms missing from the day after its window closes, pending (and counted so in its site's tally).
        RequiredForm.objects.bulk_create(
            RequiredForm(
                visit=visit, form=code, status=statuses[code],
                due_on=due_on(done_on=None, latest=visit.latest, missed=False, cancelled=False),
            )
            for visit, definition in zip(visits, protocol.visits, strict=True)
            for code in definition.forms
        )  # fmt: skip
        VisitProgress.objects.bulk_create(
            VisitProgress(
                visit=visit,
                forms=forms_progress({code: statuses[code] for code in definition.forms}, {}),
                compliance="pending",
                pending_closes_on=visit.latest,
            )
            for visit, definition in zip(visits, protocol.visits, strict=True)
        )
        tallies_add(
            {(participant.site_id, visit.code): Counter(pending=1) for visit in visits},
            {(participant.site_id, visit.code, visit.latest): Counter(visits=1) for visit in visits},
        )
        schedule_changed(participant.pk)
    logger.info("visit schedule of %s created from Day 1 %s", participant, day1)
    return visits


def read_locked(record: Any) -> None:
    """Lock the saved row of ``record`` for this transaction and read it again, so that what the service checks
    (done already? stopped already?) is what is saved now, not what a page showed. The version a form was opened on
    (``opened_version``) stays: the save still refuses a record changed since."""
    type(record)._base_manager.select_for_update().filter(pk=record.pk).values_list("pk").first()
    record.refresh_from_db()


def _ended(participant: Participant) -> EndOfStudy | None:
    return getattr(participant, "end_of_study", None)


@transaction.atomic
def visit_record_done(*, visit: Visit, by: Any, done_on: date, deviation_reason: str = "") -> Visit:
    """Record that the visit took place. Outside its window it needs the protocol deviation's reason."""
    require(by, "visits.change_visit", visit.participant.site)
    require_current_consent(visit.participant)
    read_locked(visit)
    errors: dict[str, str] = timeline_errors(visit.participant, {"done_on": (done_on, DateMeaning.TREATMENT)})
    ended = _ended(visit.participant)
    if ended is not None and visit.code != PROTOCOL.follow_up.code and done_on > ended.ended_on:
        errors["done_on"] = _("The participant's study ended on %(day)s; only the safety follow-up comes after.") % {
            "day": ended.ended_on.isoformat()
        }
    outside = not visit.is_unscheduled and not (visit.earliest <= done_on <= visit.latest)
    if outside and not deviation_reason.strip():
        errors["deviation_reason"] = _(
            "%(day)s is outside the window (%(earliest)s to %(latest)s): record the protocol deviation's reason."
        ) % {"day": done_on.isoformat(), "earliest": visit.earliest.isoformat(), "latest": visit.latest.isoformat()}
    if visit.missed:
        errors["done_on"] = _("This visit is recorded as missed.")
    if errors:
        raise ValidationError(errors)
    changing = visit.done_on is not None
    visit.done_on = done_on
    visit.deviation_reason = deviation_reason.strip() if outside else ""
    visit.save(by=by, reason=_("visit date corrected") if changing else _("visit done"))
    visits_refresh([visit.pk])
    schedule_changed(visit.participant_id)
    return visit


@transaction.atomic
def visit_record_missed(*, visit: Visit, by: Any, reason: str) -> Visit:
    require(by, "visits.change_visit", visit.participant.site)
    read_locked(visit)
    if visit.done_on is not None:
        raise ValidationError({"reason": _("This visit is recorded as done.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason the visit was missed.")})
    visit.missed = True
    visit.missed_reason = reason.strip()
    visit.save(by=by, reason=_("visit missed: %(reason)s") % {"reason": reason.strip()})
    visits_refresh([visit.pk])
    schedule_changed(visit.participant_id)
    return visit


@transaction.atomic
def visit_reschedule(*, visit: Visit, by: Any, planned_date: date, reason: str) -> Visit:
    """Move the planned date of a visit, within its window only."""
    require(by, "visits.change_visit", visit.participant.site)
    read_locked(visit)
    if not visit.earliest <= planned_date <= visit.latest:
        raise ValidationError(
            {"planned_date": _("Choose a date within the window, %(earliest)s to %(latest)s.")
             % {"earliest": visit.earliest.isoformat(), "latest": visit.latest.isoformat()}}
        )  # fmt: skip
    visit.planned_date = planned_date
    visit.save(by=by, reason=reason or _("rescheduled within the window"))
    schedule_changed(visit.participant_id)
    return visit


@transaction.atomic
def unscheduled_visit_add(*, participant: Participant, by: Any, on: date, reason: str) -> Visit:
    require(by, "visits.add_visit", participant.site)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the unscheduled visit.")})
    impossible = timeline_errors(participant, {"on": (on, DateMeaning.TREATMENT)})
    if impossible:
        raise ValidationError(impossible)
    last = participant.visits.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    visit = Visit(
        site=participant.site, participant=participant, code=UNSCHEDULED, name=_("Unscheduled visit"),
        sequence=last + 1, target_date=on, earliest=on, latest=on, planned_date=on, done_on=on,
        unscheduled_reason=reason.strip(),
    )  # fmt: skip
    visit.save(by=by)
    visits_refresh([visit.pk])
    return visit


@transaction.atomic
def follow_up_schedule(*, participant: Participant, by: Any, last_dose: date) -> Visit:
    """The safety follow-up, 28 days after the last dose (window +7), created once the last dose is known."""
    require(by, "visits.add_visit", participant.site)
    if participant.visits.filter(code=PROTOCOL.follow_up.code).exists():
        raise ValidationError(_("The safety follow-up is scheduled already."))
    impossible = timeline_errors(participant, {"last_dose": (last_dose, DateMeaning.TREATMENT)})
    if impossible:
        raise ValidationError(impossible)
    window = follow_up_window(
        last_dose,
        days_after_last_dose=PROTOCOL.follow_up.days_after_last_dose,
        days_after=PROTOCOL.follow_up.days_after,
    )
    visit = Visit(
        site=participant.site, participant=participant, code=PROTOCOL.follow_up.code, name=PROTOCOL.follow_up.name,
        sequence=1000, target_date=window.target, earliest=window.earliest, latest=window.latest,
        planned_date=window.target,
    )  # fmt: skip
    visit.save(by=by)
    _required_rows(visit, protocol_on(visit.target_date).follow_up.forms, participant)
    visits_refresh([visit.pk])
    schedule_changed(participant.pk)
    return visit


@transaction.atomic
def end_of_study_record(
    *, participant: Participant, by: Any, ended_on: date, reason: str, details: str = ""
) -> EndOfStudy:
    """End the participant's study. Visits not done by then are no longer due (the follow-up stays)."""
    require(by, "visits.add_endofstudy", participant.site)
    if hasattr(participant, "end_of_study"):
        raise ValidationError(_("The end of study is recorded already."))
    impossible = timeline_errors(participant, {"ended_on": (ended_on, DateMeaning.TREATMENT)})
    if impossible:
        raise ValidationError(impossible)
    if reason != EndOfStudy.Reason.COMPLETED and not details.strip():
        raise ValidationError({"details": _("Say why the participant left the study.")})
    ending = EndOfStudy(
        site=participant.site, participant=participant, ended_on=ended_on, reason=reason, details=details
    )
    ending.save(by=by)
    cancelled = []
    for visit in participant.visits.filter(done_on__isnull=True, missed=False, cancelled=False).exclude(
        code=PROTOCOL.follow_up.code
    ):
        visit.cancelled = True
        visit.save(by=by, reason=_("end of study on %(day)s") % {"day": ended_on.isoformat()})
        cancelled.append(visit.pk)
    visits_refresh(cancelled)
    schedule_changed(participant.pk)
    return ending


@transaction.atomic
def medication_add(*, medication: ConcomitantMedication, by: Any) -> ConcomitantMedication:
    """Add a concomitant medication to the participant's list."""
    require(by, "visits.add_concomitantmedication", medication.participant.site)
    medication.site = medication.participant.site
    medication.save(by=by)
    return medication


@transaction.atomic
def medication_stop(*, medication: ConcomitantMedication, by: Any, stopped_on: date) -> ConcomitantMedication:
    """Record the day a medication was stopped (the record and its history stay)."""
    require(by, "visits.change_concomitantmedication", medication.participant.site)
    read_locked(medication)
    if medication.stop_date == stopped_on:
        return medication  # recorded already (a second click on the same form): nothing to write
    if medication.stop_date is not None:
        raise ValidationError({"stop_date": _("This medication is recorded as stopped already.")})
    medication.stop_date = stopped_on
    medication.save(by=by, reason=_("medication stopped on %(day)s") % {"day": stopped_on.isoformat()})
    return medication
