"""Celery tasks of the visit reminders: the sweep (beat, every few minutes), one delivery task per reminder, and
the staff digest (beat, every morning)."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings

from clinical.reminders import retry_delay_seconds
from reminders import services
from reminders.digest import staff_digests_send

logger = logging.getLogger(__name__)
_jitter = random.Random()  # noqa: S311 (jitter, not a secret)


@shared_task(name="reminders.tasks.sweep")
def sweep() -> int:
    """Hand every due reminder to a delivery task (beat runs this every REMINDER_SWEEP_SECONDS)."""
    return len(services.reminders_sweep())


@shared_task(
    name="reminders.tasks.send_reminder",
    bind=True,
    acks_late=True,  # a worker that dies mid-send leaves the message on the broker for another worker
    reject_on_worker_lost=True,
    max_retries=None,  # counted against REMINDER_MAX_RETRIES below, so the setting can change at run time
)
def send_reminder(self: object, reminder_id: int) -> str:
    """Deliver one reminder; on a transient error retry with exponential backoff and jitter, then fail it."""
    try:
        return services.reminder_deliver(reminder_id=reminder_id).value
    except services.TransientDeliveryError as error:
        retries_done = self.request.retries  # type: ignore[attr-defined]
        if retries_done >= settings.REMINDER_MAX_RETRIES:
            services.reminder_fail(reminder_id=reminder_id, error=str(error))
            return services.DeliveryOutcome.FAILED.value
        countdown = retry_delay_seconds(retries_done, settings.REMINDER_RETRY_BASE_SECONDS, _jitter)
        logger.warning("reminder %s: %s; retry %s in %.0f s", reminder_id, error, retries_done + 1, countdown)
        raise self.retry(countdown=countdown, exc=error) from error  # type: ignore[attr-defined]


@shared_task(name="reminders.tasks.send_staff_digests")
def send_staff_digests() -> int:
    """Every morning: each site's coordinators get the week's visits, overdue visits, missing forms and open SAE
    reports."""
    return staff_digests_send()
