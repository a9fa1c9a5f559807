"""E-mails of safety, sent by Celery after commit: SAE reports to the safety contacts, overdue reminders.

They carry the participant's screening number and nothing else that identifies the person (no initials,
name, phone or date of birth)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from randomization.tasks import emails_of
from trial_site.outbox import outbox_send_mail
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

logger = logging.getLogger(__name__)


def _site_time(moment: object, zone_name: str) -> str:
    return f"{timezone.localtime(moment, ZoneInfo(zone_name)):%Y-%m-%d %H:%M} ({zone_name})"


def _recipients(site_id: int) -> list[str]:
    return sorted(set(settings.SAFETY_CONTACTS) | set(emails_of(site_id, [Role.INVESTIGATOR])))


def sae_message(report: object) -> tuple[str, str]:
    """Subject and body of an SAE report e-mail: the participant number, never who the participant is."""
    event = report.adverse_event
    participant = event.participant
    zone = participant.site.time_zone
    criteria = ", ".join(str(criterion).replace("_", " ") for criterion in event.seriousness) or "none ticked"
    subject = f"[{PROTOCOL.registration}] SAE {report.get_kind_display().lower()}: {participant.screening_number}"
    body = (
        f"Participant: {participant.screening_number} (site {participant.site.code})\n"
        f"Event: {event.description}\n"
        f"CTCAE grade {event.grade} (v{event.ctcae_version}); onset {event.onset_date:%Y-%m-%d}\n"
        f"Seriousness: {criteria}\n"
        f"Relationship to study drug: {event.get_relationship_display()}; "
        f"expected: {'yes' if event.expected else 'no'}\n"
        f"The site learned of it: {_site_time(event.learned_at, zone)}\n"
        f"Report due by: {_site_time(report.deadline, zone)}\n"
    )
    if report.susar:
        body += f"SUSAR: report to the regulator by {_site_time(report.regulatory_deadline, zone)}\n"
    return subject, body


@shared_task(name="safety.tasks.email_sae_report")
def email_sae_report(report_id: int) -> int:
    from safety.models import SaeReport

    report = SaeReport.objects.select_related("adverse_event__participant__site").get(pk=report_id)
    recipients = _recipients(report.adverse_event.participant.site_id)
    if not recipients:
        logger.error("SAE report %s: no safety contact to e-mail", report_id)
        return 0
    subject, body = sae_message(report)
    return outbox_send_mail(subject, body, recipients)


@shared_task(name="safety.tasks.remind_overdue_sae_reports")
def remind_overdue_sae_reports() -> int:
    """Daily (beat): one reminder per SAE report past its deadline and not yet sent to the sponsor."""
    from safety.models import SaeReport

    overdue = SaeReport.objects.filter(submitted_at__isnull=True, deadline__lt=timezone.now()).select_related(
        "adverse_event__participant__site"
    )
    sent = 0
    for report in overdue:
        subject, body = sae_message(report)
        sent += send_mail(f"OVERDUE: {subject}", body, None, _recipients(report.adverse_event.participant.site_id))
    return sent
