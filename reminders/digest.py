"""The staff digest: every morning each site's coordinators get what needs them this week, in one e-mail.

Visits due in the next seven days, visits overdue (window closed, nothing recorded), forms missing from visits
that took place or whose window closed, and SAE reports not yet sent with their deadlines. Participants appear
by screening number only; nothing names a person or an arm.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.mail import send_mail
from django.utils import timezone

from clinical.safety import sae_time_left
from randomization.tasks import emails_of
from reminders.messages import Message
from safety.models import SaeReport
from trial_site import registry
from trial_site.models import Site
from trial_site.roles import Role
from visits.models import Visit
from visits.selectors import missing_forms_among, open_among, overdue_among

logger = logging.getLogger(__name__)
DAYS_AHEAD = 7


def _hours(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} h left" if hours >= 0 else f"OVERDUE by {-hours} h"


def site_digest(site: Site, *, today: date, now: datetime) -> Message | None:
    """The digest of one site for ``today`` (its local date), or None when nothing needs the staff."""
    site_visits = Visit.objects.filter(site=site)
    due = list(
        open_among(site_visits)
        .filter(planned_date__gte=today, planned_date__lt=today + timedelta(days=DAYS_AHEAD))
        .order_by("planned_date", "participant__screening_number")
    )
    overdue = overdue_among(site_visits, today=today)
    missing = missing_forms_among(site_visits, today=today)
    reports = list(
        SaeReport.objects.filter(site=site, submitted_at__isnull=True)
        .select_related("adverse_event__participant")
        .order_by("deadline")
    )
    if not (due or overdue or missing or reports):
        return None
    zone = ZoneInfo(site.time_zone)
    lines = [f"Good morning. This is what needs the team at {site.name} ({site.code}) on {today:%a %d %b %Y}.", ""]
    lines.append(f"Visits due in the next {DAYS_AHEAD} days ({len(due)}):")
    lines += [f"  {v.planned_date:%a %d %b}  {v.participant.screening_number}  {v.code} {v.name}" for v in due] or [
        "  none"
    ]
    lines += ["", f"Overdue visits, window closed with nothing recorded ({len(overdue)}):"]
    lines += [f"  {v.participant.screening_number}  {v.code}  window closed {v.latest:%d %b %Y}" for v in overdue] or [
        "  none"
    ]
    lines += ["", f"Missing forms ({len(missing)}):"]
    labels = registry.visit_form_labels()
    lines += [
        f"  {row.visit.participant.screening_number}  {row.visit.code}  {labels.get(row.form, row.form)}"
        for row in missing
    ] or ["  none"]
    lines += ["", f"SAE reports not yet sent ({len(reports)}):"]
    lines += [
        f"  {r.adverse_event.participant.screening_number}  {r.get_kind_display()}  due "
        f"{timezone.localtime(r.deadline, zone):%d %b %H:%M}  ({_hours(sae_time_left(r.deadline, now))})"
        for r in reports
    ] or ["  none"]
    subject = (
        f"[{site.code}] Today: {len(due)} visits this week, {len(overdue)} overdue, "
        f"{len(missing)} missing forms, {len(reports)} open SAE reports"
    )
    return Message(subject, "\n".join(lines) + "\n")


def staff_digests_send(*, now: datetime | None = None) -> int:
    """Send each site's digest to its coordinators; the number of e-mails sent."""
    now = now or timezone.now()
    sent = 0
    for site in Site.objects.order_by("code"):
        recipients = emails_of(site.pk, [Role.COORDINATOR])
        if not recipients:
            logger.warning("staff digest of %s: no coordinator with an e-mail address", site.code)
            continue
        digest = site_digest(site, today=now.astimezone(ZoneInfo(site.time_zone)).date(), now=now)
        if digest is None:
            continue
        send_mail(digest.subject, digest.body, None, recipients)
        sent += 1
    return sent
