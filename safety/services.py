"""Writes of safety: adverse events (each change with a reason), SAE reports and their clock, lab alerts."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinical.safety import lab_rules_fired, sae_deadline, susar_clock
from safety.models import AdverseEvent, LabAlert, LabPanelAssessment, SaeReport
from trial_site.audit.actor import acting_as
from trial_site.audit.versions import person
from trial_site.outbox import outbox_add
from trial_site.permissions import require
from trial_site.protocol_versions import base_protocol, protocol_version
from visits.crfs import LabPanel
from visits.models import EndOfStudy
from visits.services import end_of_study_record, read_locked

logger = logging.getLogger(__name__)


def _open_sae_report(event: AdverseEvent, by: Any, kind: str = SaeReport.Kind.INITIAL) -> SaeReport:
    clock = susar_clock(
        serious=event.serious, related=event.related, expected=event.expected, criteria=event.seriousness,
        learned_at=event.learned_at,
    )  # fmt: skip
    report = SaeReport(
        site=event.site,
        adverse_event=event,
        kind=kind,
        deadline=sae_deadline(event.learned_at),
        susar=clock is not None,
        regulatory_deadline=clock.deadline if clock else None,
    )
    report.save(by=by)
    outbox_add("safety.tasks.email_sae_report", report.pk, key=f"sae-report:{report.pk}")
    logger.warning("SAE report opened for %s, due %s", event.participant, report.deadline)
    return report


@transaction.atomic
def adverse_event_record(*, event: AdverseEvent, by: Any) -> AdverseEvent:
    """Record an adverse event; a serious one opens its SAE report (due 24 h after the site learned of it)."""
    require(by, "safety.add_adverseevent", event.participant.site)
    event.site = event.participant.site
    event.save(by=by)
    if event.serious:
        _open_sae_report(event, by)
    _end_study_at_death(event, by)
    return event


def _end_study_at_death(event: AdverseEvent, by: Any) -> None:
    """A death (a grade 5 serious event) ends the participant's study: no visit is due after it."""
    participant = event.participant
    if not event.serious_death or hasattr(participant, "end_of_study"):
        return
    end_of_study_record(
        participant=participant, by=by, ended_on=event.stop_date or event.onset_date, reason=EndOfStudy.Reason.DEATH,
        details=event.description,
    )  # fmt: skip


@transaction.atomic
def adverse_event_change(*, event: AdverseEvent, by: Any, reason: str) -> AdverseEvent:
    """Change a saved adverse event (a reason is required). Becoming serious opens its SAE report."""
    require(by, "safety.change_adverseevent", event.site)
    event.save(by=by, reason=reason)
    if event.serious and not event.sae_reports.exists():
        _open_sae_report(event, by)
    _end_study_at_death(event, by)
    return event


@transaction.atomic
def sae_follow_up_open(*, event: AdverseEvent, by: Any) -> SaeReport:
    """A follow-up report of a serious event (new information): due 24 hours from now."""
    require(by, "safety.change_saereport", event.site)
    if not event.serious:
        raise ValidationError(_("Only a serious adverse event has SAE reports."))
    report = SaeReport(site=event.site, adverse_event=event, kind=SaeReport.Kind.FOLLOW_UP,
                       deadline=sae_deadline(timezone.now()))  # fmt: skip
    report.save(by=by)
    outbox_add("safety.tasks.email_sae_report", report.pk, key=f"sae-report:{report.pk}")
    return report


@transaction.atomic
def sae_report_submit(*, report: SaeReport, by: Any, narrative: str) -> SaeReport:
    """Record that the report went to the sponsor now."""
    require(by, "safety.change_saereport", report.site)
    read_locked(report)
    if report.submitted_at is not None:
        if report.narrative == narrative:
            return report  # recorded already (a second click on the same form): nothing to write
        raise ValidationError(_("This report was sent already."))
    report.narrative = narrative
    report.submitted_at = timezone.now()
    report.save(by=by, reason=_("sent to the sponsor"))
    return report


@transaction.atomic
def sae_report_sign(*, report: SaeReport, by: Any, causality: str) -> SaeReport:
    """The investigator's causality assessment and signature."""
    require(by, "safety.sign_saereport", report.site)
    if not causality:
        raise ValidationError({"causality": _("Give your causality assessment.")})
    read_locked(report)
    if report.signed_by_id is not None:
        if report.signed_by_id == by.pk and report.causality == causality:
            return report  # signed already (a second click on the same form): nothing to write
        raise ValidationError(_("This report was signed already by %(name)s.") % {"name": person(report.signed_by)})
    report.causality = causality
    report.signed_by = by
    report.signed_at = timezone.now()
    report.save(by=by, reason=_("signed by the investigator"))
    return report


def lab_alerts_check(*, panel_id: int, by: Any = None, reason: str | None = None) -> list[LabAlert]:
    """Check a saved laboratory panel against the hold and dose rules of the participant's arm, and record that
    this version of the panel was assessed (``LabPanelAssessment``).

    A ``lab_panel_saved`` follow-up: it runs inside the panel's own transaction. A participant not (yet)
    randomised has no arm and no rules. ``by`` and ``reason`` attribute a repair (``check_invariants``).
    """
    panel = LabPanel.objects.select_related("visit__participant__site", "modified_by").get(pk=panel_id)
    LabPanelAssessment.objects.update_or_create(panel=panel, defaults={"panel_modified_at": panel.modified_at})
    participant = panel.visit.participant
    allocation = getattr(participant, "allocation", None)
    if allocation is None:
        return []
    values = {
        "hb": panel.hb_g_dl, "wbc": panel.wbc, "anc": panel.anc, "alc": panel.alc, "platelets": panel.platelets,
        "alt": panel.alt, "ast": panel.ast, "albumin": panel.albumin_g_l, "egfr": panel.egfr,
    }  # fmt: skip
    # The rules of the protocol version the panel was entered under: an amendment's thresholds apply to the values
    # entered from its effective date, never to panels entered before it.
    protocol = protocol_version(panel.protocol_version) or base_protocol()
    fired = lab_rules_fired(protocol.lab_rules[allocation.arm], values)
    existing = set(LabAlert.objects.filter(lab_panel=panel).values_list("rule", "value"))
    created = []
    by = by or panel.modified_by
    with transaction.atomic(), acting_as(by):
        for hit in fired:
            if (hit.rule.code, hit.value) in existing:
                continue
            alert = LabAlert(
                site=participant.site, participant=participant, lab_panel=panel, rule=hit.rule.code,
                test=hit.rule.test, value=hit.value, text=hit.rule.text,
            )  # fmt: skip
            alert.save(by=by, reason=reason)
            created.append(alert)
    if created:
        logger.warning("%s laboratory alert(s) for %s", len(created), participant)
    return created


@transaction.atomic
def lab_alert_acknowledge(*, alert: LabAlert, by: Any, action_taken: str) -> LabAlert:
    require(by, "safety.acknowledge_labalert", alert.site)
    if not action_taken.strip():
        raise ValidationError({"action_taken": _("Say what was done about it.")})
    read_locked(alert)
    if alert.acknowledged_at is not None:
        if alert.acknowledged_by_id == by.pk and alert.action_taken == action_taken.strip():
            return alert  # acknowledged already (a second click on the same form): nothing to write
        raise ValidationError(
            _("This alert was acknowledged already by %(name)s.") % {"name": person(alert.acknowledged_by)}
        )
    alert.acknowledged_by = by
    alert.acknowledged_at = timezone.now()
    alert.action_taken = action_taken.strip()
    alert.save(by=by, reason=_("acknowledged: %(action)s") % {"action": action_taken.strip()})
    return alert
