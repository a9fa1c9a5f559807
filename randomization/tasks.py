"""E-mails of randomisation, sent by Celery after commit. Blinded staff never receive the arm."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone

from trial_site.models import StaffMembership
from trial_site.outbox import outbox_add, outbox_send_mail
from trial_site.protocol import PROTOCOL
from trial_site.roles import Role

logger = logging.getLogger(__name__)


def site_time(moment: datetime, site: Any) -> str:
    """A time as the site reads it: its own time zone, named."""
    return f"{timezone.localtime(moment, ZoneInfo(site.time_zone)):%Y-%m-%d %H:%M} ({site.time_zone})"


def emails_of(site_id: int, roles: Iterable[Role]) -> list[str]:
    users = StaffMembership.objects.filter(site_id=site_id, role__in=[role.value for role in roles], is_active=True)
    return sorted(
        set(
            get_user_model()
            .objects.filter(pk__in=users.values("user_id"), is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


@shared_task(name="randomization.tasks.email_randomisation")
def email_randomisation(allocation_id: int) -> int:
    """Tell the site's investigators who was randomised to what (they are not blinded)."""
    from randomization.models import Allocation

    allocation = Allocation.objects.select_related("participant", "site").get(pk=allocation_id)
    arm = PROTOCOL.arm(allocation.arm)
    recipients = emails_of(allocation.site_id, [Role.INVESTIGATOR])
    if not recipients:
        return 0
    when = site_time(allocation.randomised_at, allocation.site)
    body = (
        f"{allocation.participant.screening_number} was randomised on {when}.\n"
        f"Randomisation number: {allocation.randomisation_number}\n"
        f"Arm {arm.code}: {arm.drug} {arm.dose}, {arm.frequency}.\n"
        "Day 1 (first dose) is the day of randomisation.\n"
    )
    return outbox_send_mail(f"[{PROTOCOL.registration}] {allocation.randomisation_number} randomised", body, recipients)


@shared_task(name="randomization.tasks.alert_exhausted_list")
def alert_exhausted_list(site_id: int, stratum: str) -> int:
    """The list has no free slot for a stratum: the statistician and the administrators must act."""
    recipients = emails_of(site_id, [Role.STATISTICIAN, Role.ADMINISTRATOR])
    logger.error("allocation list exhausted for stratum %s", stratum)
    if not recipients:
        return 0
    return send_mail(
        f"[{PROTOCOL.registration}] allocation list exhausted: {stratum}",
        f"A randomisation was refused: the allocation list in use has no free slot for stratum {stratum}.\n"
        "Generate or import a new list and put it in use.\n",
        None,
        recipients,
    )


@shared_task(name="randomization.tasks.notify_unblinding")
def notify_unblinding(unblinding_id: int) -> int:
    """Tell the investigators and administrators of the site that a blinded user was unblinded (no arm)."""
    from randomization.models import Unblinding

    unblinding = Unblinding.objects.select_related("allocation__participant", "allocation__site", "requested_by").get(
        pk=unblinding_id
    )
    allocation = unblinding.allocation
    recipients = emails_of(allocation.site_id, [Role.INVESTIGATOR, Role.ADMINISTRATOR])
    if not recipients:
        return 0
    return outbox_send_mail(
        f"[{PROTOCOL.registration}] emergency unblinding of {allocation.randomisation_number}",
        f"{unblinding.requested_by.get_full_name() or unblinding.requested_by} was unblinded to "
        f"{allocation.participant.screening_number} ({allocation.randomisation_number}) on "
        f"{site_time(unblinding.unblinded_at, allocation.site)}.\nReason: {unblinding.reason}\n",
        recipients,
    )


def queue_randomisation_email(*, allocation_id: int) -> None:
    """A ``randomised`` follow-up: the investigators' e-mail, as an outbox row in the randomisation's transaction
    (delivered by the worker after commit, with retries; one per allocation)."""
    outbox_add("randomization.tasks.email_randomisation", allocation_id, key=f"randomised:{allocation_id}")
