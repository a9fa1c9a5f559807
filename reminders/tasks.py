"""Celery tasks of the visit reminders: the sweep (beat, every few minutes), the delivery of a batch of reminders
(one message of the sweep), of one reminder (its retries), and the staff digest (beat, every morning)."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings

from clinical.reminders import retry_delay_seconds
from reminders import services
from reminders.digest import staff_digests_send

logger = logging.getLogger(__name__)
_jitter = random.Random()  # noqa: S311 (jitter, not a secret)


@shared_task(name="reminders.tasks.sweep")
def sweep() -> int:
    """Hand every due reminder to the workers, in batches, until nothing is due (beat runs this every
    REMINDER_SWEEP_SECONDS)."""
    return len(services.reminders_sweep())


@shared_task(
    name="reminders.tasks.send_reminders",
    acks_late=True,  # a worker that dies mid-batch leaves the message on the broker: the batch runs again
    reject_on_worker_lost=True,
)
def send_reminders(reminder_ids: list[int]) -> dict[str, int]:
    """Deliver the reminders of one message of the sweep, one after another, each as ``send_reminder`` delivers it
    (a reminder already sent is skipped: a batch run twice sends nothing twice). One that meets a transient error
    goes on alone: ``send_reminder`` retries it with backoff, counting this attempt as the first."""
    outcomes: Counter[str] = Counter()
    for reminder_id in reminder_ids:
        try:
            outcome = services.reminder_deliver(reminder_id=reminder_id).value
        except services.TransientDeliveryError as error:
            outcome = _retry_or_fail(reminder_id, error, retries_done=0, retry=_retry_alone(reminder_id))
        except Exception:  # the others still go; this one stays "sending" and the sweep hands it out again
            logger.exception("reminder %s: delivery failed unexpectedly", reminder_id)
            outcome = "error"
        outcomes[outcome] += 1
    return dict(outcomes)


def _retry_alone(reminder_id: int) -> Callable[[float], Any]:
    def retry(countdown: float) -> str:
        send_reminder.apply_async((reminder_id,), countdown=countdown, retries=1)
        return "retrying"

    return retry


def _retry_or_fail(reminder_id: int, error: Exception, *, retries_done: int, retry: Callable[[float], Any]) -> str:
    """After a transient error: fail the reminder once REMINDER_MAX_RETRIES retries are done, else retry it after
    an exponential backoff with jitter."""
    if retries_done >= settings.REMINDER_MAX_RETRIES:
        services.reminder_fail(reminder_id=reminder_id, error=str(error))
        return services.DeliveryOutcome.FAILED.value
    countdown = retry_delay_seconds(retries_done, settings.REMINDER_RETRY_BASE_SECONDS, _jitter)
    logger.warning("reminder %s: %s; retry %s in %.0f s", reminder_id, error, retries_done + 1, countdown)
    return retry(countdown)


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
        transient = error

    def retry(countdown: float) -> Any:
        raise self.retry(countdown=countdown, exc=transient) from transient  # type: ignore[attr-defined]

    retries_done = self.request.retries  # type: ignore[attr-defined]
    return _retry_or_fail(reminder_id, transient, retries_done=retries_done, retry=retry)


@shared_task(name="reminders.tasks.send_staff_digests")
def send_staff_digests() -> int:
    """Every morning: each site's coordinators get the week's visits, overdue visits, missing forms and open SAE
    reports."""
    return staff_digests_send()
